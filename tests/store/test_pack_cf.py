"""A finished store for plain readers: CF flags, the card, consolidated metadata (plain
``xr.open_zarr`` without warnings), ``to_xarray().to_netcdf()``, and ``mlds-jax pack``."""

import json
import warnings
import zipfile

import numpy as np
import pytest
import zarr
from helpers import synthetic_store

import mlds_jax
from mlds_jax.cli import main
from mlds_jax.store import check_pack, epoch_cap_note, finish_store

xr = pytest.importorskip("xarray")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("cf") / "ds1.zarr"
    synthetic_store(path, 1.0, per_class=2)
    assert finish_store(path)  # what generate does after the last block (test_open_many)
    return mlds_jax.open_store(path)


def _arrays(group, prefix=""):
    out = {}
    for name, node in sorted(group.members()):
        if isinstance(node, zarr.Group):
            out.update(_arrays(node, f"{prefix}{name}/"))
        else:
            out[prefix + name] = node[...]
    return out


def test_finished_store_has_cf_flags_card_and_opens_in_plain_xarray_quietly(store):
    g = zarr.open_group(str(store.path), mode="r")
    assert g["status"].attrs["flag_meanings"] == "pending done failed"
    assert g["status"].attrs["flag_values"] == [0, 1, 2]
    assert g["class_id"].attrs["flag_meanings"].split() == store.class_names
    card = g.attrs["card"]
    for section in ("## Recipe", "## Sizes", "## Learnt shares", "## Known limitations",
                    "## Source data and licences", "## Citation"):
        assert section in card
    assert "epoch cap of 3; the ds1 recipe's is 600" in card
    assert epoch_cap_note(store).startswith("Trained with an epoch cap of 3; the ds1 recipe's")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(store.path)  # consolidated metadata: no warning
        np.testing.assert_array_equal(ds["params"].values, store.params(slice(None)))
        assert ds["status"].attrs["flag_meanings"] == "pending done failed"


def test_to_xarray_to_netcdf_round_trips(store, tmp_path):
    pytest.importorskip("h5netcdf")
    ds = store.to_xarray()
    assert isinstance(ds.attrs["mlds_jax"], str)  # nested attributes as JSON text
    assert json.loads(ds.attrs["mlds_jax"])["spec"]["name"] == "ds1"
    assert list(ds["epoch"].values) == [1, 2, 3]
    head = ds["params"].isel(network=4).where(ds.tensor == "fc.6.bias", drop=True).values
    np.testing.assert_array_equal(head, store.tensors(4)["fc.6.bias"])
    ds.to_netcdf(tmp_path / "s.nc")
    back = xr.open_dataset(tmp_path / "s.nc")
    assert set(back.variables) == set(ds.variables)
    for name, var in ds.variables.items():
        a, b = var.values, back[name].values
        if a.dtype.kind == "O":  # variable-length strings
            assert list(a) == list(b), name
        else:
            assert a.dtype == b.dtype, name
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert back["class_id"].attrs["flag_meanings"].split() == store.class_names
    assert back.attrs["card"] == ds.attrs["card"]
    # a selection writes too (it failed on the nested attribute)
    ds[["val_bit_accuracy", "class_id"]].to_netcdf(tmp_path / "part.nc")


def test_pack_is_few_files_that_zarr_and_open_store_read_bit_equal(store, tmp_path, capsys):
    out = tmp_path / "packed"
    assert main(["pack", str(store.path), str(out)]) == 0
    assert "packed" in capsys.readouterr().out
    files = sorted(p.name for p in out.iterdir())
    assert files == ["MANIFEST.json", "README.md", "SHA256SUMS", "ds1.zarr.zip"]
    assert len(files) <= 100
    assert check_pack(out) == []
    zpath = out / "ds1.zarr.zip"
    want = _arrays(zarr.open_group(str(store.path), mode="r"))
    plain = zarr.open_group(zarr.storage.ZipStore(str(zpath), mode="r"), mode="r")
    got = _arrays(plain)
    assert got.keys() == want.keys()
    for name in want:
        assert got[name].dtype == want[name].dtype
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    s = mlds_jax.open_store(zpath)
    assert s.attrs == store.attrs and len(s) == len(store)
    np.testing.assert_array_equal(s.params(slice(None)), store.params(slice(None)))
    np.testing.assert_array_equal(np.asarray(s.network(3).params), store.params(3))
    assert s.to_xarray()["val_bit_accuracy"].values.tolist() == \
        store["val_bit_accuracy"].tolist()
    # damage is caught: the zip's SHA-256 (SHA256SUMS) and a member's (MANIFEST.json)
    data = bytearray(zpath.read_bytes())
    with zipfile.ZipFile(zpath) as zf:
        info = zf.getinfo("params/c/0/0")
    at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 5
    data[at] ^= 0xFF  # one byte of a stored (uncompressed) member
    zpath.write_bytes(bytes(data))
    assert check_pack(out) == [
        "ds1.zarr.zip: SHA-256 differs from SHA256SUMS",
        "ds1.zarr.zip:params/c/0/0: SHA-256 differs from MANIFEST.json"]
    assert main(["pack", str(store.path), str(out)]) == 2  # never overwrites
    assert main(["pack", str(store.path), str(store.path / "packed")]) == 2
    assert "lies inside the input" in capsys.readouterr().err
