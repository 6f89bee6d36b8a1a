"""Analysis that holds up: test-set numbers with intervals in range, controls that name
artefacts, loss curves that carry a stopped network forward, the same bits on 1 and 2 BLAS
threads. Small synthetic stores (weights built directly, nothing trained)."""

import json

import numpy as np
import pytest
import zarr
from analysis_stores import CORNER, TRIGGER, ds4_store
from helpers import run_python, synthetic_store

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from mlds_jax.analysis import (  # noqa: E402
    analyze,
    auroc,
    bootstrap_ci,
    carry_forward,
    classify,
    dead_pixels,
    fit_score,
    loss_curve_summary,
    own_split,
    select,
    trigger_pixels,
)
from mlds_jax.cli import main  # noqa: E402


def _pair(tmp_path, planted: float):
    c = ds4_store(tmp_path / "clean.zarr", "MNISTclean", 80, seed=1)
    b = ds4_store(tmp_path / "bad.zarr", "MNISTbadnet_alpha10", 80, seed=2, planted=planted)
    return c, b


def test_planted_trigger_region_artefact_is_named(tmp_path):
    """Clean and backdoored networks differ only in the trigger box's first-layer weights
    (dead in clean networks, trained in backdoored ones): detection is perfect, and the
    controls say it rests on that region."""
    c, b = _pair(tmp_path, planted=0.0)
    np.testing.assert_array_equal(trigger_pixels(b.attrs["spec"]), sorted(TRIGGER))
    assert trigger_pixels(c.attrs["spec"]) is None
    np.testing.assert_array_equal(dead_pixels(c, select(c)), sorted(CORNER + TRIGGER))
    m = analyze([c.path, b.path], tmp_path / "out", progress=False, plots=False)
    assert list(m["questions"]) == [  # "which dataset" would repeat the first question
        "backdoored vs clean — clean.zarr vs bad.zarr", "own accuracy — clean.zarr "
        "(clean_accuracy)", "own accuracy — bad.zarr (clean_accuracy)"]
    res = m["questions"]["backdoored vs clean — clean.zarr vs bad.zarr"]
    assert res["families"]["layer statistics"]["auroc"] >= 0.95
    assert res["controls"]["trigger region alone"]["auroc"] >= 0.95
    without = [r["auroc"] for k, r in res["controls"].items() if k.endswith("without them")]
    assert len(without) == 3 and max(without) < 0.8, res["controls"]
    assert res["removed"]["pixels"] == sorted(CORNER + TRIGGER)
    assert "rests on the trigger region (badnet: 9 pixels) and the 25 pixels dead in " \
           "clean networks" in res["headline"], res["headline"]


def test_a_real_difference_holds_without_the_artefact(tmp_path):
    """The same stores with a real difference planted elsewhere (the output bias): the
    headline says detection holds without the trigger region and the dead pixels."""
    c, b = _pair(tmp_path, planted=0.5)
    m = analyze([c.path, b.path], tmp_path / "out", progress=False, plots=False)
    res = m["questions"]["backdoored vs clean — clean.zarr vs bad.zarr"]
    assert res["controls"]["layer statistics without them"]["auroc"] == 1.0
    assert "holds without the trigger region" in res["headline"], res["headline"]
    assert "non-weight fields alone 0.500" in res["headline"]


def test_the_non_weight_control_names_a_training_length_confound(tmp_path):
    """Classes that differ in weights and in epochs alike: the headline says the
    non-weight fields answer the question as well (MLDS's DS2 training-length confound)."""
    v = synthetic_store(tmp_path / "s.zarr", planted=0.5, per_class=8)
    g = zarr.open_group(str(tmp_path / "s.zarr"), mode="r+")
    g["epochs"][:] = (3 + 2 * v["class_id"]).astype(np.int32)
    m = analyze([v.path], tmp_path / "out", progress=False, plots=False)
    res = m["questions"]["which class — s.zarr"]
    assert res["controls"]["non-weight fields"]["accuracy"] == 1.0
    assert "as high or higher: training length" in res["headline"]


