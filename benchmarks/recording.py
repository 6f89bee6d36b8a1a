"""What the default snapshots + probe outputs cost: time per network and store size.

    python -m benchmarks.recording          # part of `make bench`; about 2 min on 2 cores

Trains the same networks with the spec's default recording (snapshot epochs 0, 1, 2, 4, ...
up to the cap; 32 probe sequences, or 100 DS4 test images clean and triggered) and with
``snapshot_epochs="none"``, alternating the two in one process (same compiled chunk width,
warm programs), so a busy machine slows both alike; the median of the rounds is compared,
in CPU seconds of the process (``time.process_time``, every thread: on a shared machine wall
time swings by tens of percent between rounds) and in wall seconds.
Then both are written to stores and the bytes on disk per network compared. DS1: the
recipe (fresh data, curriculum, cosine) at a short cap; DS4: MNISTclean's recipe network
(784-128-128-128-10) on the embedded digits. Writes ``benchmarks/results/recording.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "recording.json"


def _with(spec, snapshot_epochs):
    return dataclasses.replace(spec, train=dataclasses.replace(
        spec.train, snapshot_epochs=snapshot_epochs))


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def measure(name: str, spec, rounds: int) -> dict:
    """Seconds per network (median of ``rounds``) and store bytes per network, with the
    default recording and without."""
    from mlds_jax.pipeline import generate, prepare_task
    from mlds_jax.spec import snapshot_schedule
    from mlds_jax.train import make_runner, network_inputs, task_width

    data = prepare_task(spec).data
    width = task_width(spec, block_size=spec.n_networks)
    inputs = network_inputs(spec, np.arange(spec.n_networks))
    variants = {"none": _with(spec, "none"), "default": spec}
    runners = {k: make_runner(s, data, width) for k, s in variants.items()}
    for r in runners.values():  # compile and warm
        r.train(inputs, spec.train.epoch_cap)
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(rounds):
        for k, r in runners.items():
            t0, c0 = time.perf_counter(), time.process_time()
            r.train(inputs, spec.train.epoch_cap)
            times[k].append((time.perf_counter() - t0) / spec.n_networks)
            cpu[k].append((time.process_time() - c0) / spec.n_networks)
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, s in variants.items():
            path = Path(tmp) / f"{k}.zarr"
            generate(s, path, block_size=spec.n_networks, progress=False, chunk_width=width)
            sizes[k] = _du(path) / spec.n_networks
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    return {"dataset": name, "networks": spec.n_networks, "epoch_cap": spec.train.epoch_cap,
            "snapshot_epochs": list(snapshot_schedule(spec.train)),
            "seconds_per_network": med, "rounds": times,
            "cpu_seconds_per_network": med_cpu, "cpu_rounds": cpu,
            "extra_time": med["default"] / med["none"] - 1,
            "extra_cpu_time": med_cpu["default"] / med_cpu["none"] - 1,
            "store_bytes_per_network": sizes,
            "extra_bytes_per_network": sizes["default"] - sizes["none"]}


def main(argv: list[str] | None = None) -> None:
    from mlds_jax.spec import ds1, ds4

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    cases = [("DS1 recipe, 30-epoch cap", ds1(2, max_epochs=30, max_restarts=0)),
             ("DS4 MNISTclean recipe net, digits, 20 epochs",
              ds4("MNISTclean", 16, image_set="digits"))]
    out = []
    for name, spec in cases:
        out.append(r := measure(name, spec, args.rounds))
        s, c = r["seconds_per_network"], r["cpu_seconds_per_network"]
        b = r["store_bytes_per_network"]
        print(f"{r['dataset']}: CPU {1e3 * c['none']:.1f} ms/network without recording, "
              f"{1e3 * c['default']:.1f} with ({100 * r['extra_cpu_time']:+.1f}%); wall "
              f"{1e3 * s['none']:.1f} -> {1e3 * s['default']:.1f} ms "
              f"({100 * r['extra_time']:+.1f}%); store "
              f"{b['none'] / 1024:.1f} KB/network -> {b['default'] / 1024:.1f} KB "
              f"(snapshots at {r['snapshot_epochs']})", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
