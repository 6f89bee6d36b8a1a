"""Store.initial_params / Store.regenerate: a stored network, or its state after any epoch,
rebuilt bit for bit from its row (and refused on another backend)."""

import dataclasses

import numpy as np
import pytest

from mlds_jax.errors import StoreError
from mlds_jax.pipeline import generate
from mlds_jax.spec import DatasetSpec, TrainSpec, ds4
from mlds_jax.store import Store, open_store, stored_chunk_width
from mlds_jax.train import make_runner, network_inputs

# 3 epochs an attempt and one restart (cap 6): the EightBit networks stay unlearnt after
# their first attempt, so they restart at epoch 3; a snapshot is kept at that boundary
SEQ = DatasetSpec(name="regen", classes=("SingleDirectMachine", "EightBitMachine"),
                  per_class=2, train=TrainSpec(batch_size=8, seq_len=8, n_train=16, n_val=16,
                                               max_epochs=3, max_restarts=1,
                                               snapshot_epochs=(0, 2, 3, 4, 6)))


@pytest.fixture(scope="module")
def seq(tmp_path_factory):
    path = tmp_path_factory.mktemp("regen") / "ds1.zarr"
    generate(SEQ, path, block_size=SEQ.n_networks, progress=False)
    return open_store(path)


def _checkpointed_params(store: Store, data=None) -> np.ndarray:
    """float32 ``[epoch_cap + 1, n_networks, n_params]``: every network's weights after each
    epoch of a checkpointed run of the whole block (segments of one epoch)."""
    spec = store.spec
    runner = make_runner(spec, data, stored_chunk_width(store.attrs))
    chunks = runner.split(network_inputs(spec, np.arange(spec.n_networks)))
    states = runner.init(chunks)
    out = []
    for _ in range(spec.train.epoch_cap + 1):
        out.append(np.concatenate([np.asarray(s.params) for s in states])[:spec.n_networks])
        states = runner.segment(chunks, states, 1)
    return np.stack(out)


def test_regenerate_equals_the_stored_params(seq):
    for i in range(seq.n_networks):
        np.testing.assert_array_equal(seq.regenerate(i), seq.params(i), err_msg=str(i))


def test_regenerate_at_an_epoch_equals_a_checkpointed_runs_state(seq):
    restarts = np.asarray(seq["restarts"])
    assert restarts.max() == 1  # the segments below cross an attempt boundary
    i = int(np.argmax(restarts))  # a network that restarted at epoch 3
    states = _checkpointed_params(seq)
    for e in (0, 2, 3, 4, SEQ.train.epoch_cap):
        np.testing.assert_array_equal(seq.regenerate(i, epoch=e), states[e, i], err_msg=e)
    np.testing.assert_array_equal(seq.initial_params(i), states[0, i])
    assert not np.array_equal(states[3, i], states[2, i])  # re-initialised at the boundary
    np.testing.assert_array_equal(states[-1], seq.params(np.arange(SEQ.n_networks)))


def test_every_snapshot_equals_regenerate_at_its_epoch(seq):
    epochs = np.asarray(seq["snapshots/epoch"])
    np.testing.assert_array_equal(epochs, [0, 2, 3, 4, 6])
    snaps = np.asarray(seq["snapshots/params"])  # [network, snapshot, n_params]
    for i in range(SEQ.n_networks):
        for k, e in enumerate(epochs):
            np.testing.assert_array_equal(seq.regenerate(i, epoch=int(e)), snaps[i, k],
                                          err_msg=f"network {i} epoch {e}")
    np.testing.assert_array_equal(snaps[:, 0], [seq.initial_params(i) for i in range(4)])


def test_regenerate_refuses_another_backend_and_a_bad_epoch(seq):
    other = Store(seq.path, {**seq.attrs, "backend": "tpu"}, seq.group)
    with pytest.raises(StoreError, match="trained on tpu, this process uses cpu"):
        other.regenerate(0)
    kernel = Store(seq.path, {**seq.attrs, "gru_kernel": "pallas"}, seq.group)
    with pytest.raises(StoreError, match="MLDS_JAX_GRU_KERNEL=pallas"):
        kernel.initial_params(0)
    for bad in (-1, SEQ.train.epoch_cap + 1, 1.5):
        with pytest.raises(StoreError, match=r"epoch .*: expected an integer in \[0, 6\]"):
            seq.regenerate(0, epoch=bad)
    with pytest.raises(IndexError, match="outside"):
        seq.regenerate(SEQ.n_networks)


def test_regenerate_a_ds4_network(tmp_path):
    pytest.importorskip("sklearn")  # the embedded digits come with scikit-learn
    from mlds_jax.pipeline import prepare_task

    spec = dataclasses.replace(ds4("MNISTbadnet_alpha10", 3, image_set="digits",
                                   widths=(784, 8, 10), epochs=2))
    generate(spec, tmp_path / "ds4.zarr", block_size=3, progress=False)
    s = open_store(tmp_path / "ds4.zarr")
    states = _checkpointed_params(s, prepare_task(spec).data)
    for i in range(3):
        np.testing.assert_array_equal(s.regenerate(i), s.params(i))
        np.testing.assert_array_equal(s.regenerate(i, epoch=1), states[1, i])
        np.testing.assert_array_equal(s.initial_params(i), states[0, i])
