import subprocess
import sys

import numpy as np
import pytest
from helpers import INVARIANT_BLOCKS, synthetic_store, tiny_ds1
from reference_numpy import torch_style_forward

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from mlds_jax.analysis import (  # noqa: E402
    AnalysisError,
    analyze,
    canonical_vector,
    canonical_weights,
    select,
)
from mlds_jax.analysis._canonical import permute_dense_units, permute_gru_units  # noqa: E402
from mlds_jax.cli import main  # noqa: E402
from mlds_jax.models import gru_layout  # noqa: E402
from mlds_jax.pipeline import planned_arrays  # noqa: E402
from mlds_jax.store import StoreWriter  # noqa: E402


def test_planted_class_difference_is_found(tmp_path):
    synthetic_store(tmp_path / "planted.zarr", planted=0.5, per_class=12,
                    blocks=INVARIANT_BLOCKS)  # readable through the canonical form's symmetries
    m = analyze([tmp_path / "planted.zarr"], tmp_path / "out", progress=False)
    res = m["questions"]["which class — planted.zarr"]
    assert res["families"]["canonical weights"]["accuracy"] == 1.0
    # identical loss curves and epochs everywhere: the non-weight control is at chance
    assert res["controls"]["non-weight fields"]["accuracy"] <= 0.4
    assert res["controls"]["non-weight fields"]["fields"] == [
        "epochs", "restarts", "learning_rate", "final_train_loss", "final_val_loss"]
    # held out: the store's canonical test split (Store.split), else 3 of each class's 12
    assert res["n_train"] + res["n_test"] == 60 and res["n_test"] >= 10
    assert res["headline"].startswith("accuracy 1.000 [1.000, 1.000] from canonical weights")
    conf = np.array(res["families"]["canonical weights"]["confusion"])
    assert conf.shape == (5, 5) and np.trace(conf) == conf.sum() == res["n_test"]
    assert conf.sum(1).min() >= 2  # every class in the test set
    pair = m["questions"]["SingleDirectMachine vs SingleInvertMachine — planted.zarr"]
    assert pair["families"]["canonical weights"]["auroc"] == 1.0
    assert pair["n_train"] + pair["n_test"] == 24 and pair["labels"] == [
        "SingleDirectMachine", "SingleInvertMachine"]
    report = (tmp_path / "out" / "report.md").read_text()
    assert report.startswith("# mlds-jax analysis") and "| layer statistics + HGB |" in report
    for f in ("embedding_planted.zarr.png", "learnt_planted.zarr.png",
              "confusion_which_class_planted.zarr.png"):
        assert (tmp_path / "out" / f).stat().st_size > 1000, f


def test_one_distribution_gives_chance(tmp_path):
    synthetic_store(tmp_path / "null.zarr", planted=0.0, per_class=12)
    m = analyze([tmp_path / "null.zarr"], tmp_path / "out", progress=False, plots=False)
    res = m["questions"]["which class — null.zarr"]
    for feat in ("canonical weights", "layer statistics"):
        assert res["families"][feat]["accuracy"] < 0.5, (feat, res)  # chance is 0.2
    assert res["chance"] == pytest.approx(0.2) and res["majority"] == pytest.approx(0.2)
    assert "interval does not clear chance" in res["headline"]
    assert res["warning"] == (f"only {res['n_test']} test networks (< 30): the interval is "
                              "wide; read the number as indicative")


def _random_network(seed):
    spec = tiny_ds1().model
    layout = gru_layout(spec)
    flat = np.random.default_rng(seed).normal(0, 0.5, layout.n_params).astype(np.float64)
    return layout, layout.unflatten(flat)


