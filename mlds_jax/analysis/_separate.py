"""Does a classifier on flattened weights tell two stores' networks apart, class by class?

Reads stores only (NumPy + zarr + scikit-learn); never imports the trainer.
"""

from __future__ import annotations

import numpy as np

from mlds_jax.analysis._features import flat_weights, select
from mlds_jax.analysis._questions import classify
from mlds_jax.store import DONE, StoreView


def learnt_share(view: StoreView, threshold: float | None = None) -> dict[str, float]:
    """Per class: share of done networks that learnt (``Store.learnt``), or, with
    ``threshold``, whose validation bit accuracy is at least ``threshold``."""
    if threshold is None:
        return view.learnt_share()
    acc, cls, st = view["val_bit_accuracy"], view["class_id"], view["status"]
    return {name: float(np.mean(acc[(cls == k) & (st == DONE)] >= threshold))
            for k, name in enumerate(view.class_names)}


def separate_pairs(a: StoreView, b: StoreView) -> list[dict]:
    """For class ``k`` of ``a`` vs class ``k`` of ``b`` (e.g. ParityMachine vs ParityModified):
    cross-validated accuracy of a classifier on flattened weights (see :func:`classify`).

    Returns one dict per class pair: names, n per side, accuracy, its 95% CI and chance.
    """
    rows = []
    for na, nb in zip(a.class_names, b.class_names):
        ia, ib = select(a, classes=na), select(b, classes=nb)
        x = np.concatenate([flat_weights(a, ia), flat_weights(b, ib)])
        y = np.r_[np.zeros(len(ia)), np.ones(len(ib))].astype(int)
        rows.append({"a": na, "b": nb, "n_a": len(ia), "n_b": len(ib),
                     **classify(x, y, homogeneous=True)})
    return rows
