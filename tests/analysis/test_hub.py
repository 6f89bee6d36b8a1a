"""``export`` of several stores and ``export --hf``: the ``datasets`` library loads the
folder and holds every finished network's weights bit for bit."""

import json

import numpy as np
import pytest
from helpers import synthetic_store

from mlds_jax.cli import main

pq = pytest.importorskip("pyarrow.parquet")


def test_export_parquet_of_several_stores(stores, tmp_path, capsys):
    a, b = stores
    out = tmp_path / "all.parquet"
    assert main(["export", "--parquet", str(out), str(a.path), str(b.path)]) == 0
    assert "wrote 40 networks" in capsys.readouterr().out
    t = pq.read_table(out)
    assert t.column("store").to_pylist() == ["a.zarr"] * 20 + ["b.zarr"] * 20
    np.testing.assert_array_equal(t.column("val_bit_accuracy").to_numpy(),
                                  np.concatenate([a["val_bit_accuracy"],
                                                  b["val_bit_accuracy"]]))
    meta = pq.read_schema(out).metadata
    assert [m["spec"]["name"] for m in json.loads(meta[b"mlds_jax"])] == ["ds1", "ds1"]
    assert b"## Learnt shares" in meta[b"card"]


def test_export_hf_loads_with_datasets_bit_for_bit(stores, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    a, b = stores
    out = tmp_path / "hf"
    assert main(["export", "--hf", str(out), str(a.path), str(b.path)]) == 0
    assert "wrote 32 finished networks" in capsys.readouterr().out
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense: mit") and "## Citation" in card
    ds = datasets.load_dataset("parquet", data_dir=str(out / "data"),
                               cache_dir=str(tmp_path / "cache"))
    rows = sum(len(ds[k]) for k in ds)
    assert rows == 32
    for part in ds.values():
        table = part.with_format("numpy")
        w, stores_col, net = table["weights"], table["store"], table["network"]
        for j in range(len(part)):
            s = a if stores_col[j] == "a.zarr" else b
            np.testing.assert_array_equal(w[j], s.params(int(net[j])))
            assert w[j].dtype == np.float32
        np.testing.assert_array_equal(
            table["val_bit_accuracy"],
            [(a if st == "a.zarr" else b)["val_bit_accuracy"][i]
             for st, i in zip(stores_col, net)])
    # the folder itself (its README's YAML header names the data files) loads the same
    again = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache2"))
    assert sum(len(again[k]) for k in again) == 32


def test_export_refuses_an_output_inside_a_store_and_no_format(stores, capsys):
    a, _ = stores
    assert main(["export", "--hf", str(a.path / "hf"), str(a.path)]) == 2
    assert "inside" in capsys.readouterr().err
    assert main(["export", str(a.path)]) == 2
    assert "--parquet OUT" in capsys.readouterr().err


def test_export_hf_writes_one_file_set_per_canonical_part(tmp_path):
    s = synthetic_store(tmp_path / "s.zarr", 1.0, per_class=10)
    assert main(["export", "--hf", str(tmp_path / "hf"), str(s.path)]) == 0
    names = sorted(p.name for p in (tmp_path / "hf" / "data").iterdir())
    assert names == ["test-00000-of-00001.parquet", "train-00000-of-00001.parquet",
                     "val-00000-of-00001.parquet"]
    codes = s.split("canonical")
    for part, code in (("train", 0), ("val", 1), ("test", 2)):
        t = pq.read_table(tmp_path / "hf" / "data" / f"{part}-00000-of-00001.parquet")
        np.testing.assert_array_equal(t.column("network").to_numpy(),
                                      np.flatnonzero(codes == code))
        assert set(t.column("split").to_pylist()) == {part}
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "  - split: val\n    path: data/val-*.parquet" in card