def test_permuted_copies_map_to_one_canonical_vector():
    layout, t = _random_network(1)
    order = [e.name for e in layout.entries]
    rng = np.random.default_rng(2)
    x = rng.integers(0, 2, (3, 6, 5)).astype(np.float64)
    want = canonical_vector(t, order)
    for _ in range(5):
        p = t
        for k in range(4):
            p = permute_gru_units(p, k, rng.permutation(12))
        for j, width in enumerate((27, 14, 8)):
            p = permute_dense_units(p, "fc", j, rng.permutation(width))
        # the permuted copy is the same function but a different vector ...
        np.testing.assert_allclose(torch_style_forward(p, x, 4), torch_style_forward(t, x, 4),
                                   rtol=1e-10, atol=1e-12)
        assert not np.array_equal(np.concatenate([p[n].ravel() for n in order]),
                                  np.concatenate([t[n].ravel() for n in order]))
        # ... and the same canonical vector
        np.testing.assert_array_equal(canonical_vector(p, order), want)
    # canonicalising keeps the function
    from mlds_jax.analysis import canonicalize

    np.testing.assert_allclose(torch_style_forward(canonicalize(t), x, 4),
                               torch_style_forward(t, x, 4), rtol=1e-10, atol=1e-12)


def test_distinct_networks_stay_distinct():
    layout, a = _random_network(3)
    _, b = _random_network(4)
    order = [e.name for e in layout.entries]
    assert not np.allclose(canonical_vector(a, order), canonical_vector(b, order))


def test_canonical_weights_from_a_store(tmp_path):
    v = synthetic_store(tmp_path / "s.zarr", planted=0.0, per_class=4)
    idx = select(v, classes=["ParityMachine"])
    assert canonical_weights(v, idx).shape == (4, 4364)


def test_bad_inputs_give_clear_messages(tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(AnalysisError, match="not a Zarr store"):
        analyze([tmp_path / "file.txt"], tmp_path / "o")
    assert main(["analyze", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such store" in err[0]
    # a half-written store is analysed on its finished networks, with a note
    synthetic_store(tmp_path / "half.zarr", planted=0.3, complete=False)
    m = analyze([tmp_path / "half.zarr"], tmp_path / "o", progress=False, plots=False)
    assert any("half-written (60 networks pending)" in n for n in m["notes"])
    # a store with nothing finished: nothing to answer
    spec = tiny_ds1(per_class=2)
    StoreWriter.open_or_create(tmp_path / "empty.zarr", spec, block_size=2,
                               layout=gru_layout(spec.model).to_records(),
                               planned=planned_arrays(spec), provenance={})
    # (a fresh --out: analyze refuses to write into the non-empty "o")
    assert main(["analyze", str(tmp_path / "empty.zarr"), "--out", str(tmp_path / "o2")]) == 2
    assert "nothing to answer" in capsys.readouterr().err


def test_analysis_does_not_import_the_trainer():
    code = ("import sys, mlds_jax.analysis; "
            "bad = [m for m in sys.modules if m == 'jax' or m.startswith('mlds_jax.train')"
            " or m.startswith('mlds_jax.coord') or m == 'optax']; print(bad); "
            "sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_loss_features_use_the_first_attempt_of_a_store_with_restarts():
    """Histories of a spec with restarts hold every attempt; the loss curve is sampled over
    the first, so a store with restarts has the same features as one without for networks
    that never restarted."""
    import zarr

    from mlds_jax.analysis._features import first_attempt_epochs, loss_features

    class View:  # the parts of a StoreView that loss_features reads
        def __init__(self, hist, max_restarts):
            self.group = {"history/val_loss": zarr.create_array(
                store=zarr.storage.MemoryStore(), data=hist)}
            self.attrs = {"spec": {"train": {"max_restarts": max_restarts}}}
            self._a = {"final_train_loss": np.array([0.1, 0.2]),
                       "final_val_loss": np.array([0.1, 0.3]), "epochs": np.array([7, 9])}

        def __getitem__(self, name):
            return self._a[name]

    rng = np.random.default_rng(0)
    first = rng.uniform(0.01, 1, (2, 30)).astype(np.float32)
    first[0, 7:] = np.nan  # network 0 stopped at epoch 7
    padded = np.concatenate([first, np.full((2, 60), np.nan, np.float32)], 1)
    padded[1, 30:39] = 0.5  # network 1 restarted: 9 more epochs
    with_restarts, plain = View(padded, 2), View(first, None)
    assert first_attempt_epochs(with_restarts) == first_attempt_epochs(plain) == 30
    idx = np.arange(2)
    np.testing.assert_array_equal(loss_features(with_restarts, idx), loss_features(plain, idx))
