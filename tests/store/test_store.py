import hashlib
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import zarr
from helpers import tiny_ds1
from reference_numpy import bce_with_logits, torch_style_forward

from mlds_jax.errors import StoreError, StoreExistsError
from mlds_jax.models import gru_layout
from mlds_jax.pipeline import generate, planned_arrays
from mlds_jax.store import DONE, PENDING, StoreWriter, open_store
from mlds_jax.tasks import get_machine
from mlds_jax.train import network_keys
from mlds_jax.train._keys import VAL_DATA


def _tree_digest(path):
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(root, f)
            h.update(p.encode())
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    spec = tiny_ds1(per_class=3, max_epochs=3)
    path = tmp_path_factory.mktemp("s") / "ds1.zarr"
    view, summary = generate(spec, path, block_size=4, progress=False)
    return spec, path, view, summary


def test_store_complete_and_schema(store):
    spec, path, view, summary = store
    assert summary["networks"] == 15
    g = zarr.open_group(str(path), mode="r")
    assert g["params"].shape == (15, 4364) and g["params"].dtype == np.float32
    assert g["params"].chunks == (4, 4364)
    assert g["history/val_loss"].shape == (15, 3)
    assert g["history/val_loss"].metadata.dimension_names == ("network", "epoch")
    assert g["params"].metadata.dimension_names == ("network", "parameter")
    assert (g["status"][:] == DONE).all()
    attrs = g.attrs["mlds_jax"]
    for k in ("library_version", "jax_version", "jaxlib_version", "zarr_version",
              "device_kind", "created", "spec", "spec_digest"):
        assert k in attrs, k
    assert attrs["spec"] == spec.to_dict()
    assert g["class_id"].attrs["class_names"] == list(spec.classes)
    assert g["class_id"][:].tolist() == [c for c in range(5) for _ in range(3)]
    assert sum(e["size"] for e in g["params"].attrs["layout"]) == 4364


def test_no_pickle_anywhere(store):
    _, path, _, _ = store
    for root, _, files in os.walk(path):
        for f in files:
            with open(os.path.join(root, f), "rb") as fh:
                assert b"\x80\x04\x95" not in fh.read()[:16], f  # pickle protocol 4 header


def test_stored_weights_reproduce_stored_val_loss_independently(store):
    """Plain zarr + NumPy forward pass of PyTorch's GRU equations, no mlds_jax model code."""
    spec, path, _, _ = store
    g = zarr.open_group(str(path), mode="r")
    layout, names = g["params"].attrs["layout"], g["class_id"].attrs["class_names"]
    for net in (0, 7, 14):
        flat = g["params"][net]
        sd = {e["name"]: flat[e["offset"]:e["offset"] + e["size"]].reshape(e["shape"])
              for e in layout}
        # Validation inputs are random bits from the network's key (JAX's PRNG); targets come
        # from the NumPy reference simulation of the machine.
        key = jax.random.fold_in(jnp.asarray(g["key"][net]), VAL_DATA)
        x = np.asarray(jax.random.bernoulli(
            key, 0.5, (spec.train.n_val, spec.train.seq_len, 5))).astype(np.float32)
        machine = get_machine(names[g["class_id"][net]])
        y = np.stack([machine.run(s) for s in x.astype(int)]).astype(np.float32)
        logits = torch_style_forward(sd, x, num_layers=4, activation=spec.model.head_activation)
        assert bce_with_logits(logits, y) == pytest.approx(g["final_val_loss"][net], rel=1e-4)
        acc = np.mean((logits > 0) == (y > 0.5))
        assert acc == pytest.approx(g["val_bit_accuracy"][net], abs=1e-6)


def test_keys_in_store_are_spec_keys(store):
    spec, _, view, _ = store
    np.testing.assert_array_equal(view["key"], network_keys(spec, np.arange(15)))


def test_reader_rebuilds_tensors(store):
    _, _, view, _ = store
    t = view.tensors(5)
    assert t["gru.weight_ih_l0"].shape == (36, 5)
    assert t["fc.6.bias"].shape == (1,)


def test_resume_skips_done_blocks_and_is_equal(store, tmp_path):
    spec, path, _, _ = store
    digest = _tree_digest(path)
    _, summary = generate(spec, path, block_size=4, progress=False)
    assert summary["networks"] == 0
    assert _tree_digest(path) == digest  # nothing rewritten


def test_interrupted_block_is_retrained_to_the_same_result(store, tmp_path):
    spec, path, view, _ = store
    other = tmp_path / "resumed.zarr"
    _, s1 = generate(spec, other, block_size=4, progress=False)
    # Simulate a crash in block 1: data half written, status still pending.
    g = zarr.open_group(str(other), mode="r+")
    g["params"][4:8] = np.full((4, 4364), 123.0, np.float32)
    g["status"][4:8] = np.full(4, PENDING, np.uint8)
    _, s2 = generate(spec, other, block_size=4, progress=False)
    assert s2["networks"] == 4
    resumed = open_store(other)
    np.testing.assert_array_equal(resumed["params"], view["params"])
    np.testing.assert_array_equal(resumed["status"], view["status"])


