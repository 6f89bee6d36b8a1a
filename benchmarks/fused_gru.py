"""The fused CPU GRU kernel against the XLA GRU, and the best chunk width W for it.

    python -m benchmarks.fused_gru --quick    # ~10 min on 2 CPU cores shared with other jobs
    python -m benchmarks.fused_gru            # more rounds and widths

Four measurements, each interleaved A/B (every round runs every case once; medians over
rounds), written to ``benchmarks/results/fused-gru-<device>.json`` and shown in
``docs/benchmarks.md``:

1. One GRU layer (hidden 12, input 12, batch 64 x 16 steps) vmapped over 64 networks:
   forward alone, and forward + backward (``jax.vjp``), fused kernel vs XLA ``lax.scan``.
2. A DS1 SGD step (4 GRU layers + head, BCE loss, gradients per named tensor, Adam), several
   steps per call under ``lax.scan`` as in the trainer, for a block of 256 networks run as a
   sequential ``lax.map`` over chunks of W networks (each chunk ``vmap``-ed): the layout the
   trainer uses on a CPU. Network-steps/s per W, fused and XLA.
3. The bulk trainer (fused and XLA, chunks of 8) and the PyTorch peers (ensemble and one
   network at a time, 1 thread and all threads), each case in its own process
   (``benchmarks.throughput``'s cases), interleaved round by round.
4. Work per core: network-steps per CPU-second of the bulk trainer and the 1-thread
   PyTorch ensemble (robust to a shared machine's load).

Only ``mlds_jax.models`` is used (not the trainer), so this runs unchanged while the trainer
changes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks._workloads import GRU
from benchmarks.fused_gru_report import render
from benchmarks.harness import RESULTS, ROOT, machine, run_case, torch_available
from benchmarks.throughput import write_doc
from mlds_jax.models import apply_gru_batch, fused_gru_layer, gru_layer, gru_layout, init_gru
from mlds_jax.spec import GRUSpec


def _rounds(cases: dict, args: tuple, rounds: int) -> dict[str, float]:
    """Median seconds per call of each compiled case, the cases interleaved per round."""
    for f in cases.values():
        jax.block_until_ready(f(*args))
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(rounds):
        for k, f in cases.items():
            t0 = time.perf_counter()
            jax.block_until_ready(f(*args))
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def layer_rates(rounds: int) -> dict:
    """GFLOP/s of one layer over 64 networks, fused vs XLA, forward and forward+backward."""
    n, h, i = 64, GRU.hidden, GRU.hidden
    k = jax.random.split(jax.random.PRNGKey(0), 5)
    s = h**-0.5

    def u(key, shape):
        return jax.random.uniform(key, (n, *shape), jnp.float32, -s, s)

    args = (u(k[0], (3 * h, i)), u(k[1], (3 * h, h)), u(k[2], (3 * h,)), u(k[3], (3 * h,)),
            jax.random.normal(k[4], (n, GRU.time, GRU.batch, i), jnp.float32))

    def fwd_bwd(layer):
        def f(*a):
            y, vjp = jax.vjp(jax.vmap(layer), *a)
            return vjp(y)
        return jax.jit(f)

    cases = {"fused forward": jax.jit(jax.vmap(fused_gru_layer)),
             "xla forward": jax.jit(jax.vmap(gru_layer)),
             "fused forward+backward": fwd_bwd(fused_gru_layer),
             "xla forward+backward": fwd_bwd(gru_layer)}
    secs = _rounds(cases, args, rounds)
    flop = n * GRU.time * GRU.batch * 2 * 3 * h * (i + h)
    return {k: {"ms": v * 1e3, "gflops": (1 if k.endswith("forward") else 3) * flop / v / 1e9}
            for k, v in secs.items()}


def _step_fn(spec: GRUSpec, kernel: str, width: int, n: int, steps: int):
    """jit: (params [n, n_params], x [n, steps, batch, time, in], y) -> params after
    ``steps`` Adam steps, as ``lax.map`` over chunks of ``width`` networks."""
    layout = gru_layout(spec)
    opt = optax.adam(1e-3)

    def loss(p, xb, yb):
        logits = apply_gru_batch(p, xb, spec, kernel=kernel)
        return optax.sigmoid_binary_cross_entropy(logits, yb).mean()

    def train(flat, xs, ys):
        def body(carry, xy):
            p, st = carry
            g = layout.flatten(jax.grad(loss)(layout.unflatten(p), *xy))
            upd, st = opt.update(g, st, p)
            return (optax.apply_updates(p, upd), st), None

        (flat, _), _ = jax.lax.scan(body, (flat, opt.init(flat)), (xs, ys))
        return flat

    vtrain = jax.vmap(train)
    if width >= n:
        return jax.jit(vtrain)

    def run(flat, xs, ys):
        split = jax.tree_util.tree_map(lambda a: a.reshape(n // width, width, *a.shape[1:]),
                                       (flat, xs, ys))
        out = jax.lax.map(lambda c: vtrain(*c), split)
        return out.reshape(n, -1)

    return jax.jit(run)


def chunk_rates(widths: dict[str, list[int]], rounds: int, n: int = 256,
                steps: int = 4) -> dict:
    """Network-steps/s of a block of ``n`` DS1 networks per kernel and chunk width
    (``widths``: ``{"fused": [...], "xla": [...]}``)."""
    spec = GRUSpec(GRU.input, GRU.hidden, GRU.layers, GRU.head, GRU.output)
    params = jax.vmap(lambda k: init_gru(k, spec))(jax.random.split(jax.random.PRNGKey(0), n))
    shape = (n, steps, GRU.batch, GRU.time)
    x = jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (*shape, GRU.input)).astype(
        jnp.float32)
    y = jax.random.bernoulli(jax.random.PRNGKey(2), 0.5, (*shape, GRU.output)).astype(
        jnp.float32)
    cases, compile_s = {}, {}
    for kernel, ws in widths.items():
        for w in ws:
            t0 = time.perf_counter()
            cases[f"{kernel} W={w}"] = _step_fn(spec, kernel, w, n, steps).lower(
                params, x, y).compile()
            compile_s[f"{kernel} W={w}"] = time.perf_counter() - t0
    secs = _rounds(cases, (params, x, y), rounds)
    return {k: {"network_steps_per_s": n * steps / v, "compile_s": compile_s[k]}
            for k, v in secs.items()}


PEER_CASES = {
    "mlds-jax bulk, fused kernel, chunks of 8": {"kind": "gru_bulk", "gru_kernel": "fused",
                                                 "width": 8},
    "mlds-jax bulk, XLA GRU, chunks of 8": {"kind": "gru_bulk", "gru_kernel": "xla",
                                            "width": 8},
    "PyTorch ensemble, 1 thread": {"kind": "torch_ensemble", "threads": 1},
    "PyTorch ensemble, all threads": {"kind": "torch_ensemble"},
    "PyTorch, one network at a time, 1 thread": {"kind": "torch_single", "threads": 1},
    "PyTorch, one network at a time, all threads": {"kind": "torch_single"},
}


def peer_rounds(rounds: int, n: int = 64) -> dict:
    """The bulk trainer and the PyTorch peers on DS1, each case in its own process, the
    cases interleaved round by round (a shared machine's load then hits every case alike);
    median network-steps/s per case."""
    cases = {k: {**c, "workload": "gru", "n": n, "seconds": 3.0, "steps": 8, "epochs": 2,
                 "repeats": 3} for k, c in PEER_CASES.items()
             if c["kind"] == "gru_bulk" or torch_available()}
    rates: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(rounds):
        for k, c in cases.items():
            out = run_case(c)
            if "error" not in out:
                rates[k].append(out["network_steps"] / out["seconds"])
        print(f"round {r}:", {k: round(v[-1]) for k, v in rates.items() if v},
              file=sys.stderr, flush=True)
    return {k: {"network_steps_per_s": float(np.median(v)), "all": v}
            for k, v in rates.items() if v}


_CPU_CHILD = r'''
import json, os, sys, time
kind = sys.argv[1]
if kind.startswith("torch"):
    import torch
    torch.set_num_threads(1)
    import benchmarks._torch_cases as T
    res = {}
    def timed(step, seconds, min_steps=3):
        for _ in range(2):
            step()
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(4):
            step()
        res["cpu"], res["wall"] = time.process_time() - c0, time.perf_counter() - t0
        return 4, res["wall"]
    T._timed = timed
    T.torch_ensemble("gru", 64, 1.0)
    print(json.dumps({"net_steps": 4 * 64, **res}))
else:
    os.environ["MLDS_JAX_GRU_KERNEL"] = kind
    import jax, numpy as np
    from benchmarks import _jax_cases as jc
    from mlds_jax.train import make_block_trainer, network_inputs
    spec = jc._gru_spec(8, 2)
    inputs = network_inputs(spec, np.arange(64))
    tr = make_block_trainer(spec, width=8)
    jax.block_until_ready(tr(inputs))
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(3):
        jax.block_until_ready(tr(inputs))
    print(json.dumps({"net_steps": 3 * 64 * 16, "cpu": time.process_time() - c0,
                      "wall": time.perf_counter() - t0}))
'''


def cpu_efficiency(rounds: int) -> dict:
    """Network-steps per CPU-second (the process's user + system time, all its threads) of
    the bulk trainer (fused, XLA; chunks of 8, N = 64) and the 1-thread PyTorch ensemble,
    each in its own process, interleaved: a measure of work per core that a shared
    machine's load distorts far less than wall-clock rates."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out: dict[str, list[tuple[float, float]]] = {}
    for _ in range(rounds):
        for kind in ("fused", "xla", "torch"):
            if kind == "torch":
                if not torch_available():
                    continue
            p = subprocess.run([sys.executable, "-c", _CPU_CHILD, kind], capture_output=True,
                               text=True, env=env, cwd=ROOT, check=False)
            if p.returncode != 0:
                continue
            d = json.loads(p.stdout.strip().splitlines()[-1])
            out.setdefault(kind, []).append((d["net_steps"] / d["cpu"],
                                             d["net_steps"] / d["wall"]))
    return {k: {"per_cpu_s": float(np.median([a for a, _ in v])),
                "per_wall_s": float(np.median([b for _, b in v])), "rounds": len(v)}
            for k, v in out.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--part", choices=("all", "peers", "cpu"), default="all",
                    help="peers: only the interleaved bulk-vs-PyTorch rounds, merged into "
                         "the existing results file")
    args = ap.parse_args(argv)
    rounds = 3 if args.quick else 5
    if args.part != "all":
        m = machine()
        path = RESULTS / (re.sub(r"[^a-z0-9]+", "-", f"fused-gru-{m['backend']}-"
                                 f"{m['cores']}c".lower()) + ".json")
        res = json.loads(path.read_text())
        if args.part == "peers":
            res["peers"], res["peer_rounds"] = peer_rounds(rounds), rounds
        else:
            res["cpu_efficiency"] = cpu_efficiency(rounds)
        path.write_text(json.dumps(res, indent=1))
        print(render(res))
        write_doc()
        return 0
    widths = ({"fused": [8, 16, 32, 64], "xla": [8, 16]} if args.quick else
              {"fused": [8, 16, 32, 64, 128, 256], "xla": [8, 16, 32, 64]})
    res = {"machine": machine(), "rounds": rounds, "n": 256}
    print("one layer ...", file=sys.stderr, flush=True)
    res["layer"] = layer_rates(rounds)
    print(json.dumps(res["layer"], indent=1), file=sys.stderr, flush=True)
    print("chunk widths ...", file=sys.stderr, flush=True)
    res["chunks"] = chunk_rates(widths, rounds)
    print("bulk vs PyTorch peers ...", file=sys.stderr, flush=True)
    res["peers"], res["peer_rounds"] = peer_rounds(rounds), rounds
    print("work per core ...", file=sys.stderr, flush=True)
    res["cpu_efficiency"] = cpu_efficiency(rounds)
    RESULTS.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", f"fused-gru-{res['machine']['backend']}-"
                  f"{res['machine']['cores']}c".lower())
    (RESULTS / f"{slug}.json").write_text(json.dumps(res, indent=1))
    print(render(res))
    write_doc()
    return 0


if __name__ == "__main__":
    sys.exit(main())
