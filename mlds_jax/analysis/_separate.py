"""Does a classifier on flattened weights tell two stores' networks apart, class by class?

Reads stores only (NumPy + zarr + scikit-learn); never imports the trainer.
"""

from __future__ import annotations

import numpy as np

from mlds_jax.store import DONE, StoreView


def _sklearn():
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_score
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        msg = "this analysis needs scikit-learn: pip install 'mlds-jax[analysis]'"
        raise ImportError(msg) from None
    return LogisticRegression, StratifiedKFold, cross_val_score, make_pipeline, StandardScaler


def learnt_share(view: StoreView, threshold: float = 0.99) -> dict[str, float]:
    """Per class: share of done networks with validation bit accuracy >= ``threshold``."""
    acc, cls, st = view["val_bit_accuracy"], view["class_id"], view["status"]
    return {name: float(np.mean(acc[(cls == k) & (st == DONE)] >= threshold))
            for k, name in enumerate(view.class_names)}


def separate_pairs(a: StoreView, b: StoreView, folds: int = 5, seed: int = 0) -> list[dict]:
    """For class ``k`` of ``a`` vs class ``k`` of ``b`` (e.g. ParityMachine vs ParityModified):
    cross-validated accuracy of a standardised L2 logistic regression on flattened weights.

    Returns one dict per class pair: names, n per side, mean and std of fold accuracy, chance.
    """
    LogReg, KFold, cv_score, make_pipeline, Scaler = _sklearn()
    pa, pb = a["params"], b["params"]
    ca, cb = a["class_id"], b["class_id"]
    sa, sb = a["status"] == DONE, b["status"] == DONE
    rows = []
    for k, (na, nb) in enumerate(zip(a.class_names, b.class_names)):
        xa, xb = pa[(ca == k) & sa], pb[(cb == k) & sb]
        x = np.concatenate([xa, xb])
        y = np.r_[np.zeros(len(xa)), np.ones(len(xb))]
        model = make_pipeline(Scaler(), LogReg(C=1.0, max_iter=5000))
        scores = cv_score(model, x, y, cv=KFold(folds, shuffle=True, random_state=seed))
        rows.append({"a": na, "b": nb, "n_a": len(xa), "n_b": len(xb),
                     "accuracy": float(scores.mean()), "std": float(scores.std()),
                     "chance": float(max(len(xa), len(xb)) / len(x))})
    return rows
