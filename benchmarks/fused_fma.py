"""The fused CPU GRU kernel's builds, interleaved A/B: ``fused`` (every multiply-add
rounded twice, the default) against ``fused_fma`` (one explicit fused multiply-add per lane)
and ``fused_fma:recompute`` (``fused_fma`` built with ``-DMLDS_GRU_RECOMPUTE=1``: it saves only
h and its backward recomputes the gates; the same floats).

    python -m benchmarks.fused_fma --rounds 5          # ~10 min on 2 shared cores

Two measurements, medians over rounds (every round runs every case once, so a shared
machine's load hits both alike), wall-clock and per CPU-second:

1. One GRU layer (hidden 12, DS1's inputs 5 and 12, batch 64 x 16 steps) vmapped over 64
   networks, forward and forward + backward, every build in one process.
2. The bulk trainer (``benchmarks._jax_cases.gru_bulk``, DS1's network, one CPU device per
   core as ``generate`` runs), each case in its own process, on ``$MLDS_JAX_GRU_KERNEL`` =
   the case's build.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("fused", "fused_fma", "fused_fma:recompute")
RECOMPUTE = ("-DMLDS_GRU_FMA=1", "-DMLDS_GRU_RECOMPUTE=1")


def _recompute_layer():
    """``fused_fma`` built to recompute the gates (its own library and FFI targets)."""
    import mlds_jax.models  # noqa: F401 - loads the modules used below

    sys.modules["mlds_jax.models._fused_gru_build"].VARIANTS["fused_fma_recompute"] = RECOMPUTE
    return sys.modules["mlds_jax.models._fused_gru"]._make_layer("fused_fma_recompute")


def layer_rounds(rounds: int) -> dict:
    """Median seconds (wall and CPU) per call of each build's layer, forward and
    forward + backward, cases interleaved per round."""
    import jax
    import jax.numpy as jnp

    from mlds_jax.models import fused_fma_gru_layer, fused_gru_layer

    layers = {"fused": fused_gru_layer, "fused_fma": fused_fma_gru_layer,
              "fused_fma:recompute": _recompute_layer()}
    n, h, t, b = 64, 12, 16, 64
    s = h**-0.5

    def u(key, shape):
        return jax.random.uniform(key, (n, *shape), jnp.float32, -s, s)

    def fwd_bwd(layer):
        def g(*a):
            y, vjp = jax.vjp(jax.vmap(layer), *a)
            return y, vjp(y)
        return jax.jit(g)

    out = {}
    for inp in (5, 12):
        k = jax.random.split(jax.random.PRNGKey(0), 5)
        args = (u(k[0], (3 * h, inp)), u(k[1], (3 * h, h)), u(k[2], (3 * h,)),
                u(k[3], (3 * h,)), jax.random.normal(k[4], (n, t, b, inp), jnp.float32))
        cases = {}
        for v in VARIANTS:
            cases[f"{v} forward, in {inp}"] = jax.jit(jax.vmap(layers[v]))
            cases[f"{v} forward+backward, in {inp}"] = fwd_bwd(layers[v])
        for f in cases.values():
            jax.block_until_ready(f(*args))
        wall: dict[str, list[float]] = {c: [] for c in cases}
        cpu: dict[str, list[float]] = {c: [] for c in cases}
        for _ in range(rounds):
            for c, f in cases.items():
                w0, c0 = time.perf_counter(), time.process_time()
                for _ in range(5):
                    jax.block_until_ready(f(*args))
                wall[c].append((time.perf_counter() - w0) / 5)
                cpu[c].append((time.process_time() - c0) / 5)
        for c in cases:
            out[c] = {"wall_ms": 1e3 * float(np.median(wall[c])),
                      "cpu_ms": 1e3 * float(np.median(cpu[c]))}
    return out


def _child(case: str, n: int, steps: int, epochs: int, repeats: int) -> dict:
    """One bulk case: ``variant`` or ``variant@path.cc`` (that kernel source instead of the
    package's, e.g. an older commit's with the same FFI signatures, for an A/B across kernel
    versions); ``fused_fma:recompute``: ``fused_fma`` built to recompute the gates."""
    case, _, source = case.partition("@")
    variant, _, how = case.partition(":")
    os.environ["MLDS_JAX_GRU_KERNEL"] = variant
    import mlds_jax.models  # noqa: F401 - loads the build module patched below

    build = sys.modules["mlds_jax.models._fused_gru_build"]
    if source:  # the kernel source the door's build module compiles (its own cache key)
        build.SOURCE = Path(source).resolve()
    if how == "recompute":
        build.VARIANTS["fused_fma"] = RECOMPUTE
    from mlds_jax.coord import set_cpu_devices

    set_cpu_devices(None)
    from benchmarks._jax_cases import gru_bulk

    return gru_bulk(n, steps, epochs, repeats)


def bulk_rounds(rounds: int, n: int, steps: int, epochs: int, repeats: int,
                cases: tuple[str, ...] = VARIANTS) -> dict:
    """Median network-steps/s (wall and per CPU-second) of the bulk trainer per case."""
    rates: dict[str, dict[str, list[float]]] = {v: {"wall": [], "cpu": []} for v in cases}
    for _ in range(rounds):
        for v in cases:
            p = subprocess.run([sys.executable, "-m", "benchmarks.fused_fma", "--child", v,
                                "--n", str(n), "--steps", str(steps), "--epochs", str(epochs),
                                "--repeats", str(repeats)],
                               capture_output=True, text=True, cwd=ROOT, check=False,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
            if p.returncode:
                raise RuntimeError(p.stderr[-2000:])
            r = json.loads(p.stdout.strip().splitlines()[-1])
            rates[v]["wall"].append(r["network_steps"] / r["seconds"])
            rates[v]["cpu"].append(r["network_steps"] / r["cpu_seconds"])
    return {v: {k: float(np.median(x)) for k, x in r.items()} | {"runs": r}
            for v, r in rates.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=64, help="networks in the bulk block")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-layer", action="store_true")
    ap.add_argument("--cases", nargs="+", default=list(VARIANTS),
                    help="bulk cases: fused, fused_fma, fused_fma:recompute, or VARIANT@SOURCE.cc "
                         "(another source)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(_child(a.child, a.n, a.steps, a.epochs, a.repeats)))
        return
    res: dict = {"rounds": a.rounds}
    if not a.skip_layer:
        res["layer"] = layer_rounds(a.rounds)
        for c, r in res["layer"].items():
            print(f"{c:32s} {r['wall_ms']:8.2f} ms wall {r['cpu_ms']:8.2f} ms CPU", flush=True)
    res["bulk"] = bulk_rounds(a.rounds, a.n, a.steps, a.epochs, a.repeats, tuple(a.cases))
    for v, r in res["bulk"].items():
        print(f"bulk {v:10s} {r['wall']:8.1f} network-steps/s {r['cpu']:8.1f} per CPU-s "
              f"(runs {r['runs']})", flush=True)
    base = res["bulk"][a.cases[0]]
    for v, r in res["bulk"].items():
        print(f"{v} / {a.cases[0]}: {r['wall'] / base['wall']:.3f} wall, "
              f"{r['cpu'] / base['cpu']:.3f} per CPU-s")
    if a.out:
        a.out.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
