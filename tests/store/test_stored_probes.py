"""What a DS4 store records, read back from the store itself: each network's stored probe
outputs are its stored snapshot run on the stored probe inputs, bit for bit, in a batch of
the store's ``chunk_width`` networks as the trainer ran them (XLA's batched matmul sums in
another order than one network's, so ``Store.apply`` on one snapshot can differ in the last
bits; DS1's GRU gives equal bits either way: tests/store/test_recording.py); a snapshot at
epoch e is ``Store.regenerate(i, epoch=e)``; ``verify --recompute`` names one changed
snapshot or probe value. (tests/train/test_record.py checks the same on the trainer's
results.)"""


import jax
import numpy as np
import pytest
from helpers import copy_with_one_bit_changed

from mlds_jax.pipeline import generate
from mlds_jax.spec import ds4
from mlds_jax.store import open_store
from mlds_jax.workunits import recompute


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    pytest.importorskip("sklearn")  # the embedded digits come with scikit-learn
    spec = ds4("MNISTbadnet_alpha10", 2, image_set="digits", widths=(784, 8, 10), epochs=2)
    path = tmp_path_factory.mktemp("probes") / "ds4.zarr"
    generate(spec, path, block_size=spec.n_networks, progress=False)
    return open_store(path)


def test_probe_outputs_are_the_stored_snapshot_on_the_stored_probes(store):
    x = np.asarray(store["probe/inputs"])  # pixels: the networks see pixel / 255
    assert x.dtype == np.uint8 and x.shape == (200, 784)
    assert store["probe/triggered"].sum() == 100
    x = x.astype(np.float32) * np.float32(1 / 255)
    snaps, outputs = store["snapshots/params"], store["probe/outputs"]
    n = store.n_networks
    assert outputs.shape[:2] == snaps.shape[:2] == (n, 3)
    width = int(store.attrs["chunk_width"])
    assert width > n  # the batch is padded (by repeating a row), as the trainer pads a chunk
    batch = jax.jit(jax.vmap(store.apply, in_axes=(0, None)))
    for k in range(3):
        rows = np.concatenate([snaps[:, k], np.repeat(snaps[-1:, k], width - n, 0)])
        np.testing.assert_array_equal(outputs[:, k], batch(rows, x)[:n], err_msg=f"slot {k}")
    np.testing.assert_array_equal(snaps[:, -1], store.params(np.arange(store.n_networks)))


def test_ds4_snapshots_are_regenerated_states_and_recompute_names_one_change(
        store, tmp_path):
    snaps = store["snapshots/params"]
    np.testing.assert_array_equal(store["snapshots/epoch"], [0, 1, 2])
    for e in (0, 1, 2):
        np.testing.assert_array_equal(snaps[1, e], store.regenerate(1, epoch=e), err_msg=e)
    assert recompute(store.path, 2, seed=0)["mismatches"] == []
    for name, where in (("snapshots/params", (1, 1, 300)), ("probe/outputs", (0, 2, 150, 3))):
        copy = copy_with_one_bit_changed(store.path, tmp_path, name, where)
        got = recompute(copy, 2, seed=0)["mismatches"]
        assert len(got) == 1 and f"network {where[0]} " in got[0], got
        assert f"{name} differs in 1 of" in got[0], got
