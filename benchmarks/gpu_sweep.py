"""The DS1 GRU bulk trainer on an accelerator, swept over what XLA:GPU's loops cost.

    python -m benchmarks.gpu_sweep --out sweep.json            # ~3 min on an H100
    python -m benchmarks.gpu_sweep --out sweep.json --smoke    # tiny sizes: checks it runs

Each configuration runs in its own process (XLA reads its flags once, when JAX starts), with
its own time limit, and the JSON is rewritten after each one, so a limit keeps what ran:

* chunk widths 1,024-16,384 on the XLA GRU (one chunk of ``width`` networks per call:
  a block runs its chunks one after another on one device, so this is the block's rate);
* the Pallas GRU kernels (``MLDS_JAX_GRU_KERNEL=pallas``) at two widths;
* ``lax.scan`` unrolled 4 and 16 times (every scan of the program that sets no unroll of
  its own: the GRU time loops and the SGD step loop);
* XLA command buffers off, and with ``WHILE`` / ``CONDITIONAL`` captured (and their loops
  unrolled into the graph), against XLA's default set;
* per flag setting, a probe of XLA:GPU's per-iteration cost: a ``lax.scan`` of 100,000
  trivial steps (JAX issue 2491's case; 0.8 s on a GPU against 0.7 ms on a CPU there).

Rates are network-steps/s of whole calls of the real block trainer (``make_block_trainer``,
data, validation and init included, as in ``benchmarks.throughput``), median of the repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHILE_FLAGS = ("--xla_gpu_enable_command_buffer=+WHILE,+CONDITIONAL "
               "--xla_gpu_command_buffer_unroll_loops=true")

CONFIGS: list[dict] = [
    {"name": "xla", "widths": [1024, 2048, 4096, 8192, 16384]},
    {"name": "pallas", "kernel": "pallas", "widths": [4096, 16384]},
    {"name": "command buffers off", "xla_flags": "--xla_gpu_enable_command_buffer=",
     "widths": [4096], "probe": True},
    {"name": "command buffers + while loops", "xla_flags": WHILE_FLAGS, "widths": [4096],
     "probe": True},
    {"name": "scan unroll 4", "unroll": 4, "widths": [4096]},
    {"name": "scan unroll 16", "unroll": 16, "widths": [4096]},
]
"""What :func:`main` runs, in this order (the default flags' probe runs with ``xla``)."""


def smoke_configs(configs: list[dict]) -> list[dict]:
    """``configs`` at a tiny size (one chunk of 2 networks, a 1,000-step probe)."""
    return [{**c, "widths": [2]} for c in configs]


def _patch_scan(unroll: int) -> None:
    """Every ``jax.lax.scan`` that names no ``unroll`` unrolls ``unroll`` steps."""
    import jax

    scan = jax.lax.scan

    def unrolled(*args, **kwargs):
        kwargs.setdefault("unroll", unroll)
        return scan(*args, **kwargs)

    jax.lax.scan = unrolled


def scan_probe(iters: int) -> float:
    """Seconds of one ``lax.scan`` of ``iters`` trivial steps (compiled, warm)."""
    import jax
    import jax.numpy as jnp

    f = jax.jit(lambda x: jax.lax.scan(lambda c, _: (c + 1.0, None), x, None, length=iters)[0])
    jax.block_until_ready(f(jnp.float32(0)))
    t0 = time.perf_counter()
    jax.block_until_ready(f(jnp.float32(0)))
    return time.perf_counter() - t0


def _child(cfg: dict, smoke: bool) -> dict:
    if cfg.get("kernel"):
        os.environ["MLDS_JAX_GRU_KERNEL"] = cfg["kernel"]
    if cfg.get("unroll"):
        _patch_scan(cfg["unroll"])
    import jax

    from benchmarks._jax_cases import gru_bulk

    out: dict = {"backend": jax.default_backend(), "device": jax.devices()[0].device_kind,
                 "rows": []}
    if cfg.get("probe") or cfg["name"] == "xla":
        iters = 1000 if smoke else 100_000
        out["scan_probe"] = {"iterations": iters, "seconds": scan_probe(iters)}
    for w in cfg["widths"]:
        r = gru_bulk(w, 2 if smoke else 16, 1, 1 if smoke else 3, width=w)
        out["rows"].append({"width": w, "steps_per_s": r["network_steps"] / r["seconds"],
                            "seconds": r["seconds"], "compile_s": r["compile_s"]})
        print(json.dumps(out["rows"][-1]), file=sys.stderr, flush=True)
    return out


def run_config(cfg: dict, smoke: bool, limit_s: float) -> dict:
    """One configuration in its own process (its XLA flags prepended to ``$XLA_FLAGS``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if cfg.get("xla_flags"):
        env["XLA_FLAGS"] = f"{cfg['xla_flags']} {env.get('XLA_FLAGS', '')}".strip()
    cmd = [sys.executable, "-m", "benchmarks.gpu_sweep", "--config", json.dumps(cfg)]
    if smoke:
        cmd.append("--smoke")
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                           timeout=limit_s)
    except subprocess.TimeoutExpired:
        return {**cfg, "error": f"over its {limit_s:.0f} s limit"}
    if p.returncode != 0:
        return {**cfg, "error": f"exit {p.returncode}"}
    return {**cfg, **json.loads(p.stdout.strip().splitlines()[-1]),
            "wall_s": time.perf_counter() - t0}


def render(results: list[dict]) -> str:
    """Markdown table of a sweep: one row per (configuration, width)."""
    lines = ["| configuration | XLA flags | width | network-steps/s | compile s |",
             "|---|---|---|---|---|"]
    for c in results:
        flags = f"`{c['xla_flags']}`" if c.get("xla_flags") else "default"
        if "error" in c:
            lines.append(f"| {c['name']} | {flags} | – | error: {c['error']} | |")
            continue
        for r in c["rows"]:
            lines.append(f"| {c['name']} | {flags} | {r['width']:,} | "
                         f"{r['steps_per_s']:,.0f} | {r['compile_s']:.1f} |")
    probes = [f"{c['name']}: {1e6 * c['scan_probe']['seconds'] / c['scan_probe']['iterations']:.2f}"
              f" µs" for c in results if "scan_probe" in c]
    if probes:
        lines += ["", "Per-iteration cost of a trivial `lax.scan` (issue 2491's probe): "
                  + "; ".join(probes) + "."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("gpu-sweep.json"))
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (runs on a CPU)")
    ap.add_argument("--limit-s", type=float, default=150.0,
                    help="time limit of each configuration's process")
    ap.add_argument("--config", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.config:
        print(json.dumps(_child(json.loads(args.config), args.smoke)))
        return 0
    configs = smoke_configs(CONFIGS) if args.smoke else CONFIGS
    results: list[dict] = []
    for cfg in configs:
        print(f"sweep: {cfg['name']} {cfg['widths']}", file=sys.stderr, flush=True)
        results.append(run_config(cfg, args.smoke, args.limit_s))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"smoke": args.smoke, "configs": results}, indent=1))
    print(render(results))
    return 0 if any("error" not in c for c in results) else 1


if __name__ == "__main__":
    sys.exit(main())
