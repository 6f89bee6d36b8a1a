"""The ``docs/benchmarks.md`` section of ``benchmarks.fused_gru``'s results (apart from the
benchmark, so that ``benchmarks.throughput``'s doc writer renders it without importing the
benchmark, which imports the doc writer)."""

from __future__ import annotations


def render(res: dict) -> str:
    """Markdown section for docs/benchmarks.md."""
    m = res["machine"]
    lines = ["## The fused CPU GRU kernel", "",
             f"From `python -m benchmarks.fused_gru` on {m['cpu']}, {m['cores']} cores, "
             f"{m['date']}, jax {m['jax']}; interleaved A/B in one process, medians of "
             f"{res['rounds']} rounds. `mlds_jax/models/csrc/fused_gru.cc` is an XLA FFI "
             "custom call per GRU layer (forward, and backward from the forward's saved "
             "gates), 8 networks per SIMD vector, tiles of 8 networks spread over XLA's "
             "intra-op threads; `MLDS_JAX_GRU_KERNEL=fused|xla|auto` (or "
             "`apply_gru_batch(..., kernel=)`) picks the path, `auto` = fused on a CPU.", "",
             "| one layer, 64 networks (hidden 12, input 12) | ms | GFLOP/s |",
             "|---|---|---|"]
    for k, v in res["layer"].items():
        lines.append(f"| {k} | {v['ms']:.1f} | {v['gflops']:.1f} |")
    lines += ["", f"DS1 SGD steps (4 GRU layers + head + Adam) for a block of {res['n']} "
              "networks run as `lax.map` over chunks of W networks, each chunk vmapped:", "",
              "| path | W | network-steps/s | compile s |", "|---|---|---|---|"]
    best: dict[str, tuple[float, str]] = {}
    for k, v in res["chunks"].items():
        kernel, w = k.split(" W=")
        lines.append(f"| {kernel} | {w} | {v['network_steps_per_s']:,.0f} | "
                     f"{v['compile_s']:.1f} |")
        if v["network_steps_per_s"] > best.get(kernel, (0, ""))[0]:
            best[kernel] = (v["network_steps_per_s"], w)
    lines += ["", "Best W: " + "; ".join(f"{k} W = {w} ({r:,.0f} network-steps/s)"
                                          for k, (r, w) in best.items())
              + ". Differences under about 10% are within this machine's noise.", ""]
    if res.get("peers"):
        peers = res["peers"]
        lines += [f"DS1 bulk trainer against the PyTorch peers, N = 64, each case in its own "
                  f"process, cases interleaved over {res.get('peer_rounds', '?')} rounds "
                  "(medians; the load of a shared machine then hits every case alike):", "",
                  "| method | network-steps/s | rounds |", "|---|---|---|"]
        for k, v in peers.items():
            lines.append(f"| {k} | {v['network_steps_per_s']:,.0f} | "
                         f"{', '.join(f'{x:,.0f}' for x in v['all'])} |")
        torch_rows = {k: v for k, v in peers.items() if k.startswith("PyTorch")}
        bulk = peers.get("mlds-jax bulk, fused kernel, chunks of 8")
        if torch_rows and bulk:
            top = max(torch_rows, key=lambda k: torch_rows[k]["network_steps_per_s"])
            single = max((v["network_steps_per_s"] for k, v in torch_rows.items()
                          if "one network" in k), default=None)
            b = bulk["network_steps_per_s"]
            lines += ["", f"Best peer: {top}; **fused bulk / best peer: "
                      f"{b / torch_rows[top]['network_steps_per_s']:.2f}×**"
                      + (f"; fused bulk / best PyTorch one-at-a-time: {b / single:.1f}×"
                         if single else "") + ". On a shared machine these wall-clock "
                      "ratios overstate the gain: the scheduler shares the cores per thread, so "
                      "a 1-thread PyTorch process gets a smaller share than the multi-threaded "
                      "JAX process, and multi-threaded PyTorch collapses. Work per core (next "
                      "table) is the fair comparison.", ""]
    if res.get("cpu_efficiency"):
        eff = res["cpu_efficiency"]
        names = {"fused": "mlds-jax bulk, fused kernel, chunks of 8",
                 "xla": "mlds-jax bulk, XLA GRU, chunks of 8",
                 "torch": "PyTorch ensemble, 1 thread"}
        lines += ["Work per core: DS1 network-steps per CPU-second (user + system time of the "
                  "process, all threads; N = 64; each case in its own process, interleaved, "
                  "medians). A shared machine's load distorts this far less than wall-clock "
                  "rates; it is what a quiet machine would give per busy core.", "",
                  "| method | network-steps per CPU-second | per wall-second |",
                  "|---|---|---|"]
        for k, v in eff.items():
            lines.append(f"| {names.get(k, k)} | {v['per_cpu_s']:,.0f} | "
                         f"{v['per_wall_s']:,.0f} |")
        if "fused" in eff and "torch" in eff:
            lines += ["", f"Fused bulk / PyTorch ensemble per CPU-second: "
                      f"**{eff['fused']['per_cpu_s'] / eff['torch']['per_cpu_s']:.2f}×**; "
                      f"fused / XLA GRU: "
                      f"{eff['fused']['per_cpu_s'] / eff['xla']['per_cpu_s']:.2f}×."]
        lines.append("")
    lines += [PROFILE, ""]
    return "\n".join(lines) + "\n"


PROFILE = (
    "Where a fused step's time goes (measured 2026-11-27 on the 2-core AVX-512 EPYC while "
    "other jobs shared it, so rates are noisy; `perf record` of a whole DS1 training run at "
    "N = 64, and a standalone C++ harness timing one tile of the kernel, minimum of 300 "
    "runs): the kernel's forward and backward tiles take about 45% of the CPU samples, "
    "their layout changes (each sequence's inputs gathered into the networks-innermost "
    "layout, outputs scattered back) about 7%, XLA's head products (XNNPACK dots) 10-14%, "
    "the other XLA fusions (loss, Adam, data generation) about 13%. One tile on one core runs "
    "the forward at 30-34 GFLOP/s and the backward at 45-50 GFLOP/s. The bound: without "
    "fused multiply-add (built with `-ffp-contract=off`, so a network's floats are the same "
    "on AVX2 and AVX-512 machines) a core retires at most one 8/16-lane multiply and one add "
    "per cycle, half the matmul peak; the forward is further held by its gate math (three "
    "rational tanh, each with a division, per hidden unit and step: about as many vector "
    "operations as the recurrent product) on the recurrence's dependency chain. `-ffp-contract"
    "=fast` gave +10% on the forward in the harness. What would move it further: the head "
    "and loss inside the same custom call (one call per chunk for the whole forward and "
    "backward, no XLA passes over [N, time, batch, 12] arrays), SIMD transposes for the layout "
    "changes, and, with free cores, chunks of 16-32 networks so that XLA's intra-op threads "
    "each take a tile of 8.")
