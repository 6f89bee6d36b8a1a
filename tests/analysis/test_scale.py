"""Analysis at scale: per-class samples, batched features equal to per-network ones."""

import numpy as np
import pytest
from helpers import INVARIANT_BLOCKS, synthetic_store, tiny_ds1

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from mlds_jax.analysis import analyze, canonical_vector, select  # noqa: E402
from mlds_jax.analysis._canonical import canonicalize_batch  # noqa: E402
from mlds_jax.analysis._features import (  # noqa: E402
    BATCH,
    canonical_weights,
    flat_weights,
    layer_stats,
    weight_features,
)
from mlds_jax.models import gru_layout, mlp_layout  # noqa: E402


@pytest.mark.parametrize("layout", [gru_layout(tiny_ds1().model), mlp_layout((784, 16, 8, 10))],
                         ids=["gru", "dense"])
def test_batched_canonical_form_equals_one_network_at_a_time(layout):
    order = [e.name for e in layout.entries]
    flat = np.random.default_rng(0).normal(0, 0.5, (7, layout.n_params)).astype(np.float32)
    c = canonicalize_batch(layout.unflatten(flat))
    got = np.concatenate([c[n].reshape(7, -1) for n in order], 1)
    want = np.stack([canonical_vector(layout.unflatten(row), order) for row in flat])
    np.testing.assert_array_equal(got, want)


def test_sample_per_class_and_batched_features(tmp_path):
    v = synthetic_store(tmp_path / "s.zarr", 0.5, per_class=12)
    idx = select(v, sample=5, seed=1)
    assert len(idx) == 25 and np.all(np.bincount(v["class_id"][idx]) == 5)
    assert np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(idx, select(v, sample=5, seed=1))  # seeded
    assert not np.array_equal(idx, select(v, sample=5, seed=2))
    f = weight_features(v, idx, batch=4)  # several batches, the last one partial
    np.testing.assert_array_equal(f["weights"], flat_weights(v, idx))
    np.testing.assert_array_equal(f["canonical weights"], canonical_weights(v, idx))
    np.testing.assert_allclose(f["layer statistics"], layer_stats(v, idx)[0])
    assert BATCH >= 4


def test_analyze_on_a_sample(tmp_path):
    synthetic_store(tmp_path / "planted.zarr", planted=0.5, per_class=8, blocks=INVARIANT_BLOCKS)
    m = analyze([tmp_path / "planted.zarr"], tmp_path / "out", progress=False, sample=4)
    assert m["sample_per_class"] == 4
    assert any("random sample of 20 of its 40" in n for n in m["notes"])
    res = m["questions"]["which class — planted.zarr"]
    assert res["n_train"] + res["n_test"] == 20
    assert res["families"]["canonical weights"]["accuracy"] == 1.0
    assert (tmp_path / "out" / "embedding_planted.zarr.png").stat().st_size > 1000
