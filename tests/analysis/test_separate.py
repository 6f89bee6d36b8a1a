import pytest
from helpers import synthetic_store

pytest.importorskip("sklearn")

from mlds_jax.analysis import learnt_share, separate_pairs  # noqa: E402


def test_planted_difference_between_stores_is_found(tmp_path):
    a = synthetic_store(tmp_path / "a.zarr", planted=0.0, per_class=20, seed=0)
    b = synthetic_store(tmp_path / "b.zarr", planted=0.5, per_class=20, seed=1)
    rows = separate_pairs(a, b)
    assert [r["a"] for r in rows] == list(a.class_names)
    assert all(r["accuracy"] > 0.95 for r in rows), rows


def test_same_distribution_is_near_chance(tmp_path):
    a = synthetic_store(tmp_path / "a.zarr", planted=0.0, per_class=20, seed=0)
    b = synthetic_store(tmp_path / "b.zarr", planted=0.0, per_class=20, seed=1)
    rows = separate_pairs(a, b)
    assert all(abs(r["accuracy"] - 0.5) < 0.25 for r in rows), rows
    assert all(r["chance"] == 0.5 for r in rows)


def test_learnt_share(tmp_path):
    v = synthetic_store(tmp_path / "a.zarr", planted=0.0, per_class=20)
    share = learnt_share(v)
    acc, cls = v["val_bit_accuracy"], v["class_id"]
    assert share["ParityMachine"] == pytest.approx((acc[cls == 0] >= 0.99).mean())
