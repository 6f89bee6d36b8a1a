"""MLDS's weight-space questions, each cross-validated, with a confidence interval, chance
level and a loss-only baseline. Needs scikit-learn (``mlds-jax[analysis]``)."""

from __future__ import annotations

import numpy as np

FOLDS = 5


def _sk():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ImportError("analysis needs scikit-learn: pip install 'mlds-jax[analysis]'"
                          ) from None
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return (LogisticRegression, RidgeCV, KFold, StratifiedKFold, cross_val_predict,
            make_pipeline, StandardScaler)


MAX_COMPONENTS = 64


def _pipeline(estimator, n_features: int, n_train: int, homogeneous: bool):
    """Features in one unit with more dimensions than the data supports (flat weights:
    thousands of parameters, hundreds of networks) are first projected on their top
    principal components, unscaled — standardising would inflate every near-constant weight
    to unit variance and bury the signal. Heterogeneous features (statistics, losses, a few
    hundred at most) are standardised and regularised instead."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if homogeneous and n_features > MAX_COMPONENTS:
        pca = PCA(min(MAX_COMPONENTS, n_train - 1), random_state=0)
        return make_pipeline(pca, StandardScaler(), estimator)
    return make_pipeline(StandardScaler(), estimator)


def _ci(scores: np.ndarray, lo: float = 0.0, hi: float = 1.0) -> tuple[float, float, float]:
    """Mean and a 95% normal-approximation interval over folds, clipped to ``[lo, hi]``
    (the metric's range)."""
    m, s = float(np.mean(scores)), float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0
    half = 1.96 * s / np.sqrt(len(scores))
    return m, max(m - half, lo), min(m + half, hi)


def classify(x: np.ndarray, y: np.ndarray, seed: int = 0, homogeneous: bool = False) -> dict:
    """Cross-validated accuracy of a standardised (and, for many features, PCA-reduced)
    logistic regression: mean, 95% CI, chance (the majority share), folds, n."""
    LogReg, _, _, SKFold, _, make_pipeline, Scaler = _sk()
    classes, counts = np.unique(y, return_counts=True)
    folds = int(min(FOLDS, counts.min()))
    if len(classes) < 2 or folds < 2:
        raise ValueError("need at least 2 classes with 2 networks each")
    scores = []
    for tr, te in SKFold(folds, shuffle=True, random_state=seed).split(x, y):
        model = _pipeline(LogReg(C=1.0, max_iter=3000), x.shape[1], len(tr), homogeneous)
        model.fit(x[tr], y[tr])
        scores.append(model.score(x[te], y[te]))
    m, lo, hi = _ci(np.asarray(scores))
    return {"accuracy": m, "ci95": [lo, hi], "chance": float(counts.max() / counts.sum()),
            "folds": folds, "n": int(len(y))}


def auroc(x: np.ndarray, y: np.ndarray, seed: int = 0, homogeneous: bool = False) -> dict:
    """Cross-validated AUROC of a binary logistic regression (0.5 = chance)."""
    from sklearn.metrics import roc_auc_score

    LogReg, _, _, SKFold, _, make_pipeline, Scaler = _sk()
    folds = int(min(FOLDS, np.bincount(y.astype(int)).min()))
    if folds < 2:
        raise ValueError("need at least 2 networks per side")
    scores = []
    for tr, te in SKFold(folds, shuffle=True, random_state=seed).split(x, y):
        model = _pipeline(LogReg(C=1.0, max_iter=3000), x.shape[1], len(tr), homogeneous).fit(x[tr],
                                                                                  y[tr])
        scores.append(roc_auc_score(y[te], model.predict_proba(x[te])[:, 1]))
    m, lo, hi = _ci(np.asarray(scores))
    return {"auroc": m, "ci95": [lo, hi], "chance": 0.5, "folds": folds, "n": int(len(y))}


def regress(x: np.ndarray, y: np.ndarray, seed: int = 0, homogeneous: bool = False) -> dict:
    """Cross-validated R² of a standardised ridge regression (0 = predicting the mean)."""
    _, RidgeCV, KFold, _, _, make_pipeline, Scaler = _sk()
    folds = int(min(FOLDS, len(y)))
    scores = []
    for tr, te in KFold(folds, shuffle=True, random_state=seed).split(x):
        model = _pipeline(RidgeCV(alphas=np.logspace(-2, 4, 13)), x.shape[1], len(tr),
                          homogeneous)
        model.fit(x[tr], y[tr])
        pred = model.predict(x[te])
        ss = np.sum((y[te] - y[te].mean()) ** 2)
        scores.append(1 - np.sum((y[te] - pred) ** 2) / ss if ss > 0 else 0.0)
    m, lo, hi = _ci(np.asarray(scores), -np.inf, 1.0)
    return {"r2": m, "ci95": [lo, hi], "chance": 0.0, "folds": folds, "n": int(len(y))}
