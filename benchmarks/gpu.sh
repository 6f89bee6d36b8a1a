#!/usr/bin/env bash
# Every accelerator benchmark in one call, under 8 minutes on an H100; JSON and logs in $1.
#   bash benchmarks/gpu.sh /tmp/out                  # on the GPU machine
#   GPU_SH_SMOKE=1 bash benchmarks/gpu.sh /tmp/out   # tiny sizes: checks the script on a CPU
# Runs from the repository root without installing mlds-jax (PYTHONPATH=.): needs jax, optax,
# numpy and, for the PyTorch rows, torch, which the GPU image has. It lacks zarr (and
# numcodecs, donfig, google-crc32c), which no part here needs (the trainers do not write
# stores); to carry them anyway, put their cp312 manylinux wheels in .whl/ (see
# docs/scaling.md) and they are installed to /tmp/mlds-site first.
# Parts, each under its own time limit (cut to what is left of GPU_SH_BUDGET_S, 470 s; 3600
# for a smoke run), so a slow part cannot starve the rest and whatever a part wrote survives
# its limit; GPU_SH_PARTS="sweep recipes-ds1" runs only those:
#   recipes-ds4  benchmarks.recipes: ds4("MNISTclean", 4096), all 20 epochs, one timed run
#   throughput   benchmarks.throughput --quick --workloads gru: the PyTorch peers (one at a
#                time, vmap ensemble, hand-batched ensemble, torch.compile) and the bulk
#                trainer on the XLA and Pallas GRU kernels at N = 1k-16k (what ran before a
#                limit: OUT/throughput.partial.json)
#   sweep        benchmarks.gpu_sweep: chunk widths 1k-16k, XLA vs Pallas, scan unroll,
#                XLA command buffers off / with while loops, the per-iteration scan probe
#   recipes-ds1  benchmarks.recipes: ds1(800) (4,000 GRUs, one chunk of the default 4,096)
#                at the default recipe, every network to its own stop, restarts included;
#                progress lines in its log show the pace if the limit cuts it
set -u
out=${1:-gpu-out}
mkdir -p "$out"
smoke=${GPU_SH_SMOKE:-0}
if [ "$smoke" = 1 ]; then budget=${GPU_SH_BUDGET_S:-3600}; else budget=${GPU_SH_BUDGET_S:-470}; fi
parts=${GPU_SH_PARTS:-recipes-ds4 throughput sweep recipes-ds1}  # a rerun may name fewer
start=$SECONDS
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
if compgen -G ".whl/*.whl" > /dev/null; then
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/mlds-site .whl/*.whl && export PYTHONPATH=$PYTHONPATH:/tmp/mlds-site
fi
: > "$out/parts.txt"

# part NAME LIMIT_S CMD...: CMD under min(LIMIT_S, what is left of the budget), output in
# $out/NAME.log, its exit status and time in $out/parts.txt (124: cut by its limit)
part() {
  local name=$1 limit=$2 left t0 rc
  shift 2
  case " $parts " in *" $name "*) ;; *) return ;; esac
  left=$((budget - (SECONDS - start)))
  ((limit > left)) && limit=$left
  if ((limit < 10)); then
    echo "$name: skipped, budget spent" >> "$out/parts.txt"
    return
  fi
  t0=$SECONDS
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  rc=$?
  echo "$name: exit $rc after $((SECONDS - t0)) s (limit $limit s)" >> "$out/parts.txt"
}

{
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>&1 || true
  $py -c "import sys, jax; print(sys.version); print('jax', jax.__version__, jax.devices())"
  $py -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
  $py -c "import zarr; print('zarr', zarr.__version__)" 2>&1 | tail -1
} > "$out/env.txt" 2>&1

if [ "$smoke" = 1 ]; then
  part recipes-ds4 300 $py -m benchmarks.recipes --ds1-per-class 0 --ds4-n 2 --ds4-images 256 \
    --ds4-epochs 1 --out "$out/recipes-ds4.json"
  part throughput 600 $py -m benchmarks.throughput --smoke --workloads gru \
    --gru-kernels xla,pallas --out "$out/throughput.json"
  part sweep 900 $py -m benchmarks.gpu_sweep --smoke --limit-s 400 --out "$out/gpu-sweep.json"
  part recipes-ds1 300 $py -m benchmarks.recipes --ds1-per-class 1 --ds1-max-epochs 2 --ds4-n 0 \
    --out "$out/recipes-ds1.json"
else
  part recipes-ds4 "${RECIPES_DS4_S:-70}" $py -m benchmarks.recipes --ds1-per-class 0 \
    --ds4-n 4096 --out "$out/recipes-ds4.json"
  part throughput "${THROUGHPUT_S:-150}" $py -m benchmarks.throughput --quick --workloads gru \
    --gru-kernels xla,pallas --out "$out/throughput.json"
  part sweep "${SWEEP_S:-130}" $py -m benchmarks.gpu_sweep --limit-s 60 --out "$out/gpu-sweep.json"
  part recipes-ds1 "${RECIPES_DS1_S:-400}" $py -m benchmarks.recipes --ds1-per-class 800 \
    --ds4-n 0 --out "$out/recipes-ds1.json"
fi
echo "total: $((SECONDS - start)) s" >> "$out/parts.txt"
cat "$out/parts.txt"
