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


def ds1_rate(per_class: int) -> dict:
    from mlds_jax.spec import ds1
    from mlds_jax.train import make_block_trainer, network_inputs

    spec = ds1(per_class)
    n = spec.n_networks
    inputs = network_inputs(spec, np.arange(n))
    trainer = make_block_trainer(spec)
    compile_s, secs, res = _timed(trainer, inputs)
    epochs = np.asarray(res.epochs)
    return {"recipe": f"ds1 per_class={per_class}", "networks": n, "block": n,
            "seconds": secs, "compile_s": compile_s,
            "networks_per_hour": n * 3600 / secs, "chunk_width": getattr(trainer, "width", None),
            "epochs_max": int(epochs.max()), "epochs_mean": float(epochs.mean()),
            "stopped_early": float(np.asarray(res.stopped_early).mean())}


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
    ap.add_argument("--ds4-n", type=int, default=4096)
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
    todo = [("ds1", lambda: ds1_rate(args.ds1_per_class))] if args.ds1_per_class > 0 else []
    todo += [("ds4", lambda: ds4_rate(args.ds4_n, args.ds4_images, epochs=args.ds4_epochs))]
    for label, fn in todo:
        print(f"timing {label} ...", file=sys.stderr, flush=True)
        r = fn()
        print(json.dumps(r), flush=True)
        out["runs"].append(r)
    RESULTS.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", f"recipes-{out['backend']}-{out['device']}".lower())
    path = RESULTS / f"{slug}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