def test_other_spec_refused_and_untouched(store):
    spec, path, _, _ = store
    digest = _tree_digest(path)
    with pytest.raises(StoreError, match="another spec.*max_epochs: store has 3, requested 5"):
        generate(tiny_ds1(per_class=3, max_epochs=5), path, block_size=4, progress=False)
    assert _tree_digest(path) == digest


def test_existing_file_refused(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("precious")
    with pytest.raises(StoreExistsError, match="exists and is a file"):
        generate(tiny_ds1(), f, progress=False)
    assert f.read_text() == "precious"
    d = tmp_path / "somedir"
    d.mkdir()
    (d / "x").write_text("keep")
    with pytest.raises(StoreExistsError, match="not an mlds-jax store"):
        generate(tiny_ds1(), d, progress=False)
    assert (d / "x").read_text() == "keep" and sorted(os.listdir(d)) == ["x"]


def test_foreign_zarr_group_refused(tmp_path):
    p = tmp_path / "foreign.zarr"
    zarr.open_group(str(p), mode="w").attrs["hello"] = 1
    with pytest.raises(StoreExistsError, match="not an mlds-jax dataset store"):
        generate(tiny_ds1(), p, progress=False)
    with pytest.raises(StoreError, match="not an mlds-jax dataset store"):
        open_store(p)


def test_open_store_errors(tmp_path):
    with pytest.raises(StoreError, match="no such store"):
        open_store(tmp_path / "missing")
    with pytest.raises(StoreError, match="not a Zarr store"):
        open_store(tmp_path)


def test_creation_is_atomic(tmp_path, monkeypatch):
    p = tmp_path / "x.zarr"

    def boom(*a, **k):
        raise RuntimeError("disk full")

    spec = tiny_ds1()
    monkeypatch.setattr("mlds_jax.store._writer.os.rename", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        StoreWriter.open_or_create(p, spec, block_size=4,
                                   layout=gru_layout(spec.model).to_records(),
                                   planned=planned_arrays(spec), provenance={})
    assert os.listdir(tmp_path) == []  # no half-made store, no temp dir left behind


def test_machine_tables_stored(store):
    spec, path, _, _ = store
    g = zarr.open_group(str(path), mode="r")
    ns, out = g["machines/next_state"][:], g["machines/output"][:]
    assert ns.shape == (5, 256, 32)
    assert g["machines/output"].metadata.dimension_names == ("class", "state", "input_symbol")
    for k, name in enumerate(spec.classes):
        m = get_machine(name)
        np.testing.assert_array_equal(ns[k, :m.n_states], m.next_state)
        np.testing.assert_array_equal(out[k, :m.n_states], m.output)


def test_ds3_store_holds_automaton_tables(tmp_path):
    import dataclasses

    from mlds_jax.spec import AutomataSpec, DatasetSpec, ds3
    from mlds_jax.tasks import build_machines

    base = ds3(1, max_epochs=2, batch_size=8, seq_len=8, n_train=16, n_val=16)
    automata = AutomataSpec(n_automata=3, seed=2)
    spec = dataclasses.replace(base, classes=automata.names(), automata=automata, per_class=2,
                               train=dataclasses.replace(base.train,
                                                         fresh_train_data=automata.names()))
    path = tmp_path / "ds3.zarr"
    generate(spec, path, block_size=4, progress=False)
    g = zarr.open_group(str(path), mode="r")
    assert (g["status"][:] == DONE).all()
    machines = build_machines(spec)
    assert g["machines/next_state"].shape == (3, max(m.n_states for m in machines), 4)
    for k, m in enumerate(machines):
        np.testing.assert_array_equal(g["machines/output"][k, :m.n_states], m.output)
    assert DatasetSpec.from_dict(g.attrs["mlds_jax"]["spec"]) == spec


def test_verify_ok_and_problems(store, tmp_path):
    import shutil

    from mlds_jax.cli import main
    from mlds_jax.store import verify

    _, path, _, _ = store
    assert verify(path) == []
    broken = tmp_path / "broken.zarr"
    shutil.copytree(path, broken)
    g = zarr.open_group(str(broken), mode="r+")
    g["status"][0:4] = 0
    p = g["params"][8:12]
    p[1, 5] = np.nan
    g["params"][8:12] = p
    problems = verify(broken)
    assert "4 networks pending (first: [0, 1, 2, 3])" in problems
    assert "block 2: params: non-finite weights in 1 done network(s) (first: 9)" in problems
    assert main(["verify", str(path)]) == 0
    assert main(["verify", str(broken)]) == 1
    assert verify(tmp_path / "nothing") == [f"{tmp_path / 'nothing'}: no such store"]


def test_resume_refuses_a_store_with_other_keys(store, tmp_path):
    import shutil

    spec, path, _, _ = store
    other = tmp_path / "other-keys.zarr"
    shutil.copytree(path, other)
    g = zarr.open_group(str(other), mode="r+")
    g["key"][0] = np.array([1, 2], np.uint32)  # as if derived by another library version
    digest = _tree_digest(other)
    with pytest.raises(StoreError, match="keys differ from the ones this mlds-jax version"):
        generate(spec, other, block_size=4, progress=False)
    assert _tree_digest(other) == digest
