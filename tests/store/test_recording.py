"""Stores keep snapshots along training and probe outputs: each snapshot equals the network
regenerated at its epoch (and a checkpointed run's state there, across a restart), verify
--recompute compares them bit for bit, and a store begun before snapshots resumes without."""

import dataclasses

import numpy as np
import pytest
import zarr
from helpers import copy_with_one_bit_changed

from mlds_jax.pipeline import generate
from mlds_jax.spec import DatasetSpec, TrainSpec
from mlds_jax.store import open_store, stored_chunk_width, verify
from mlds_jax.train import make_runner, network_inputs
from mlds_jax.workunits import recompute

# 3 epochs an attempt, one restart (cap 6): EightBit stays unlearnt and restarts at epoch 3;
# snapshots on both sides of that boundary
SPEC = DatasetSpec(name="rec", classes=("SingleDirectMachine", "EightBitMachine"),
                   per_class=2, train=TrainSpec(batch_size=8, seq_len=8, n_train=16,
                                                n_val=16, max_epochs=3, max_restarts=1,
                                                snapshot_epochs=(0, 2, 3, 4, 6), probes=4))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "rec.zarr"
    generate(SPEC, path, block_size=4, progress=False)
    return open_store(path)


def _checkpointed(store, epochs) -> dict[int, np.ndarray]:
    """Every network's weights after each of ``epochs`` in a run of one-epoch segments."""
    runner = make_runner(SPEC, width=stored_chunk_width(store.attrs))
    chunks = runner.split(network_inputs(SPEC, np.arange(SPEC.n_networks)))
    states, out = runner.init(chunks), {}
    for e in range(max(epochs) + 1):
        out[e] = np.asarray(states[0].params)[: SPEC.n_networks]
        states = runner.segment(chunks, states, 1)
    return out


def test_snapshots_equal_regenerated_and_checkpointed_states(store):
    assert store.attrs["recording"] == {"snapshot_epochs": [0, 2, 3, 4, 6], "probes": 4,
                                        "probe_output_shape": [4, 8, 1]}
    np.testing.assert_array_equal(store["snapshots/epoch"], [0, 2, 3, 4, 6])
    assert store["probe/inputs"].shape == (4, 8, 5)
    snaps = store["snapshots/params"]
    assert snaps.shape == (4, 5, 4364) and store["probe/outputs"].shape == (4, 5, 4, 8, 1)
    i = int(np.argmax(store["restarts"]))
    assert store["restarts"][i] == 1  # the snapshots cross its restart at epoch 3
    states = _checkpointed(store, (0, 2, 3, 4, 6))
    for k, e in enumerate((0, 2, 3, 4, 6)):
        np.testing.assert_array_equal(snaps[:, k], states[e], err_msg=f"epoch {e}")
        np.testing.assert_array_equal(snaps[i, k], store.regenerate(i, epoch=e))
    np.testing.assert_array_equal(snaps[:, -1], store["params"])
    reached = store["snapshots/reached"]
    np.testing.assert_array_equal(reached, store["epochs"][:, None] >= [0, 2, 3, 4, 6])
    assert verify(store.path) == []


def test_probe_outputs_are_the_stored_snapshot_on_the_stored_probes(store):
    """Read back from the store: one snapshot alone (``Store.apply``) and in a padded batch
    of the store's ``chunk_width``, as the trainer ran it, give the stored bits (DS4:
    tests/store/test_stored_probes.py)."""
    import jax

    x, snaps, outputs = store["probe/inputs"], store["snapshots/params"], store["probe/outputs"]
    for i, k in np.ndindex(outputs.shape[:2]):
        np.testing.assert_array_equal(outputs[i, k], store.apply(snaps[i, k], x),
                                      err_msg=f"network {i} snapshot {k}")
    width = int(store.attrs["chunk_width"])
    batch = jax.jit(jax.vmap(store.apply, in_axes=(0, None)))
    rows = np.concatenate([snaps[:, 1], np.repeat(snaps[-1:, 1], width - len(snaps), 0)])
    np.testing.assert_array_equal(outputs[:, 1], batch(rows, x)[:len(snaps)])


def test_recompute_catches_one_changed_snapshot_or_probe_value(store, tmp_path):
    assert recompute(store.path, 4, seed=0)["mismatches"] == []
    for name, where in (("snapshots/params", (1, 2, 7)), ("probe/outputs", (2, 1, 0, 3, 0))):
        copy = copy_with_one_bit_changed(store.path, tmp_path, name, where)
        got = recompute(copy, 4, seed=0)["mismatches"]
        assert len(got) == 1 and f"network {where[0]} " in got[0], got
        assert f"{name} differs in 1 of" in got[0], got
    # verify alone checks the flags against the epochs (and finiteness, like params)
    flags = zarr.open_group(str(copy), mode="r+")["snapshots/reached"]
    row = flags[3]
    row[-1] = not row[-1]
    flags[3] = row
    assert any("snapshots/reached: disagrees" in p for p in verify(copy)), verify(copy)


def test_a_store_begun_before_snapshots_resumes_without_them(store, tmp_path):
    old = tmp_path / "old.zarr"
    none = dataclasses.replace(SPEC, train=dataclasses.replace(SPEC.train,
                                                               snapshot_epochs="none"))
    generate(none, old, block_size=2, process_index=0, process_count=2, progress=False)
    g = zarr.open_group(str(old), mode="r+")
    attrs = dict(g.attrs["mlds_jax"])  # as written before the field existed
    del attrs["spec"]["train"]["snapshot_epochs"], attrs["spec"]["train"]["probes"]
    g.attrs["mlds_jax"] = attrs
    assert "recording" not in attrs and "snapshots" not in g
    _, s = generate(SPEC, old, block_size=2, progress=False)  # the spec asks for snapshots
    assert s["networks"] == 2
    assert verify(old) == [] and "snapshots" not in zarr.open_group(str(old), mode="r")
    np.testing.assert_array_equal(open_store(old)["params"], store["params"])
    assert recompute(old, 4, seed=0)["mismatches"] == []


def test_plan_shows_what_is_recorded_and_snapshots_none_turns_it_off(capsys):
    from mlds_jax.cli import main

    ds4 = ["plan", "MNISTclean", "--per-class", "10", "--image-set", "digits"]
    assert main(ds4) == 0
    out = capsys.readouterr().out
    assert "snapshots at epochs [0, 1, 2, 4, 8, 16, 20], outputs on 200 probe inputs" in out
    assert "4267.0 KB per network in all" in out
    assert main([*ds4, "--snapshots", "0,5,20", "--probes", "10"]) == 0
    assert "snapshots at epochs [0, 5, 20], outputs on 20 probe inputs" in capsys.readouterr(
        ).out
    assert main([*ds4, "--snapshots", "none"]) == 0
    assert "snapshots at" not in capsys.readouterr().out
    assert main([*ds4, "--snapshots", "0,30"]) != 0  # past the 20-epoch cap: one line
    assert "DenseTrainSpec.snapshot_epochs" in capsys.readouterr().err
