"""`verify --recompute K` and `merge`: BOINC's validation and work units, bit for bit."""

import shutil

import numpy as np
import pytest
import zarr
from helpers import tiny_ds1

from mlds_jax.cli import main
from mlds_jax.errors import StoreError
from mlds_jax.pipeline import generate
from mlds_jax.store import open_store, verify
from mlds_jax.train import task_width
from mlds_jax.workunits import merge, recompute

RUN = dict(block_size=4, chunk_width=4, progress=False)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("wu")
    spec = tiny_ds1(per_class=3)  # 15 networks, 4 blocks of 4
    generate(spec, root / "whole.zarr", **RUN)
    for i in (0, 1):  # two workers without a shared filesystem: one store each
        generate(spec, root / f"part{i}.zarr", process_index=i, process_count=2, **RUN)
    return root


def test_recompute_passes_on_a_genuine_store(stores, capsys):
    assert main(["verify", str(stores / "whole.zarr"), "--recompute", "3", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "recomputed 3 networks" in out and "ok" in out


def test_recompute_names_a_tampered_network(stores, tmp_path, capsys):
    bad = tmp_path / "bad.zarr"
    shutil.copytree(stores / "whole.zarr", bad)
    g = zarr.open_group(str(bad), mode="r+")
    old = g["params"][6]
    row = old.copy()
    row[100] += 1e-3  # one weight changed, rewritten with valid checksums
    g["params"][6] = row
    # the final snapshot slots no longer equal the final weights: verify names it
    assert any("snapshots/params: a slot after the network's last epoch" in p
               for p in verify(bad))
    snaps = g["snapshots/params"][6]
    snaps[(snaps == old).all(1)] = row  # ... unless they are edited alike
    g["snapshots/params"][6] = snaps
    assert verify(bad) == []  # checksums and invariants cannot see it
    assert main(["verify", str(bad), "--recompute", "15"]) == 1
    out = capsys.readouterr().out
    assert "network 6 (" in out and "params differs in 1 of 4364 values" in out
    assert "network 5 (" not in out
    r = recompute(bad, 15)
    assert len(r["mismatches"]) == 1 and r["networks"] == list(range(15))


def test_merge_of_two_halves_equals_the_whole_run(stores, tmp_path, capsys):
    out = tmp_path / "merged.zarr"
    assert main(["merge", str(out), str(stores / "part0.zarr"), str(stores / "part1.zarr")]) == 0
    assert "merged 4 finished blocks" in capsys.readouterr().out
    # complete, so finished like a generate run: the card and consolidated metadata
    assert "## Learnt shares" in zarr.open_group(str(out), mode="r").attrs["card"]
    assert "consolidated_metadata" in (out / "zarr.json").read_text()
    assert verify(out) == []
    a, b = open_store(out), open_store(stores / "whole.zarr")
    for name in ("status", "params", "epochs", "history/val_loss", "val_bit_accuracy",
                 "snapshots/params", "snapshots/reached", "probe/outputs"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_merge_refuses_overlap_other_spec_unfinished_and_existing_out(stores, tmp_path):
    p0, p1 = stores / "part0.zarr", stores / "part1.zarr"
    with pytest.raises(StoreError, match="also finished in"):
        merge(tmp_path / "m1.zarr", [p0, stores / "whole.zarr"])
    other = tmp_path / "other.zarr"
    # another seed: another spec (digest), trained by the same compiled programs
    generate(tiny_ds1(per_class=3, seed=1), other, process_index=1, process_count=2, **RUN)
    with pytest.raises(StoreError, match="spec differs"):
        merge(tmp_path / "m2.zarr", [p0, other])
    partial = tmp_path / "partial.zarr"
    shutil.copytree(p1, partial)
    g = zarr.open_group(str(partial), mode="r+")
    st = g["status"][:]
    st[4] = 0  # block 1 half pending: an unfinished part
    g["status"][:] = st
    with pytest.raises(StoreError, match="partly written"):
        merge(tmp_path / "m3.zarr", [p0, partial])
    with pytest.raises(StoreError, match="exists"):
        merge(p1, [p0, p1])
    older = tmp_path / "older.zarr"  # a part written by a version before format 3
    shutil.copytree(p1, older)
    shutil.rmtree(older / "restarts")
    g = zarr.open_group(str(older), mode="r+")
    g.attrs["mlds_jax"] = {**g.attrs["mlds_jax"], "format_version": 2}
    with pytest.raises(StoreError, match="format_version differs"):
        merge(tmp_path / "m4.zarr", [p0, older])
    narrow = tmp_path / "narrow.zarr"  # a part built with another --chunk-width
    generate(tiny_ds1(per_class=3), narrow, process_index=1, process_count=2,
             **{**RUN, "chunk_width": 2})
    with pytest.raises(StoreError, match=r"chunk_width differs .*\(2 vs 4: build every part "
                                         r"with the same `chunk_width`\)"):
        merge(tmp_path / "m5.zarr", [p0, narrow])
    assert not any((tmp_path / f"m{i}.zarr").exists() for i in (1, 2, 3, 4, 5))


def test_a_store_with_restarts_at_the_default_width_recomputes_bit_for_bit(tmp_path):
    spec = tiny_ds1(per_class=2, max_epochs=2, max_restarts=1)  # nothing learns in 2 epochs
    out = tmp_path / "restarts.zarr"
    generate(spec, out, block_size=10, progress=False)  # the default chunk width
    v = open_store(out)
    assert v.attrs["chunk_width"] == task_width(spec, block_size=10)
    np.testing.assert_array_equal(v["restarts"], 1)  # every network made its second attempt
    np.testing.assert_array_equal(v["epochs"], 4)
    r = recompute(out, 10)
    assert r["mismatches"] == [] and r["networks"] == list(range(10))
