"""``Store`` as a collection: ``len``, a short repr, iteration, ``params`` of many networks,
``apply_many`` and ``to_torch_stacked`` for ``torch.func.functional_call``."""

import json

import numpy as np
import pytest
from helpers import synthetic_store

from mlds_jax.pipeline import generate


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return synthetic_store(tmp_path_factory.mktemp("many") / "s.zarr", 1.0, per_class=2)


def test_len_repr_iteration_and_params_of_many(store):
    assert len(store) == 10
    assert repr(store) == (f"Store({str(store.path)!r}, ds1, 10 networks, 5 classes, "
                           "4364 params)")
    nets = list(store)
    assert "learnt" in store and "history/val_loss" in store and "nope" not in store
    assert 3 not in store  # membership is by array name, never by building networks
    assert [n.index for n in nets] == list(range(10))
    np.testing.assert_array_equal(np.asarray(nets[7].params), store.params(7))
    rows = store.params(np.arange(8))
    assert rows.shape == (8, 4364)
    np.testing.assert_array_equal(rows, store.group["params"][:8])
    np.testing.assert_array_equal(store.params([9, 2, -1]),
                                  store.group["params"][[9, 2, 9]])
    np.testing.assert_array_equal(store.params(slice(3, 6)), store.group["params"][3:6])
    mask = store["class_id"] == 1
    np.testing.assert_array_equal(store.params(mask), store.group["params"][2:4])
    with pytest.raises(IndexError, match=r"network index 10 outside \[0, 10\)"):
        store.params([1, 10])
    with pytest.raises(IndexError, match="expected an int, a slice"):
        store.params(np.array([0.5]))


def test_apply_many_and_torch_stacked_equal_each_network(store):
    torch = pytest.importorskip("torch")
    from torch.func import functional_call

    x = np.random.default_rng(0).integers(0, 2, (3, 8, 5)).astype(np.float32)
    logits = np.asarray(store.apply_many([4, 0, 9], x))
    assert logits.shape == (3, 3, 8, 1)
    module, state = store.to_torch_stacked([4, 0, 9])
    assert state["gru.weight_hh_l0"].shape[0] == 3
    for j, i in enumerate([4, 0, 9]):
        np.testing.assert_array_equal(logits[j], np.asarray(store.network(i)(x)))
        with torch.no_grad():
            out = functional_call(module, {k: v[j] for k, v in state.items()},
                                  (torch.from_numpy(x),)).numpy()
        np.testing.assert_allclose(out, logits[j], atol=1e-5)


def test_dense_nets_vmap_with_torch_func(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("sklearn")  # the embedded digits
    from torch.func import functional_call, vmap

    import mlds_jax
    from mlds_jax.spec import ds4

    generate(ds4("MNISTclean", 3, image_set="digits", epochs=1), tmp_path / "d.zarr",
             block_size=3, progress=False)
    s = mlds_jax.open_store(tmp_path / "d.zarr")
    x = np.random.default_rng(0).uniform(0, 1, (5, 784)).astype(np.float32)
    module, state = s.to_torch_stacked(slice(None))
    with torch.no_grad():
        out = vmap(lambda p, x: functional_call(module, p, (x,)), in_dims=(0, None))(
            state, torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, np.asarray(s.apply_many(slice(None), x)), atol=1e-4)
    # generate finished the store: its card and consolidated metadata (for plain xarray)
    assert "## Learnt shares" in s.group.attrs["card"]
    root = json.loads((tmp_path / "d.zarr" / "zarr.json").read_text())
    assert "params" in root["consolidated_metadata"]["metadata"]
