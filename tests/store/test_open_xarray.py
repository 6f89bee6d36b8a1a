"""``open_store(p).to_xarray()``: lazy, class names as a coordinate, every per-network array."""

import numpy as np
import pytest
from helpers import synthetic_store

import mlds_jax
from mlds_jax.store._schema import per_network_arrays

xr = pytest.importorskip("xarray")


def test_to_xarray_is_lazy_and_complete(tmp_path):
    synthetic_store(tmp_path / "s.zarr", 1.0, per_class=4, complete=False)
    s = mlds_jax.open_store(tmp_path / "s.zarr")
    ds = s.to_xarray()
    assert not ds["params"].variable._in_memory  # nothing read yet
    for schema, _ in per_network_arrays(4364, 3):
        name = schema.name.removeprefix("history/")
        name = f"{name}_history" if schema.name.startswith("history/") else name
        assert ds[name].dims == schema.dims, name
    assert list(ds["class"].values) == s.class_names
    parity = ds.sel(network=ds.class_name == "ParityMachine")
    np.testing.assert_array_equal(parity.network.values, np.arange(4))
    np.testing.assert_array_equal(ds["params"][5].values, s.params(5))
    np.testing.assert_array_equal(parity["val_bit_accuracy"].values,
                                  s["val_bit_accuracy"][:4])
    assert ds["epochs"].dtype == np.int32 and int(ds["epochs"][-1]) == -1  # unwritten
    # plain xarray reads the same store (consolidated=False: there is no consolidated metadata)
    plain = xr.open_zarr(tmp_path / "s.zarr", consolidated=False)
    np.testing.assert_array_equal(plain["params"][5].values, s.params(5))
