"""Throughput of bulk training vs PyTorch baselines: network-steps per second.

    python -m benchmarks.throughput --quick      # one block size, the strongest variants
    python -m benchmarks.throughput              # more block sizes and variants, 3 rounds

Runs every case in its own subprocess (so peak RSS is per case and nothing leaks between
cases), measures a matmul peak in the same run, writes ``benchmarks/results/<device>.json``
and regenerates ``docs/benchmarks.md`` from every results file present. The same command
runs on a GPU (JAX and torch then use it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from benchmarks.fused_gru_report import render as render_fused
from benchmarks.harness import RESULTS, ROOT, machine, run_case, run_processes, torch_available

DOC = ROOT / "docs" / "benchmarks.md"


def plan(quick: bool, accelerator: bool = False,
         gru_kernels: tuple[str, ...] = ("xla",)) -> dict[str, list[dict]]:
    """The cases to run. On an accelerator the blocks are larger (a GPU needs thousands of
    networks to fill), the one-process-per-core PyTorch case is left out (it is the CPU
    volunteers' method; many processes on one GPU measure context switching) and the bulk
    GRU rows run once per kernel of ``gru_kernels`` (``xla``, ``pallas``); a CPU run always
    measures ``xla`` and ``fused``. ``quick`` keeps one block size and each peer's
    strongest CPU variants; the full plan adds block sizes, chunk widths and the remaining
    variants."""
    secs = 2.0 if quick else 10.0
    reps = 3 if quick else 5
    if accelerator:
        bulk_n = [1024, 4096, 16384] if quick else [256, 1024, 4096, 16384]
        func_n = [256, 1024, 4096] if quick else [64, 256, 1024, 4096]
    else:
        bulk_n = [64] if quick else [64, 256, 1024, 4096]
        func_n = [64] if quick else [16, 64, 256, 1024]
    func_grad_n = func_n[:1] if quick else func_n  # vmap(grad): the slow labelled row
    cases: dict[str, list[dict]] = {"gru": [], "mlp": [], "ds4": []}
    for w in ("gru", "mlp", "ds4"):
        if torch_available():
            # a quick CPU run's dense tables keep the strongest variants only
            every = accelerator or not quick or w == "gru"
            cases[w].append({"kind": "torch_single", "workload": w, "seconds": secs})
            if not accelerator:
                cases[w].append({"kind": "torch_procs", "workload": w, "seconds": secs})
            if every:
                cases[w] += [{"kind": "torch_func", "workload": w, "n": n, "seconds": secs}
                             for n in (func_n if accelerator else func_grad_n)]
            # both ensembles: torch.func's vmap(functional_call) and the hand-batched one
            # (stacked weights, baddbmm), at every N, and compiled at the smallest
            for kind in ("torch_ensemble", "torch_batched"):
                cases[w] += [{"kind": kind, "workload": w, "n": n, "seconds": secs}
                             for n in func_n]
                if not quick or accelerator or kind == "torch_ensemble" and every:
                    cases[w] += [{"kind": kind, "workload": w, "n": n, "seconds": secs,
                                  "compile": True} for n in func_n[:1]]
                if accelerator:
                    continue
                if every and kind == "torch_ensemble":  # OpenMP threads collapse when the
                    # cores are shared
                    cases[w].append({"kind": kind, "workload": w, "n": func_n[0],
                                     "seconds": secs, "threads": 1})
                # the CPU ensemble as the bulk trainer runs: one 1-thread process per core,
                # each with its share of the networks (plain and compiled; a quick run
                # compiles the hand-batched one only, the faster of the two compiled)
                compiled = every and (not quick or kind == "torch_batched")
                cases[w] += [{"kind": kind, "workload": w, "n": func_n[0], "seconds": secs,
                              "procs": True, "compile": c}
                             for c in ((False, True) if compiled else (False,))]
    cases["gru"].append({"kind": "gru_single", "steps": 8, "epochs": 4 if quick else 16,
                         "repeats": reps})
    for n in bulk_n if accelerator else bulk_n[:2]:  # CPU: blocks are chunked anyway
        # epochs of the DS1 recipe's 1,024 training sequences (16 steps of 64), so the work
        # done once per epoch (validation, which the PyTorch peers do not do at all) and per
        # call (each network's data generation and init) is spread as in a real run, not
        # over 2-8 steps
        steps = 16
        # (kernel, chunk width, CPU devices): the default width (on a CPU's fused kernel 16,
        # two tiles of 8); in the full plan at N = 64 also the fused kernel at one tile and
        # at four, and the default on one CPU device (before one device per core)
        variants = [(k, None, None) for k in gru_kernels] if accelerator else [
            ("xla", None, None), ("fused", None, None), ("fused", 8, None),
            ("fused", 32, None), ("fused", None, 1)][:5 if n == 64 and not quick else 2]
        for kernel, width, devices in variants:
            if width is None or width <= n:
                cases["gru"].append({"kind": "gru_bulk", "n": n, "steps": steps, "epochs": 2,
                                     "repeats": reps, "gru_kernel": kernel, "width": width,
                                     **({"cpu_devices": devices} if devices else {})})
    cases["mlp"].append({"kind": "mlp_bulk", "n": 1, "steps": 256, "repeats": reps,
                         "label": "jax_single", "width": 1})
    for n in bulk_n:
        # 64-256 steps per call: a real DS4 call runs whole epochs (468 steps each on MNIST),
        # so the per-call work (init, the poison draw, the test evaluation, the copy back to
        # the host) must not be spread over a handful of steps (it was 16 at N >= 256)
        cases["mlp"].append({"kind": "mlp_bulk", "n": n,
                             "steps": min(256, max(64, 65536 // n)), "repeats": reps})
    if not accelerator and not quick:  # one CPU device for both cores, as before
        cases["mlp"].append({**cases["mlp"][-len(bulk_n)], "cpu_devices": 1})
    # DS4's recipe network (5.3x the FLOPs of 784-32-10): fewer steps per call, and on a CPU
    # the two smaller blocks only (a CPU runs blocks in chunks of 8 networks anyway)
    for n in bulk_n if accelerator else bulk_n[:2]:
        cases["ds4"].append({"kind": "mlp_bulk", "workload": "ds4", "n": n,
                             "steps": min(256, max(64, 16384 // n)), "repeats": reps})
    if not accelerator and not quick:
        cases["ds4"].append({**cases["ds4"][-2], "cpu_devices": 1})
    return cases


def smoke_plan(cases: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The first case of each kind (and compile setting) of ``cases``, shrunk to a few
    networks and steps: checks that every path of a plan runs (``--smoke``), times nothing
    worth reporting."""
    out: dict[str, list[dict]] = {}
    for w, cs in cases.items():
        seen, keep = set(), []
        for c in cs:
            key = (c["kind"], bool(c.get("procs")), c.get("gru_kernel"), c.get("label"))
            if c.get("compile"):  # one torch.compile case is enough to check that path
                key = ("compile",)
            if key in seen:
                continue
            seen.add(key)
            small = {**c, "seconds": 0.2}
            for k, v in (("n", 4), ("steps", 2), ("epochs", 1), ("repeats", 1)):
                if k in c:
                    small[k] = min(c[k], v)
            if c.get("width"):
                small["width"] = min(c["width"], small.get("n", 4))
            keep.append(small)
        out[w] = keep
    return out


def median_of_rounds(rounds: list[dict]) -> dict:
    """One case run in several interleaved rounds -> the round with the median rate, with
    every round's rate in ``round_rates`` (a failed round counts only if all failed)."""
    ok = [r for r in rounds if "error" not in r]
    if not ok:
        return rounds[0]
    ok.sort(key=lambda r: r["network_steps"] / r["seconds"])
    return {**ok[(len(ok) - 1) // 2],
            "round_rates": [r["network_steps"] / r["seconds"] if "error" not in r else None
                            for r in rounds]}


UNRECORDED_WIDTHS = {"mlp": (784, 32, 10), "ds4": (784, 128, 128, 128, 10)}
"""What the dense tables measured before results files recorded ``widths`` (2026-11-28):
each table had only ever measured these (``benchmarks/_workloads.py``'s history)."""

PEERS = ("torch_single", "torch_procs", "torch_func", "torch_ensemble", "torch_batched")
LABELS = {
    "torch_single": "PyTorch, one network at a time",
    "torch_procs": "PyTorch, one 1-thread process per core",
    "torch_func": "torch.func vmap(grad) + hand Adam",
    "torch_ensemble": "PyTorch ensemble: vmap(functional_call), one backward, one Adam",
    "torch_batched": "PyTorch hand-batched ensemble: stacked weights, baddbmm, one backward, "
                     "one Adam",
    "gru_single": "JAX jit, one network at a time",
    "gru_bulk": "mlds-jax bulk trainer",
    "mlp_bulk": "mlds-jax bulk trainer",
}


def _label(r: dict) -> str:
    if r.get("label") == "jax_single":
        return "JAX jit, one network at a time"
    if r.get("shared_order"):
        return "mlds-jax bulk, shared batch order (reference)"
    if r["kind"] in ("torch_ensemble", "torch_batched"):
        where = (f", one 1-thread process per core ({r['processes']})" if r.get("processes")
                 else f", {r['threads']} thread" if r.get("threads") else "")
        return LABELS[r["kind"]] + (", torch.compile" if r.get("compile") else "") + where
    devices = (f", {r['cpu_devices']} CPU device{'s' if r['cpu_devices'] > 1 else ''}"
               if r.get("cpu_devices") else "")
    if r["kind"] == "gru_bulk" and "gru_kernel" in r:
        kernel = {"fused": ", fused CPU GRU kernel", "pallas": ", Pallas GRU kernel"}
        return LABELS["gru_bulk"] + kernel.get(r["gru_kernel"], ", XLA GRU") + (
            f", chunks of {r['width']}" if r.get("width") else "") + devices
    return LABELS[r["kind"]] + devices


def summarise(results: dict) -> dict:
    from benchmarks._workloads import DENSE, GRU

    # a results file keeps the FLOPs of the networks it measured (today's widths otherwise)
    flops = {"gru": GRU.flops_per_step(), **{w: d.flops_per_step() for w, d in DENSE.items()},
             **results.get("flops_per_step", {})}
    peak = results["peak_gflops"]
    for w, rows in results["cases"].items():
        for r in rows:
            if "error" in r:
                continue
            r["steps_per_s"] = r["network_steps"] / r["seconds"]
            if r.get("cpu_seconds"):
                r["steps_per_cpu_s"] = r["network_steps"] / r["cpu_seconds"]
            r["gflops"] = r["steps_per_s"] * flops[w] / 1e9
            r["pct_peak"] = 100 * r["gflops"] / peak
        results.setdefault("flops_per_step", {})[w] = flops[w]
    ratios = {}
    for w, rows in results["cases"].items():
        ok = [r for r in rows if "error" not in r]

        def best(kind, rows=ok, **match):
            c = [r["steps_per_s"] for r in rows if r["kind"] == kind and not r.get("label")
                 and all(r.get(k) == v for k, v in match.items())]
            return max(c) if c else None

        bulk = best("gru_bulk" if w == "gru" else "mlp_bulk", shared_order=None)
        peers = [r for r in ok if r["kind"] in PEERS]
        top = max(peers, key=lambda r: r["steps_per_s"]) if peers else None
        if bulk and top:
            results.setdefault("best_peer", {})[w] = {
                "label": _label(top), "n_models": top["n_models"],
                "steps_per_s": top["steps_per_s"]}
            ratios.setdefault(w, {})["vs_best_peer"] = bulk / top["steps_per_s"]
        for name, ref in (("vs_torch_single", best("torch_single")),
                          ("vs_torch_procs", best("torch_procs"))):
            if bulk and ref:
                ratios.setdefault(w, {})[name] = bulk / ref
        # the same per CPU-second of the process(es), where recorded: what a quiet machine
        # gives per busy core, little changed by other jobs sharing the cores
        cpu = [r for r in ok if r.get("steps_per_cpu_s")]
        bulk_cpu = max((r["steps_per_cpu_s"] for r in cpu if r["kind"] in (
            "gru_bulk", "mlp_bulk") and not r.get("label") and not r.get("shared_order")),
            default=None)
        peers_cpu = [r for r in cpu if r["kind"] in PEERS]
        if bulk_cpu and peers_cpu:
            top_cpu = max(peers_cpu, key=lambda r: r["steps_per_cpu_s"])
            results.setdefault("best_peer_per_cpu_s", {})[w] = {
                "label": _label(top_cpu), "n_models": top_cpu["n_models"],
                "steps_per_cpu_s": top_cpu["steps_per_cpu_s"]}
            ratios.setdefault(w, {})["vs_best_peer_per_cpu_s"] = (
                bulk_cpu / top_cpu["steps_per_cpu_s"])
        if bulk:
            ratios.setdefault(w, {})["bulk_best_pct_peak"] = (
                100 * bulk * flops[w] / 1e9 / peak)
    results["ratios"] = ratios
    return results


def _ratio_line(res: dict, w: str) -> str:
    """Names the best PyTorch peer of the run and the best bulk row's ratio to it."""
    rat = res["ratios"].get(w, {})
    top = res.get("best_peer", {}).get(w)
    parts = []
    if top:
        parts.append(f"best peer: {top['label']} (N = {top['n_models']}, "
                     f"{top['steps_per_s']:,.0f} network-steps/s); **bulk / best peer: "
                     f"{rat['vs_best_peer']:.2f}×**")
    top_cpu = res.get("best_peer_per_cpu_s", {}).get(w)
    if top_cpu:
        parts.append(f"per CPU-second, best peer: {top_cpu['label']} (N = "
                     f"{top_cpu['n_models']}, {top_cpu['steps_per_cpu_s']:,.0f}); **bulk / "
                     f"best peer per CPU-second: {rat['vs_best_peer_per_cpu_s']:.2f}×**")
    parts += [f"{k.replace('_', ' ')}: {v:.2f}{'%' if 'pct' in k else '×'}"
              for k, v in rat.items()
              if k not in ("vs_best_peer", "vs_torch_func_best", "vs_best_peer_per_cpu_s")]
    if not any(r["kind"] == "torch_ensemble" for r in res["cases"][w]):
        parts.append("this run predates the ensemble peer, so its best peer is weaker than "
                     "the strongest simple PyTorch method")
    return "Best bulk — " + "; ".join(parts) + "."


def render(all_results: list[dict]) -> str:
    from benchmarks._workloads import GRU, MLP, DS4Net

    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks.throughput` (`make bench` runs `--quick`); do not "
        "edit by hand. On a GPU machine `bash benchmarks/gpu.sh OUTDIR` runs it and "
        "`benchmarks.recipes` with a time limit per part. Network-steps/s = networks × "
        "optimiser steps per second. FLOPs are "
        "counted from shapes (3 × forward matmul FLOPs; element-wise work not counted): "
        f"DS1 GRU (batch {GRU.batch} × {GRU.time} steps) "
        f"{GRU.flops_per_step() / 1e6:.1f} MFLOP per network-step, dense {MLP.widths} "
        f"(batch {MLP.batch}) {MLP.flops_per_step() / 1e6:.1f} MFLOP, DS4's recipe network "
        f"{DS4Net.widths} (batch {DS4Net.batch}) {DS4Net.flops_per_step() / 1e6:.1f} MFLOP. "
        "% peak is against the best f32 matmul rate (JAX or torch) measured in the same run "
        "(on a GPU, JAX's default f32 matmul precision uses TF32 tensor cores and PyTorch's "
        "does not, so there the JAX peak is the larger; the trainers run at JAX's default). "
        "Peak RSS is the case's own process; XLA temp is the compiled program's scratch "
        "memory.",
        "",
    ]
    for res in all_results:
        m = res["machine"]
        lines += [f"## {m['device']} ({m['backend']}) — {m['cpu']}, {m['cores']} cores",
                  "",
                  f"{m['date']}, mode `{res['mode']}`"
                  + (f", tables {', '.join(res['workloads'])} only" if res.get("workloads")
                     else "")
                  + (f", medians of {res['rounds']} interleaved rounds"
                     if res.get("rounds", 1) > 1 else "")
                  + f", jax {m['jax']}, torch "
                  f"{m.get('torch', 'not installed')}, Python {m['python']}. Matmul peak: "
                  f"{res['peak_gflops']:.0f} GFLOP/s (JAX {res['jax_peak']:.0f}, torch "
                  f"{res.get('torch_peak') or float('nan'):.0f}). Whole run: "
                  f"{res['wall_s']:.0f} s.", ""]
        # Judged before the run (at its end the load counts the benchmark's own last cases):
        # by the CPU time other processes used in the seconds before it where recorded, else
        # by the 1-minute load average (which lags: a job that just ended still counts).
        busy = m.get("busy_start")
        shared = (busy > 0.25 * m["cores"] if busy is not None else
                  m.get("load_start") is not None and m["load_start"] > 0.5 * m["cores"])
        if shared:
            seen = (f"{busy:.1f} cores busy with other work just before the run, 1-minute load "
                    f"average {m['load_start']:.1f}" if busy is not None else
                    f"1-minute load average {m['load_start']:.1f} at the start and "
                    f"{m.get('load_end', float('nan')):.1f} at the end")
            lines += [f"**Shared machine**: {seen} on {m['cores']} cores (other jobs ran). "
                      "Rates are depressed and noisy, "
                      "multi-threaded PyTorch rows most (OpenMP threads wait on each other "
                      "when a core is taken), and the matmul peak was measured under the same "
                      "load, so % peak is overstated: compare rows of this run only.", ""]
        elif busy is not None:
            lines += [f"Quiet machine: {busy:.2f} cores busy with other work in the 3 s before "
                      f"the run (1-minute load average {m['load_start']:.1f}).", ""]
        for w, title in (("gru", "DS1 GRU"), ("mlp", "Dense MLP, per-network data order"),
                         ("ds4", "DS4 recipe network, per-network data order")):
            if w not in res["cases"]:  # a run from before the table existed
                continue
            if w in UNRECORDED_WIDTHS:  # a dense table names the widths its run measured
                net = "-".join(map(str, res.get("widths", UNRECORDED_WIDTHS)[w]))
                title = f"{title.split(',')[0]} ({net}),{title.split(',', 1)[1]}"
            cpu_col = any(r.get("steps_per_cpu_s") for r in res["cases"][w])
            lines += [f"### {title}", "",
                      "| method | N | network-steps/s | GFLOP/s | % peak | compile s | "
                      "peak RSS MB | XLA temp MB |" + (" per CPU-second |" if cpu_col else ""),
                      "|---|---|---|---|---|---|---|---|" + ("---|" if cpu_col else "")]
            for r in res["cases"][w]:
                if "error" in r:
                    lines.append(f"| {_label(r)} | {r.get('n', 1)} | error: {r['error']} "
                                 "| | | | | |" + (" |" if cpu_col else ""))
                    continue
                temp = r.get("xla_temp_bytes")
                comp = r.get("compile_s")
                lines.append(
                    f"| {_label(r)} | {r['n_models']} | {r['steps_per_s']:,.0f} | "
                    f"{r['gflops']:.1f} | {r['pct_peak']:.1f}% | "
                    f"{'–' if comp is None else f'{comp:.1f}'} | {r['peak_rss_mb']:.0f} | "
                    f"{'–' if temp is None else f'{temp / 2**20:.0f}'} |"
                    + (f" {r['steps_per_cpu_s']:,.0f} |" if r.get("steps_per_cpu_s") else
                       " – |" if cpu_col else ""))
            lines += ["", _ratio_line(res, w), ""]
    return "\n".join(lines) + "\n"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:,.0f} min"


def render_recipes(all_recipes: list[dict]) -> str:
    """Section for ``benchmarks/results/recipes-*.json`` (written by ``benchmarks.recipes``)."""
    if not all_recipes:
        return ""
    lines = ["## Networks per device-hour, default recipes", "",
             "From `python -m benchmarks.recipes` (see its docstring for what is timed): the "
             "real block trainers, compile time apart, store writing not included. DS1: "
             "every network trained to its own stop, so a chunk lasts as long as its slowest "
             "network (EightBit runs longest; a DS1 row is measured at the recipe of its day "
             "— the H100 row at a 400-epoch cap without restarts, where today's recipe caps "
             "an attempt at 600 epochs and restarts a stuck network up to twice, so a block "
             "may last up to 1,800 epochs). DS4: MNIST-shaped random images "
             "(no download on a benchmark machine), every epoch of the recipe trained in one "
             "timed run; nothing is extrapolated. Per core-hour: on a CPU, networks per hour of "
             "the CPU time the run used (every thread; unlike its wall-clock rate, not "
             "stretched by other jobs sharing the cores); on an accelerator, per device-hour.",
             "",
             "| device | recipe | networks in block | block seconds | compile s | "
             "networks per hour | per core-hour |", "|---|---|---|---|---|---|---|"]
    projected = []
    for res in all_recipes:
        for r in res["runs"]:
            rate = f"{r['networks_per_hour']:,.0f}"
            if "seconds_per_epoch" in r:  # an older file: one epoch timed and scaled up
                rate = "— (one epoch timed and ×20 in an older run: not a full run, rerun)"
            core = r.get("networks_per_core_hour")
            where = f", {res['cpu_devices']} CPU devices" if res.get("cpu_devices") else ""
            dev = (f"{res['device']} ({r.get('date', res['date'])}, jax "
                   f"{r.get('jax', res['jax'])}{where})")
            lines.append(f"| {dev} | {r['recipe']} | {r['block']:,} | {r['seconds']:.1f} | "
                         f"{r['compile_s']:.1f} | {rate} | "
                         f"{'–' if core is None else f'{core:,.0f}'} |")
            if r.get("projected_s"):
                sizes = "; ".join(
                    f"DS1-{int(p):,} ({5 * int(p):,} networks) **{_hours(secs)}**"
                    for p, secs in r["projected_s"].items())
                projected.append(
                    f"- {dev}, from its {r['recipe']} run ({r['networks']} networks, "
                    f"longest {r['epochs_max']} epochs, {r.get('restarts', 0)} restarts, "
                    f"{100 * r.get('learnt', float('nan')):.0f}% learnt): {sizes}.")
    if projected:
        lines += ["", "Projected whole DS1 runs on the same machine, otherwise idle "
                  "(`benchmarks.recipes.project_ds1`: a chunk lasts as long as its longest "
                  "network, chunks of a device run in turn and devices, one per core, in "
                  "parallel; the seconds per chunk-epoch are the measured run's — on a CPU "
                  "its CPU time — and each projected network draws its epochs from the "
                  "measured networks of its class, mean of 200 draws; a projection, not a "
                  "measurement):", "", *projected]
    return "\n".join(lines) + "\n"


def write_doc() -> None:
    """Regenerates docs/benchmarks.md from every results file, keeping the profile section."""
    loaded = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))
              if not p.name.startswith(("recipes-", "fused-gru-", "gpu-sweep-"))]
    # other benchmarks keep their own results here too: only this one's tables
    all_results = [summarise(r) for r in loaded
                   if isinstance(r, dict) and isinstance(r.get("cases"), dict)
                   and "machine" in r]
    recipes = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("recipes-*.json"))]
    from benchmarks.gpu_sweep import render as render_sweep

    sweeps = "".join(
        f"\n## Accelerator sweep: {p.stem.removeprefix('gpu-sweep-')}\n\nFrom "
        "`bash benchmarks/gpu.sh` (`benchmarks.gpu_sweep`): the DS1 bulk trainer, one chunk "
        "of `width` networks per call, 16 SGD steps.\n\n"
        + render_sweep(json.loads(p.read_text())["configs"])
        for p in sorted(RESULTS.glob("gpu-sweep-*.json")))
    fused = "".join(render_fused(json.loads(p.read_text())) + "\n"
                    for p in sorted(RESULTS.glob("fused-gru-*.json")))
    from benchmarks.profile_gru import MARK  # keep the profile section if present

    old = DOC.read_text() if DOC.exists() else ""
    keep = MARK + old.split(MARK, 1)[1] if MARK in old else ""
    DOC.write_text(render(all_results) + render_recipes(recipes) + sweeps
                   + ("\n" + fused if fused else "")
                   + ("\n" + keep if keep else ""))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="short run: one block size, each peer's strongest variants (the GRU "
                         "table alone took 32 min at load average 18 on 2 shared cores; "
                         "not yet timed on quiet ones)")
    ap.add_argument("--gru-kernels", default="xla",
                    help="comma-separated GRU kernels of the bulk GRU rows on an accelerator "
                         "(xla, pallas; default xla); a CPU run measures xla and fused")
    ap.add_argument("--rounds", type=int, default=0,
                    help="interleaved rounds per case, medians reported (default: 1 with "
                         "--quick, else 3)")
    ap.add_argument("--workloads", default="",
                    help="comma-separated tables to run (gru, mlp, ds4; default all)")
    ap.add_argument("--smoke", action="store_true",
                    help="every kind of case once at a tiny size (checks the paths run; "
                         "writes only --out, never the results or the doc)")
    ap.add_argument("--out", type=Path, default=None,
                    help="write the results JSON here instead of benchmarks/results/")
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    ap.add_argument("--render-only", action="store_true",
                    help="only rewrite docs/benchmarks.md from benchmarks/results/*.json")
    args = ap.parse_args(argv)
    if args.render_only:
        write_doc()
        return 0

    t0 = time.perf_counter()
    results = {"mode": "quick" if args.quick else "full", "machine": machine()}
    peak_s = 1.0 if args.quick else 3.0
    results["jax_peak"] = run_case({"kind": "jax_peak", "seconds": peak_s})["gflops"]
    results["torch_peak"] = (run_case({"kind": "torch_peak", "seconds": peak_s})["gflops"]
                             if torch_available() else None)
    results["peak_gflops"] = max(results["jax_peak"], results["torch_peak"] or 0)
    from benchmarks._workloads import DENSE  # the dense networks this run measures

    results["widths"] = {w: list(d.widths) for w, d in DENSE.items()}
    accelerator = results["machine"]["backend"] != "cpu"
    kernels = tuple(k.strip() for k in args.gru_kernels.split(",") if k.strip())
    from mlds_jax.coord import usable_cores

    n_proc = usable_cores()  # PyTorch processes per case: as many as the bulk rows' devices
    rounds = args.rounds or (1 if args.quick or args.smoke else 3)
    results["rounds"] = rounds
    planned = plan(args.quick, accelerator, kernels)
    if args.workloads:
        planned = {w: c for w, c in planned.items() if w in args.workloads.split(",")}
    if args.smoke:
        planned = smoke_plan(planned)
    # every round runs every case once, so a shared machine's load hits every row alike;
    # each row is then the median round
    runs: dict[str, list[list[dict]]] = {w: [[] for _ in cs] for w, cs in planned.items()}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    for r in range(rounds):
        for w, cases in planned.items():
            for i, case in enumerate(cases):
                print(f"[{time.perf_counter() - t0:6.1f}s] round {r + 1}/{rounds} {w}: "
                      f"{case}", file=sys.stderr, flush=True)
                if case["kind"] == "torch_procs" or case.get("procs"):
                    runs[w][i].append(run_processes(case, n_proc))
                else:
                    runs[w][i].append(run_case(case))
                if args.out:  # what ran so far survives a time limit (benchmarks/gpu.sh)
                    args.out.with_suffix(".partial.json").write_text(json.dumps(
                        {**results, "runs_so_far": runs}, indent=1))
    results["cases"] = {w: [median_of_rounds(rs) for rs in per_case]
                        for w, per_case in runs.items()}
    results["wall_s"] = time.perf_counter() - t0
    results["machine"]["load_end"] = os.getloadavg()[0]
    summarise(results)
    slug = re.sub(r"[^a-z0-9]+", "-", f"{results['machine']['backend']}-"
                  f"{results['machine']['device']}-{results['machine']['cores']}c".lower())
    if args.workloads:  # a run of some tables only: its own file, its own section
        results["workloads"] = sorted(planned)
        slug += "-" + "-".join(results["workloads"])
    path = args.out or RESULTS / f"{slug}.json"
    if args.smoke and args.out is None:
        path = Path(os.devnull)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    doc = not (args.no_doc or args.smoke or args.out)
    if doc:
        write_doc()
    print(json.dumps(results["ratios"], indent=1))
    print(f"done in {results['wall_s']:.0f} s; wrote {path}" + (f" and {DOC}" if doc else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
