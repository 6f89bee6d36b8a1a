"""Stored coordinates: plain ``xr.open_zarr`` (no mlds-jax) gets ``network``, ``class_name``
and ``tensor`` as coordinates, with variable-length strings; no other array changes; verify
checks them and a resume's repair rewrites them."""

import hashlib
import warnings

import numpy as np
import pytest
import zarr
from helpers import synthetic_store

import mlds_jax
from mlds_jax.store import check_store, expected_arrays, finish_store

xr = pytest.importorskip("xarray")


def _digests(path) -> dict[str, str]:
    g = zarr.open_group(str(path), mode="r", use_consolidated=False)
    out = {}

    def walk(group, prefix=""):
        for name, node in sorted(group.members()):
            if isinstance(node, zarr.Group):
                walk(node, f"{prefix}{name}/")
            else:
                a = np.ascontiguousarray(node[...])
                out[prefix + name] = hashlib.sha256(str(a.dtype).encode() + a.tobytes()
                                                    ).hexdigest()
    walk(g)
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("coords") / "ds1.zarr"
    synthetic_store(path, 1.0, per_class=2)
    before = _digests(path)
    assert finish_store(path)
    after = _digests(path)
    # the coordinates are new; every other array keeps its bits
    assert set(after) - set(before) == {"network", "class_name", "tensor"}
    assert {k: after[k] for k in before} == before
    return mlds_jax.open_store(path)


def test_plain_xarray_gets_the_coordinates_without_warnings(store):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(store.path)
    assert {"network", "class_name", "tensor"} <= set(ds.coords)
    assert ds["class_name"].dtype.kind in "OT"  # variable-length, not fixed-width '<U'
    np.testing.assert_array_equal(ds["network"].values, np.arange(len(store)))
    names = np.asarray(store.class_names)[store["class_id"]]
    assert [str(x) for x in ds["class_name"].values] == list(names)
    parity = ds.sel(network=ds.class_name == "ParityMachine")
    np.testing.assert_array_equal(parity["params"].values,
                                  store.params(np.flatnonzero(names == "ParityMachine")))
    head = ds["params"].isel(network=3).where(ds.tensor == "fc.6.bias", drop=True).values
    np.testing.assert_array_equal(head, store.tensors(3)["fc.6.bias"])
    # to_xarray keeps its own coordinates alongside
    assert list(store.to_xarray()["class_name"].values) == list(names)
    # verify's expected-array table holds them (a resume rewrites from it)
    want = expected_arrays(store.spec)
    np.testing.assert_array_equal(want["network"], ds["network"].values)
    assert list(want["class_name"]) == list(names)
    assert list(want["tensor"]) == [str(t) for t in ds["tensor"].values]


def test_verify_checks_the_coordinates_and_a_resume_rewrites_them(tmp_path):
    from mlds_jax.store._verify import repair_or_refuse  # what a resume runs first

    path = tmp_path / "s.zarr"
    synthetic_store(path, 1.0, per_class=2)
    finish_store(path)
    assert check_store(path).problems == []
    g = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    g["class_name"][0] = "SomethingElse"
    problems = check_store(path).problems
    assert any(p.startswith("class_name: the stored coordinate differs") for p in problems)
    repair_or_refuse(path, {})
    assert check_store(path).problems == []
    assert str(zarr.open_group(str(path), mode="r")["class_name"][0]) == "ParityMachine"
