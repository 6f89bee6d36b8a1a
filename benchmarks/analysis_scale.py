"""Builds a synthetic DS4-shaped store (50,000 dense 784-32-10 networks, ~5 GB of weights)
for measuring ``mlds-jax analyze`` at scale (docs/analysis.md). Not run by the tests.

    nice python -m benchmarks.analysis_scale /tmp/ds4-50k.zarr
    nice /usr/bin/time -v mlds-jax analyze /tmp/ds4-50k.zarr --out /tmp/ds4-50k-report --quiet
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def build(path: str, n: int = 50_000, block: int = 4096, seed: int = 0) -> None:
    """Writes ``n`` networks through the real StoreWriter (sharded like a generated store),
    block by block: weights N(0, 0.05) with a per-network scale that the metrics follow."""
    from mlds_jax.models import mlp_layout
    from mlds_jax.pipeline import planned_arrays
    from mlds_jax.spec import ds4
    from mlds_jax.store import StoreWriter

    spec = ds4("MNISTbadnet_alpha10", n, image_set="digits")
    layout = mlp_layout(spec.widths)
    w = StoreWriter.open_or_create(path, spec, block_size=block, layout=layout.to_records(),
                                   planned=planned_arrays(spec), provenance={}, task="image")
    rng = np.random.default_rng(seed)
    e = spec.train.epochs
    for b in range(-(-n // block)):
        m = min(block, n - b * block)
        scale = rng.uniform(0.5, 1.5, (m, 1)).astype(np.float32)
        params = rng.standard_normal((m, layout.n_params), np.float32) * (0.05 * scale)
        hist = np.linspace(1.0, 0.2, e, dtype=np.float32)[None] * scale
        acc = (0.95 - 0.1 * (scale[:, 0] - 1)).astype(np.float32)
        w.write_block(b, {
            "params": params, "failed": np.zeros(m, bool), "stopped_early": np.zeros(m, bool),
            "epochs": np.full(m, e, np.int32), "train_loss": hist, "val_loss": hist,
            "final_train_loss": hist[:, -1], "final_val_loss": hist[:, -1],
            "clean_accuracy": acc, "attack_success_rate": rng.uniform(0.5, 1, m).astype(
                np.float32), "backdoor_took": np.ones(m, bool), "learnt": acc >= 0.9,
            "poisoned_samples": np.full(m, 150, np.int32)})
        print(f"block {b}: {m} networks", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--networks", type=int, default=50_000)
    a = p.parse_args()
    t0 = time.perf_counter()
    build(a.out, a.networks)
    print(f"built in {time.perf_counter() - t0:.0f} s")