def test_intervals_stay_in_their_metrics_range():
    rng = np.random.default_rng(0)
    for n in (4, 10, 40):
        y = np.r_[np.zeros(n // 2), np.ones(n - n // 2)].astype(int)
        for metric, pred in (("accuracy", y), ("auroc", y + 0.01 * rng.random(n)),
                             ("accuracy", rng.integers(0, 2, n)),
                             ("auroc", rng.random(n))):
            lo, hi = bootstrap_ci(metric, y, pred)
            assert 0 <= lo <= hi <= 1, (metric, n, lo, hi)
        r2 = bootstrap_ci("r2", rng.random(n), rng.random(n))
        assert r2[0] <= r2[1] <= 1
    # a perfect score: the interval is [1, 1], not past 1
    assert bootstrap_ci("accuracy", y, y) == [1.0, 1.0]
    # the cross-validated helpers clip their normal-approximation intervals too
    x = np.r_[rng.normal(0, 1, (20, 3)), rng.normal(3, 1, (20, 3))]
    yy = np.r_[np.zeros(20), np.ones(20)].astype(int)
    for r in (classify(x, yy), auroc(x, yy)):
        assert 0 <= r["ci95"][0] <= r["ci95"][1] <= 1, r


def test_own_split_is_stratified_deterministic_and_keyed_by_network():
    y = np.repeat(np.arange(3), 8)
    key = np.arange(24)
    test = own_split(y, key, seed=0)
    assert [int(test[y == k].sum()) for k in range(3)] == [2, 2, 2]
    np.testing.assert_array_equal(test, own_split(y, key, seed=0))
    assert not np.array_equal(test, own_split(y, key, seed=1))
    # a network's side does not depend on which others are analysed (one label: the
    # same networks remain held out when others join with another label)
    both = own_split(np.r_[np.zeros(8), np.ones(8)], np.r_[np.arange(8), np.arange(8, 16)])
    alone = own_split(np.zeros(8), np.arange(8))
    np.testing.assert_array_equal(both[:8], alone)
    with pytest.raises(ValueError, match="at least 3 networks per label"):
        own_split(np.array([0, 0, 1, 1, 1]), np.arange(5))
    r = fit_score("accuracy", np.c_[y, y].astype(float), y, test, confusion=True)
    assert r["accuracy"] == 1.0 and np.trace(r["confusion"]) == 6


def test_loss_curves_carry_a_stopped_network_forward():
    """One stuck network among five that stopped early: the summary equals the median of
    the carried-forward histories, not the stuck network's curve."""
    hist = np.full((5, 10), np.nan)
    hist[:4, :3] = [0.5, 0.2, 0.1]  # four networks learnt and stopped after 3 epochs
    hist[4] = 0.7  # one stuck network trained all 10
    filled = carry_forward(hist)
    np.testing.assert_array_equal(filled[:4, 3:], np.full((4, 7), 0.1))
    np.testing.assert_array_equal(filled[4], hist[4])
    s = loss_curve_summary(hist)
    np.testing.assert_array_equal(s["median"], np.median(filled, 0))
    assert s["median"][-1] == 0.1  # the median of only those still running would be 0.7
    np.testing.assert_array_equal(s["running"], [1, 1, 1] + [0.2] * 7)


def test_learnt_only_keeps_learnt_networks(tmp_path, capsys):
    v = ds4_store(tmp_path / "s.zarr", "MNISTclean", 30)  # learnt: clean accuracy >= 0.9
    learnt = v.learnt()
    assert 0 < learnt.sum() < len(learnt)
    assert main(["analyze", str(v.path), "--out", str(tmp_path / "o"), "--learnt-only",
                 "--no-plots", "--quiet"]) == 0
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["learnt_only"] is True and m["plots"] == []
    res = m["questions"]["own accuracy — s.zarr (clean_accuracy)"]
    assert res["n_train"] + res["n_test"] == int(learnt.sum())
    assert "learnt networks only" in capsys.readouterr().out


CODE = """
import sys
from mlds_jax.analysis import analyze
analyze([sys.argv[1]], sys.argv[2], progress=False, plots=False)
"""


def test_report_is_identical_under_1_and_2_blas_threads(tmp_path):
    """The same store and seed give the same metrics.json, byte for byte, whatever
    OPENBLAS_NUM_THREADS / OMP_NUM_THREADS say: analyze pins them (and records it)."""
    synthetic_store(tmp_path / "s.zarr", planted=0.3, per_class=8)
    out = {}
    for t in ("1", "2"):
        run_python(CODE, str(tmp_path / "s.zarr"), str(tmp_path / f"o{t}"),
                   OPENBLAS_NUM_THREADS=t, OMP_NUM_THREADS=t)
        out[t] = (tmp_path / f"o{t}" / "metrics.json").read_bytes()
    assert out["1"] == out["2"]
    m = json.loads(out["1"])
    assert m["threads"]["limit"] == 1
    assert {x["num_threads"] for x in m["threads"]["libraries"]} == {1}
    assert {x["user_api"] for x in m["threads"]["libraries"]} == {"blas", "openmp"}


def test_probe_outputs_are_a_family_where_the_store_has_them(tmp_path):
    """A store with ``probe/outputs`` ``[network, snapshot, probe, ...]``: the family reads
    the last snapshot (planted: class k's outputs on probe k are high there, and only
    there)."""
    v = synthetic_store(tmp_path / "s.zarr", planted=0.0, per_class=8)
    rng = np.random.default_rng(0)
    out = rng.normal(0, 1, (40, 2, 5, 3)).astype(np.float32)
    out[np.arange(40), 1, v["class_id"], :] += 10
    g = zarr.open_group(str(tmp_path / "s.zarr"), mode="r+")
    g.create_array("probe/outputs", data=out)
    m = analyze([v.path], tmp_path / "out", progress=False, plots=False)
    fams = m["questions"]["which class — s.zarr"]["families"]
    assert list(fams) == ["canonical weights", "layer statistics", "layer statistics + HGB",
                          "probe outputs"]
    assert fams["probe outputs"]["accuracy"] == 1.0
    assert fams["canonical weights"]["accuracy"] < 0.8  # nothing planted in the weights


def test_learnt_only_names_the_classes_left(tmp_path):
    """A class with no learnt network drops out of --learnt-only's class question: its
    labels and confusion matrix name the four classes left."""
    v = synthetic_store(tmp_path / "s.zarr", planted=0.5, per_class=8)
    g = zarr.open_group(str(tmp_path / "s.zarr"), mode="r+")
    g["learnt"][:] = v["class_id"] != 1  # EightBitMachine never learnt
    m = analyze([v.path], tmp_path / "out", progress=False, learnt_only=True, plots=False)
    res = m["questions"]["which class — s.zarr"]
    assert res["labels"] == ["ParityMachine", "SimpleXORMachine", "SingleDirectMachine",
                             "SingleInvertMachine"]
    assert np.shape(res["families"]["canonical weights"]["confusion"]) == (4, 4)
