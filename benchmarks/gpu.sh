#!/usr/bin/env bash
# All benchmarks for an accelerator machine, in one go, results copied to $1 (default: .).
#   bash benchmarks/gpu.sh /tmp/out
# Runs without installing mlds-jax (PYTHONPATH=.); needs jax, optax, numpy, scikit-learn and,
# for the PyTorch rows, torch. Each part has its own time limit so one slow part cannot
# starve the others; results written so far survive a limit.
set -u
out=${1:-.}
mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > "$out/gpu.txt" 2>&1
timeout "${RECIPES_S:-240}" $py -m benchmarks.recipes ${RECIPES_ARGS:-} 2>&1 | tee "$out/recipes.log"
# The bulk GRU rows run with the default GRU path (xla) and with MLDS_JAX_GRU_KERNEL=pallas (the
# Pallas kernels, mlds_jax/models/_pallas_gru.py; `auto` does not pick them until measured).
timeout "${THROUGHPUT_S:-420}" $py -m benchmarks.throughput --quick --gru-kernels xla,pallas \
  2>&1 | tee "$out/throughput.log"
for f in benchmarks/results/*.json; do
  case $f in *cpu-cpu*) ;; *) cp "$f" "$out/" ;; esac
done
