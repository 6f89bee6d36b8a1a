"""A learning-rate grid end to end: `generate --learning-rate-grid` stores each network's
rate and the grid, and `analyze` asks "which learning rate?" from the weights."""

import json

import numpy as np
import pytest
import zarr

from mlds_jax.cli import main


@pytest.fixture
def tiny_recipe(monkeypatch):
    from helpers import tiny_ds1

    from mlds_jax.spec import _recipes

    monkeypatch.setitem(_recipes.RECIPES, "ds1",
                        lambda per_class, seed=0, **kw: tiny_ds1(per_class, **kw))


def test_grid_zoo_stores_rates_and_analysis_asks_which(tmp_path, capsys, tiny_recipe):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    out = tmp_path / "z.zarr"
    assert main(["generate", "ds1", "--per-class", "6", "--learning-rate-grid", "0.001,0.1",
                 "--block-size", "30", "--quiet", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "learning_rate grid: 0.001, 0.1" in text
    assert "learning rate | planned | done" in text  # the per-rate table

    g = zarr.open_group(str(out), mode="r")
    attrs = g.attrs["mlds_jax"]
    assert attrs["grid"] == {"learning_rate": [0.001, 0.1]}
    assert attrs["spec"]["train"]["learning_rate_grid"] == [0.001, 0.1]
    rep = np.asarray(g["replicate"][:])
    np.testing.assert_array_equal(g["learning_rate"][:],
                                  np.float32([0.001, 0.1])[rep % 2])

    assert main(["analyze", str(out), "--out", str(tmp_path / "an"), "--quiet"]) == 0
    m = json.loads((tmp_path / "an" / "metrics.json").read_text())
    res = m["questions"]["which learning rate — z.zarr"]
    assert res["chance"] == pytest.approx(0.5) and res["n_train"] + res["n_test"] == 30
    # 8 Adam steps of 0.001 vs 0.1 move the weights very differently: far above chance
    assert res["families"]["layer statistics"]["accuracy"] > 0.8, res
    # the stored rate is the answer itself: the non-weight control leaves it out
    assert "learning_rate" not in res["controls"]["non-weight fields"]["fields"]
    assert "## which learning rate — z.zarr" in (tmp_path / "an" / "report.md").read_text()


def test_grid_flag_refuses_learning_rate(tmp_path, capsys):
    code = main(["generate", "ds1", "--per-class", "2", "--learning-rate", "0.1",
                 "--learning-rate-grid", "0.01,0.03", "--out", str(tmp_path / "x")])
    assert code == 2
    assert "cannot be combined with --learning-rate" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):
        main(["generate", "ds1", "--per-class", "2", "--learning-rate-grid", "0.01,x",
              "--out", str(tmp_path / "x")])


def test_plan_names_the_grid(capsys):
    assert main(["plan", "ds1", "--per-class", "4", "--learning-rate-grid", "0.003,0.01",
                 "--block-size", "20", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["grids"] == {"learning_rate": [0.003, 0.01]}
