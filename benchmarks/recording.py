"""What the default snapshots + probe outputs cost: time per network and store size.

    python -m benchmarks.recording          # part of `make bench`; about 2 min on 2 cores
                                            # idle, plus ~10 min for the full-size DS4 case
    python -m benchmarks.recording --full-images 0   # without the full-size DS4 case

Trains the same networks with the spec's default recording (snapshot epochs 0, 1, 2, 4, ...
up to the cap; 32 probe sequences, or 100 DS4 test images clean and triggered) and with
``snapshot_epochs="none"``, alternating the two in one process (same compiled chunk width,
warm programs), so a busy machine slows both alike; the median of the rounds is compared,
in CPU seconds of the process (``time.process_time``, every thread: on a shared machine wall
time swings by tens of percent between rounds) and in wall seconds.
Then both are written to stores and the bytes on disk per network compared. DS1: the
recipe (fresh data, curriculum, cosine) at a short cap; DS4: MNISTclean's recipe network
(784-128-128-128-10) on the embedded digits (1,497 train images: the recording's fixed
costs weigh most there), and the same recipe at MNIST's size: random uint8 images of MNIST's
shape, 60,000 train / 10,000 test, as :mod:`benchmarks.recipes` (no download; the cost does
not depend on pixel values), where an epoch is 40x longer (one chunk of 8 networks, fewer
rounds, no stores: the bytes per network do not depend on the image count). The load
average is recorded before and after each case. Writes ``benchmarks/results/recording.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
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


def measure(name: str, spec, rounds: int, data=None) -> dict:
    """Seconds per network (median of ``rounds``) and store bytes per network, with the
    default recording and without. ``data``: DS4's ImageData (default: the spec's own, and
    then the stores are written and sized too)."""
    from mlds_jax.pipeline import generate, prepare_task
    from mlds_jax.spec import snapshot_schedule
    from mlds_jax.train import make_runner, network_inputs, task_width

    load = [os.getloadavg()[0]]
    own_data = data is None
    data = prepare_task(spec).data if own_data else data
    width = task_width(spec, block_size=spec.n_networks)
    inputs = network_inputs(spec, np.arange(spec.n_networks))
    variants = {"none": _with(spec, "none"), "default": spec}
    runners = {k: make_runner(s, data, width) for k, s in variants.items()}
    for r in runners.values():  # compile and warm (n_epochs is traced: one epoch compiles)
        r.train(inputs, 1)
    times: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(rounds):
        for k, r in runners.items():
            t0, c0 = time.perf_counter(), time.process_time()
            r.train(inputs, spec.train.epoch_cap)
            times[k].append((time.perf_counter() - t0) / spec.n_networks)
            cpu[k].append((time.process_time() - c0) / spec.n_networks)
    load.append(os.getloadavg()[0])
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k, s in variants.items() if own_data else ():
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
            "load_average_1min": load,
            "store_bytes_per_network": sizes,
            "extra_bytes_per_network": sizes["default"] - sizes["none"] if sizes else None}


def main(argv: list[str] | None = None) -> None:
    from benchmarks.recipes import _fake_mnist
    from mlds_jax.spec import ds1, ds4
    from mlds_jax.tasks import prepare_images

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--full-images", type=int, default=60_000,
                   help="train images of the MNIST-sized DS4 case (test: a sixth; 0: skip)")
    p.add_argument("--full-rounds", type=int, default=2)
    args = p.parse_args(argv)
    cases = [("DS1 recipe, 30-epoch cap", ds1(2, max_epochs=30, max_restarts=0), None,
              args.rounds),
             ("DS4 MNISTclean recipe net, digits, 20 epochs",
              ds4("MNISTclean", 16, image_set="digits"), None, args.rounds)]
    if args.full_images:
        full = ds4("MNISTclean", 8)
        n = args.full_images
        cases.append((f"DS4 MNISTclean recipe net, {n:,} random MNIST-shaped train images, "
                      "20 epochs", full, lambda: prepare_images(
                          full, _fake_mnist(n, max(n // 6, 100))), args.full_rounds))
    out = []
    for name, spec, data, rounds in cases:
        out.append(r := measure(name, spec, rounds, data and data()))
        s, c = r["seconds_per_network"], r["cpu_seconds_per_network"]
        b = r["store_bytes_per_network"]
        size = (f"; store {b['none'] / 1024:.1f} KB/network -> {b['default'] / 1024:.1f} KB"
                if b else "")
        print(f"{r['dataset']}: CPU {1e3 * c['none']:.1f} ms/network without recording, "
              f"{1e3 * c['default']:.1f} with ({100 * r['extra_cpu_time']:+.1f}%); wall "
              f"{1e3 * s['none']:.1f} -> {1e3 * s['default']:.1f} ms "
              f"({100 * r['extra_time']:+.1f}%){size} (snapshots at {r['snapshot_epochs']}; "
              f"load average {r['load_average_1min'][0]:.1f} -> "
              f"{r['load_average_1min'][1]:.1f})", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
