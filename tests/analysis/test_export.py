"""``mlds-jax export --parquet``: the per-network table, no weights, read back by pandas."""

import json

import numpy as np
import pytest
from helpers import synthetic_store

from mlds_jax.cli import main

pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")


def test_export_parquet(tmp_path, capsys):
    v = synthetic_store(tmp_path / "s.zarr", 0.0, per_class=4, complete=False)
    out = tmp_path / "t.parquet"
    assert main(["export", "--parquet", str(out), str(tmp_path / "s.zarr")]) == 0
    assert "wrote 20 networks" in capsys.readouterr().out
    df = pd.read_parquet(out)
    assert len(df) == 20 and "params" not in df.columns and "key" not in df.columns
    for col in ("network", "dataset", "class_name", "class_id", "replicate", "status",
                "status_name", "epochs", "final_val_loss", "val_bit_accuracy"):
        assert col in df.columns, col
    assert list(df["class_name"][:5]) == ["ParityMachine"] * 4 + ["EightBitMachine"]
    assert (df["status_name"] == "pending").sum() == 8
    np.testing.assert_array_equal(df["val_bit_accuracy"], v["val_bit_accuracy"])
    import pyarrow.parquet as pq

    meta = json.loads(pq.read_schema(out).metadata[b"mlds_jax"])
    assert meta["spec"]["name"] == "ds1"


def test_export_carries_every_named_split(tmp_path, capsys):
    """One ``split_<name>`` column per named split of the store, in Parquet and in the
    Hugging Face folder (whose files are cut by the canonical split)."""
    import pyarrow.parquet as pq

    s = synthetic_store(tmp_path / "s.zarr", 1.0, per_class=10)
    names = s.split_names()
    assert names == ["canonical", "held_out_replicates"]
    want = {n: np.asarray(["train", "val", "test", "ood"])[s.split(n)] for n in names}
    assert (s.split("held_out_replicates") == 3).any()  # the two splits really differ
    out = tmp_path / "t.parquet"
    assert main(["export", "--parquet", str(out), str(s.path)]) == 0
    df = pd.read_parquet(out)
    for n in names:
        assert df[f"split_{n}"].tolist() == want[n].tolist(), n
    assert main(["export", "--hf", str(tmp_path / "hf"), str(s.path)]) == 0
    capsys.readouterr()
    for f in sorted((tmp_path / "hf" / "data").iterdir()):
        t = pq.read_table(f)
        net = t.column("network").to_numpy()
        assert t.column("split_canonical").to_pylist() == t.column("split").to_pylist()
        for n in names:
            assert t.column(f"split_{n}").to_pylist() == want[n][net].tolist(), (f.name, n)
