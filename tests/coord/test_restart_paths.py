"""The recipe's restarts through every coordinator path: a checkpointed run (segments of
K epochs, across attempt boundaries) and a retire-and-refill run give the same store, bit
for bit, as a plain run, and every unlearnt network really restarted."""

import numpy as np
import pytest

from mlds_jax.pipeline import generate
from mlds_jax.spec import ds1
from mlds_jax.store import open_store

# 6 epochs an attempt, one restart: the single-bit machines learn in that time, EightBit
# never does, so it runs two attempts (12 epochs) and the 4-epoch segments below cross the
# attempt boundary at epoch 6
SPEC = ds1(2, max_epochs=6, max_restarts=1)
ARRAYS = ("status", "epochs", "restarts", "stopped_early", "params", "final_val_loss",
          "history/val_loss", "history/train_loss", "val_bit_accuracy", "learnt",
          "snapshots/params", "snapshots/reached", "probe/outputs")


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    path = tmp_path_factory.mktemp("plain") / "plain.zarr"
    generate(SPEC, path, block_size=10, progress=False)
    return open_store(path)


@pytest.mark.parametrize("mode", [{"checkpoint_every": 4}, {"refill_every": 4}])
def test_restarts_equal_a_plain_run(plain, mode, tmp_path):
    generate(SPEC, tmp_path / "s.zarr", block_size=10, progress=False, **mode)
    got = open_store(tmp_path / "s.zarr")
    restarts = np.asarray(plain["restarts"])
    assert restarts.max() == 1 and restarts.min() == 0  # some restarted, some learnt first
    assert (np.asarray(plain["epochs"])[restarts == 1] == 12).all()
    for name in ARRAYS:
        np.testing.assert_array_equal(got[name], plain[name], err_msg=f"{mode}: {name}")
