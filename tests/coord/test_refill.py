"""Retire-and-refill gives every network the result it gets when trained in a plain block."""

import numpy as np
from helpers import tiny_ds1

from mlds_jax.pipeline import generate
from mlds_jax.spec import DatasetSpec
from mlds_jax.store import open_store, verify


def test_refill_equals_plain_blocks(tmp_path):
    base = tiny_ds1(per_class=4, max_epochs=20, stop_val_loss=0.5, n_train=32)
    # mixed stopping times: easy machines stop early, hard ones run to the cap
    spec = DatasetSpec(name="mix", classes=("SingleDirectMachine", "ParityMachine",
                                            "EightBitMachine"), per_class=4,
                       train=base.train)
    _, s = generate(spec, tmp_path / "refill.zarr", block_size=4, progress=False,
                    refill_every=3)
    assert s["networks"] == 12
    assert verify(tmp_path / "refill.zarr") == []
    generate(spec, tmp_path / "plain.zarr", block_size=4, progress=False)
    a, b = open_store(tmp_path / "refill.zarr"), open_store(tmp_path / "plain.zarr")
    for name in ("status", "epochs", "stopped_early"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert len(set(a["epochs"].tolist())) > 1  # networks really stopped at different epochs
    for name in ("params", "final_val_loss", "val_bit_accuracy"):
        # the same chunk programs in another slot and segmenting: equal bits
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # resuming a finished store does nothing
    _, s2 = generate(spec, tmp_path / "refill.zarr", block_size=4, progress=False,
                     refill_every=3)
    assert s2["networks"] == 0
