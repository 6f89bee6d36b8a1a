"""A DS4 poison fraction grid end to end: `generate --poison-fraction-grid` poisons each
network with its own fraction, stores it and the grid, `status` shows a row per fraction and
`analyze` asks "which poison fraction?" from the weights."""

import json
import re
import shutil

import numpy as np
import pytest
import zarr

from mlds_jax.cli import main

GRID = [0.05, 0.3]


def test_poison_grid_zoo_end_to_end(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from mlds_jax.spec import ds4
    from mlds_jax.store import verify
    from mlds_jax.tasks._images import load_images

    out = tmp_path / "pz.zarr"
    assert main(["generate", "MNISTbadnet_alpha10", "--image-set", "digits", "--per-class",
                 "4", "--poison-fraction-grid", "0.05,0.3", "--max-epochs", "1",
                 "--block-size", "4", "--quiet", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "poison_fraction grid: 0.05, 0.3" in text
    assert "poison fraction | planned | done | median clean acc | median ASR | backdoor took" \
        in text

    g = zarr.open_group(str(out), mode="r")
    attrs = g.attrs["mlds_jax"]
    assert attrs["grid"] == {"poison_fraction": GRID}
    assert attrs["spec"]["poison"]["fraction_grid"] == GRID
    assert "fraction_grid" not in attrs["spec"]["eval_trigger"]
    fractions = np.asarray(g["poison_fraction"][:])
    np.testing.assert_array_equal(fractions, np.float32(GRID * 2))
    # each network saw exactly its own fraction of each label
    counts = np.bincount(load_images(ds4("MNISTclean", 1, image_set="digits"))["train_labels"],
                         minlength=10)
    want = [int(np.round(counts * f).sum()) for f in GRID] * 2
    np.testing.assert_array_equal(g["poisoned_samples"][:], want)
    assert verify(out) == []
    # a network is a pure function of (spec, index): retraining reproduces its bits
    from mlds_jax.workunits import verify_record

    rec = verify_record(str(out), recompute_k=2, seed=0)
    assert rec["ok"] and len(rec["recomputed"]) == 2, rec

    assert main(["status", "--json", str(out)]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    assert [(r["value"], r["planned"], r["done"]) for r in rec["grid"]] == \
        [(0.05, 2, 2), (0.3, 2, 2)]
    assert {"median_clean_accuracy", "median_attack_success_rate", "backdoor_took",
            "learnt"} <= set(rec["grid"][0])

    # the array belongs to the layout of a store with the grid: verify misses it
    broken = tmp_path / "broken.zarr"
    shutil.copytree(out, broken)
    shutil.rmtree(broken / "poison_fraction")
    assert any(p.startswith("poison_fraction: missing array") for p in verify(broken))

    assert main(["analyze", str(out), "--out", str(tmp_path / "an"), "--quiet"]) == 0
    m = json.loads((tmp_path / "an" / "metrics.json").read_text())
    res = m["questions"]["which poison fraction — pz.zarr"]
    # 2 networks per fraction: too few for a held-out test split, and the report says so
    assert res == {"skipped": "need at least 3 networks per label for a train/test split, "
                              "got 2 for label 0"}
    assert "## which poison fraction — pz.zarr" in (tmp_path / "an" / "report.md").read_text()


@pytest.mark.parametrize("args, match", [
    (["ds1", "--per-class", "2"], "ds1 is a sequence dataset"),
    (["MNISTclean", "--per-class", "2"], "MNISTclean is a clean dataset"),
    (["MNISTbadnet_alpha10", "--per-class", "2", "--learning-rate-grid", "0.001,0.003"],
     "cannot be combined with a learning-rate grid"),
    (["MNISTbadnet_alpha10", "--per-class", "2", "--poison-fraction-grid", "0.1,0.7"],
     r"`PoisonSpec.fraction_grid\[1\]`: expected a share in \(0, 0.5\]"),
])
def test_grid_flag_refusals(tmp_path, capsys, args, match):
    extra = [] if "--poison-fraction-grid" in args else ["--poison-fraction-grid", "0.05,0.2"]
    code = main(["generate", *args, *extra, "--out", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(match, err), err
    assert not (tmp_path / "x").exists()
