"""Networks per device-hour for the default DS1 and DS4 recipes, timed through the real
block trainer (``make_block_trainer``: chunks of ``task_width(spec)``, as ``generate``).

    python -m benchmarks.recipes                      # DS1-1000 (5,000 GRUs), DS4 MNIST
    python -m benchmarks.recipes --ds1-per-class 4 --ds4-n 16 --ds4-images 2048 --ds4-epochs 2

DS1: every network of ``ds1(per_class)`` in one block, trained to its own stop (validation
loss under the threshold, or the recipe's cap: 600 epochs an attempt, and up to two
restarts of a network unlearnt at the cap): the time of the block is the time of its slowest
network. DS4: ``ds4("MNISTclean", n)`` trained for every one of its epochs (20 by
default; ``--ds4-epochs`` runs a shorter recipe, which is then reported as that recipe, never
scaled up to 20); MNIST itself cannot be downloaded on a benchmark machine without network
access, so the image set is random uint8 images of MNIST's shape (60,000 train, 10,000 test;
the cost does not depend on pixel values). Every rate is from one whole timed run: nothing is
extrapolated from a part of a run. Compile time is reported apart; store writing is not
included (it is a small share: see docs/scaling.md).
Writes ``benchmarks/results/recipes-<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PER_CLASS = (100, 10_000)
"""DS1 sizes projected from a measured DS1 run: DS1-100 and DS1-10000 (networks per class)."""
RESULTS = ROOT / "benchmarks" / "results"


def _timed(fn, *args) -> tuple[float, float, object]:
    """(compile seconds, run seconds, output) of a whole run: ``fn`` is called twice, the
    first call compiling, the second timed (its difference to the first is the compile
    time). A jitted function (an older trainer) is compiled ahead and run once."""
    if hasattr(fn, "lower"):
        t0 = time.perf_counter()
        compiled = fn.lower(*args).compile()
        compile_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        return compile_s, time.perf_counter() - t0, out
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    secs = time.perf_counter() - t0
    return max(first - secs, 0.0), secs, out


def ds1_rate(per_class: int, segment_epochs: int = 50, **overrides) -> dict:
    """One whole DS1 run at the default recipe: every network of ``ds1(per_class)`` in one
    block, each to its own stop (restarts included). The chunk programs are compiled first by
    a run capped at one epoch an attempt (the epoch count is a traced argument, so the timed
    run reuses them); the whole run is then timed once, as segments of ``segment_epochs``
    epochs (as a resumed run trains), each printing a progress line to stderr, so a run
    stopped by a time limit still shows its pace. ``overrides``: recipe fields (``ds1``'s
    train overrides, e.g. ``max_epochs`` for a smoke run; the row's recipe names them)."""
    from mlds_jax.spec import ds1
    from mlds_jax.train import concat_rows, make_block_trainer, network_inputs

    spec = ds1(per_class, **overrides)
    n = spec.n_networks
    inputs = network_inputs(spec, np.arange(n))
    trainer = make_block_trainer(spec)
    runner = trainer.runner
    t0 = time.perf_counter()
    runner.train(inputs, 1)  # compiles every piece; one epoch an attempt
    compile_s = time.perf_counter() - t0
    t0, cpu0 = time.perf_counter(), time.process_time()
    chunks = runner.split(inputs)
    states = runner.init(chunks)
    while True:
        states = runner.segment(chunks, states, segment_epochs)
        active = runner.active(states)  # waits for the segment
        print(json.dumps({"ds1_progress_s": round(time.perf_counter() - t0, 2),
                          "cpu_s": round(time.process_time() - cpu0, 2),
                          "active": int(active[:n].sum()), "networks": n}),
              file=sys.stderr, flush=True)
        if not active.any():
            break
    res = concat_rows(runner.finish(chunks, states), n)
    secs = time.perf_counter() - t0
    cpu_secs = time.process_time() - cpu0  # every thread of this process
    epochs = np.asarray(res.epochs)
    n_chunks = len(chunks)
    devices = len(runner.devices)
    on_cpu = jax.default_backend() == "cpu"
    cores = min(devices, n_chunks) if on_cpu else 1
    extra = "".join(f", {k}={v}" for k, v in sorted(overrides.items()))
    return {"recipe": f"ds1 per_class={per_class}{extra}", "networks": n, "block": n,
            "seconds": secs, "compile_s": compile_s,
            "networks_per_hour": n * 3600 / secs, "chunk_width": trainer.width,
            "devices": devices, "cores": cores,
            # on a CPU: per core-hour of CPU time this process used (robust to other jobs
            # sharing the cores, which stretch the wall-clock time); else per device-hour
            "cpu_seconds": cpu_secs if on_cpu else None,
            "networks_per_core_hour": n * 3600 / (cpu_secs if on_cpu else secs),
            "epochs_max": int(epochs.max()), "epochs_mean": float(epochs.mean()),
            "epochs": epochs.tolist(),
            "class_id": np.asarray(inputs.class_id).tolist(),
            "restarts": int(np.asarray(res.restarts).sum()),
            "learnt": float(np.asarray(res.learnt).mean()),
            "stopped_early": float(np.asarray(res.stopped_early).mean())}


def _device_epochs(chunk_epochs: np.ndarray, devices: int) -> np.ndarray:
    """Per-chunk epochs ``[..., n_chunks]`` -> the busiest device's sum ``[...]`` (chunk
    ``i`` runs on device ``i mod devices``, as the chunk runner places them)."""
    n_chunks = chunk_epochs.shape[-1]
    pad = -n_chunks % devices
    padded = np.concatenate([chunk_epochs, np.zeros((*chunk_epochs.shape[:-1], pad))], -1)
    return padded.reshape(*chunk_epochs.shape[:-1], -1, devices).sum(-2).max(-1)


def _chunk_max(per_network: np.ndarray, width: int) -> np.ndarray:
    """Epochs ``[..., n]`` -> each chunk's longest ``[..., n_chunks]`` (the last chunk is
    padded with copies of the last network, as the runner pads it)."""
    n = per_network.shape[-1]
    pad = -n % width
    if pad:
        per_network = np.concatenate(
            [per_network, np.repeat(per_network[..., -1:], pad, axis=-1)], -1)
    return per_network.reshape(*per_network.shape[:-1], -1, width).max(-1)


def project_ds1(run: dict, per_class: int, draws: int = 200, seed: int = 0) -> float:
    """Projected seconds of a whole ``ds1(per_class)`` run on the machine of ``run`` (a
    :func:`ds1_rate` result), from its measured per-network epochs.

    Model: a chunk lasts as long as its longest network (its while loop runs until every
    network has stopped), chunks of one device run one after another and devices in
    parallel, so a block's time is (seconds per chunk-epoch) x (the busiest device's sum of
    chunk maxima). The seconds per chunk-epoch come from the measured run: on a CPU from the
    CPU time it used over every chunk's maxima (one core per device, so the projection is
    for an otherwise idle machine however loaded the measured one was), else from its wall
    time over the busiest device's sum. The networks of the projected run (grouped by
    class, as the dataset indexes them) draw their epochs from the measured networks of
    their class (``draws`` bootstrap draws, mean)."""
    epochs = np.asarray(run["epochs"], float)
    cls = np.asarray(run["class_id"])
    width, devices = run["chunk_width"], run["devices"]
    maxima = _chunk_max(epochs, width)
    if run.get("cpu_seconds") is not None:
        per_chunk_epoch = run["cpu_seconds"] / max(maxima.sum(), 1.0)
    else:
        per_chunk_epoch = run["seconds"] / max(_device_epochs(maxima[None], devices)[0], 1.0)
    n_classes = int(cls.max()) + 1
    rng = np.random.default_rng(seed)
    drawn = np.concatenate(
        [rng.choice(epochs[cls == c], (draws, per_class)) for c in range(n_classes)], -1)
    return float(per_chunk_epoch * _device_epochs(_chunk_max(drawn, width), devices).mean())


def _fake_mnist(n_train: int, n_test: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "train_labels": rng.integers(0, 10, n_train).astype(np.uint8),
            "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "test_labels": rng.integers(0, 10, n_test).astype(np.uint8)}


def ds4_rate(n: int, n_images: int, name: str = "MNISTclean", epochs: int | None = None) -> dict:
    """One whole run of ``ds4(name, n)`` (every epoch trained; ``epochs`` overrides the
    recipe's count and the result is labelled with the count actually run)."""
    from mlds_jax.spec import ds4
    from mlds_jax.tasks import prepare_images
    from mlds_jax.train import make_block_trainer, network_inputs

    spec = ds4(name, n) if epochs is None else ds4(name, n, epochs=epochs)
    data = prepare_images(spec, _fake_mnist(n_images, max(n_images // 6, 100)))
    inputs = network_inputs(spec, np.arange(n))
    compile_s, secs, _ = _timed(make_block_trainer(spec, data), inputs)
    net = "-".join(map(str, spec.widths))
    return {"recipe": f"ds4 {name}, {net} ({spec.train.epochs} epochs, {n_images} train "
                      "images)", "widths": list(spec.widths),
            "networks": n, "block": n, "epochs": spec.train.epochs, "seconds": secs,
            "compile_s": compile_s, "networks_per_hour": n * 3600 / secs, "full_run": True}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ds1-per-class", type=int, default=1000, help="0: DS4 only")
    ap.add_argument("--ds1-max-epochs", type=int, default=None,
                    help="override the recipe's epoch cap an attempt (smoke runs; the row "
                         "names it)")
    ap.add_argument("--ds4-n", type=int, default=4096, help="0: DS1 only")
    ap.add_argument("--out", type=Path, default=None,
                    help="write the JSON here instead of benchmarks/results/ (no merging)")
    ap.add_argument("--ds4-images", type=int, default=60_000)
    ap.add_argument("--ds4-epochs", type=int, default=None,
                    help="train this many epochs (default: the recipe's 20); the rate is "
                         "reported for the recipe actually run, never scaled")
    args = ap.parse_args(argv)
    from mlds_jax.coord import set_cpu_devices

    set_cpu_devices()  # as `generate`: on a CPU one JAX device per core (before JAX starts)
    dev = jax.devices()[0]
    out = {"device": dev.device_kind, "backend": jax.default_backend(), "jax": jax.__version__,
           "date": time.strftime("%Y-%m-%d"), "runs": []}
    if out["backend"] == "cpu":
        out["cpu_devices"] = len(jax.devices())
    over = {"max_epochs": args.ds1_max_epochs} if args.ds1_max_epochs else {}
    todo = ([("ds1", lambda: ds1_rate(args.ds1_per_class, **over))]
            if args.ds1_per_class > 0 else [])
    if args.ds4_n > 0:
        todo += [("ds4", lambda: ds4_rate(args.ds4_n, args.ds4_images,
                                          epochs=args.ds4_epochs))]
    for label, fn in todo:
        print(f"timing {label} ...", file=sys.stderr, flush=True)
        r = fn()
        if label == "ds1" and not over:  # MLDS's DS1 sizes here, from this run's epochs
            r["projected_s"] = {str(p): project_ds1(r, p) for p in PROJECT_PER_CLASS}
        print(json.dumps({k: v for k, v in r.items() if k not in ("epochs", "class_id")}),
              flush=True)
        out["runs"].append({**r, "date": out["date"], "jax": out["jax"]})
    RESULTS.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", f"recipes-{out['backend']}-{out['device']}".lower())
    path = args.out or RESULTS / f"{slug}.json"
    if args.out is None and path.exists():  # keep this device's rows of recipes not run now
        old = json.loads(path.read_text())
        ran = {r["recipe"].split()[0] for r in out["runs"]}
        out["runs"] = [{"date": old["date"], "jax": old["jax"], **r} for r in old["runs"]
                       if r["recipe"].split()[0] not in ran] + out["runs"]
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
