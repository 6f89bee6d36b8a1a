import numpy as np
import pytest

pytest.importorskip("sklearn")

from mlds_jax.analysis import learnt_share, separate_pairs  # noqa: E402


class FakeStore:
    """The slice of StoreView the analysis reads."""

    def __init__(self, params, class_id, names, acc=None):
        self.arrays = {"params": params, "class_id": class_id,
                       "status": np.ones(len(params), np.uint8),
                       "val_bit_accuracy": acc if acc is not None else np.ones(len(params))}
        self.class_names = names

    def __getitem__(self, k):
        return self.arrays[k]


def _stores(shift, n=40, d=50, seed=0):
    rng = np.random.default_rng(seed)
    cls = np.repeat([0, 1], n)
    a = FakeStore(rng.normal(size=(2 * n, d)), cls, ["A0", "A1"])
    pb = rng.normal(size=(2 * n, d))
    pb[:, :5] += shift  # planted difference in five weights
    b = FakeStore(pb, cls, ["B0", "B1"])
    return a, b


def test_planted_difference_is_found():
    rows = separate_pairs(*_stores(shift=3.0))
    assert [(r["a"], r["b"]) for r in rows] == [("A0", "B0"), ("A1", "B1")]
    assert all(r["accuracy"] > 0.95 for r in rows)


def test_same_distribution_is_near_chance():
    rows = separate_pairs(*_stores(shift=0.0))
    assert all(abs(r["accuracy"] - 0.5) < 0.2 for r in rows)
    assert all(r["chance"] == 0.5 for r in rows)


def test_learnt_share():
    s = FakeStore(np.zeros((4, 2)), np.array([0, 0, 1, 1]), ["x", "y"],
                  acc=np.array([1.0, 0.5, 0.995, 0.99]))
    assert learnt_share(s) == {"x": 0.5, "y": 1.0}
