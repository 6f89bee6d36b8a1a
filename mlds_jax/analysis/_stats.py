"""Honest test-set numbers: a deterministic split, fit on train, score on test, a bootstrap
interval clipped to the metric's range, chance, the majority baseline, n and a small-n
warning. Needs scikit-learn (``mlds-jax[analysis]``)."""

from __future__ import annotations

import numpy as np

TEST_SHARE = 0.25  # share of each label's networks held out (the analysis's own split)
MIN_TEST = 30  # fewer test networks than this: the report warns
MIN_TEST_PER_SIDE = 10  # AUROC: fewer test networks on either side than this: it warns
BOOTSTRAP = 1000  # resamples of the test set behind each 95% interval
MAX_COMPONENTS = 64  # flat weights are PCA-reduced to at most this many components
RANGES = {"accuracy": (0.0, 1.0), "auroc": (0.0, 1.0), "r2": (-np.inf, 1.0)}


def own_split(y: np.ndarray, key: np.ndarray, seed: int = 0, share: float = TEST_SHARE
              ) -> np.ndarray:
    """bool ``[n]``: True for test rows. Stratified by label ``y [n]`` (a regression target:
    by its quartile): within each label, the rows with the smallest draws of a generator
    seeded by ``seed``, drawn for each network's index in its store (``key [n]``), are held
    out, ``max(1, round(share * count))`` of them. Deterministic; a network's draw does not
    depend on which other networks are analysed."""
    y, key = np.asarray(y), np.asarray(key, np.int64)
    u = np.random.default_rng([seed, 0x5B17]).random(int(key.max(initial=0)) + 1)[key]
    test = np.zeros(len(y), bool)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        if len(rows) < 3:
            raise ValueError(f"need at least 3 networks per label for a train/test split, "
                             f"got {len(rows)} for label {label}")
        k = max(1, int(round(share * len(rows))))
        test[rows[np.argsort(u[rows], kind="stable")[:k]]] = True
    return test


def cv_folds(y: np.ndarray, key: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """int ``[n]``: each row's fold ``0..k-1`` for ``k``-fold cross-fitting, stratified by
    label ``y [n]``: within each label, rows ranked by the same seeded draw per network index
    (``key [n]``) as :func:`own_split` are dealt to the folds in turn. Networks with the same
    index in paired stores (same init and data order) rank alike and share a fold."""
    y, key = np.asarray(y), np.asarray(key, np.int64)
    u = np.random.default_rng([seed, 0x5B17]).random(int(key.max(initial=0)) + 1)[key]
    fold = np.zeros(len(y), np.int64)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        if len(rows) < k:
            raise ValueError(f"need at least {k} networks per label for {k} folds, got "
                             f"{len(rows)} for label {label}")
        fold[rows[np.argsort(u[rows], kind="stable")]] = np.arange(len(rows)) % k
    return fold


def strata(y: np.ndarray) -> np.ndarray:
    """Labels to stratify a regression target ``y [n]`` by: its quartile (``[n]`` int)."""
    edges = np.quantile(y, [0.25, 0.5, 0.75])
    return np.searchsorted(edges, y, side="right")


def _ranks(s: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(s, axis=-1)


def auroc_of(y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """AUROC of scores ``s [..., n]`` for binary labels ``y [..., n]`` (Mann-Whitney, ties
    counted half), over the leading axes."""
    r = _ranks(s)
    pos = y.sum(-1)
    neg = y.shape[-1] - pos
    return (np.sum(r * y, -1) - pos * (pos + 1) / 2) / (pos * neg)


def _score(metric: str, y: np.ndarray, pred: np.ndarray, var: float | None = None
           ) -> np.ndarray:
    """The metric over the leading axes of ``y, pred [..., n]``. R²: ``1 - MSE / var``,
    ``var`` the variance of ``y`` unless given (the bootstrap gives the whole test set's,
    so that a resample's R² is not biased low by its own smaller spread)."""
    if metric == "accuracy":
        return np.mean(y == pred, -1)
    if metric == "auroc":
        return auroc_of(y, pred)
    mse = np.mean((y - pred) ** 2, -1)
    var = np.var(y, -1) if var is None else np.asarray(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var > 0, 1 - mse / np.where(var > 0, var, 1), np.nan)


def bootstrap_ci(metric: str, y: np.ndarray, pred: np.ndarray, seed: int = 0,
                 n: int = BOOTSTRAP) -> list[float]:
    """95% percentile interval of ``metric`` over ``n`` resamples of the test set (AUROC:
    resampled within each side; R²: against the whole test set's variance), clipped to the
    metric's range."""
    rng = np.random.default_rng([seed, 0xB007])
    if metric == "auroc":
        parts = [np.flatnonzero(y == v) for v in (0, 1)]
        idx = np.concatenate([p[rng.integers(0, len(p), (n, len(p)))] for p in parts], 1)
    else:
        idx = rng.integers(0, len(y), (n, len(y)))
    vals = _score(metric, y[idx], pred[idx], float(np.var(y)) if metric == "r2" else None)
    vals = vals[np.isfinite(vals)]
    lo, hi = (np.percentile(vals, [2.5, 97.5]) if len(vals) else (np.nan, np.nan))
    a, b = RANGES[metric]
    return [float(np.clip(lo, a, b)), float(np.clip(hi, a, b))]


def _sk_models(metric: str, model: str, n_features: int, n_train: int, homogeneous: bool,
               seed: int):
    from sklearn.decomposition import PCA
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if model == "hgb":
        cls = HistGradientBoostingRegressor if metric == "r2" else HistGradientBoostingClassifier
        # bins: at most one per 4 training networks (16 to 255): small zoos fit fast
        return cls(max_iter=100, learning_rate=0.1, max_leaf_nodes=15, min_samples_leaf=5,
                   max_bins=int(np.clip(n_train // 4, 16, 255)), early_stopping=False,
                   random_state=seed)
    est = (RidgeCV(alphas=np.logspace(-2, 4, 13)) if metric == "r2"
           else LogisticRegression(C=1.0, max_iter=3000))
    if homogeneous and n_features > MAX_COMPONENTS:
        # flat weights: projected on their top components unscaled (standardising would
        # inflate every near-constant weight to unit variance and bury the signal)
        pca = PCA(min(MAX_COMPONENTS, n_train - 1), random_state=seed)
        return make_pipeline(pca, StandardScaler(), est)
    return make_pipeline(StandardScaler(), est)


def majority(metric: str, y_train: np.ndarray, y_test: np.ndarray) -> float:
    """The test score of a model that ignores its input: the training set's majority label
    (accuracy), a constant score (AUROC 0.5), the training mean (R²)."""
    if metric == "accuracy":
        labels, counts = np.unique(y_train, return_counts=True)
        return float(np.mean(y_test == labels[np.argmax(counts)]))
    if metric == "auroc":
        return 0.5
    return float(_score("r2", y_test, np.full(len(y_test), y_train.mean())))


def chance(metric: str, y: np.ndarray) -> float:
    """Uniform guessing: 1 / labels (accuracy), 0.5 (AUROC), 0 (R²)."""
    return 1.0 / len(np.unique(y)) if metric == "accuracy" else (0.5 if metric == "auroc"
                                                                 else 0.0)


def _fit_predict(metric: str, x: np.ndarray, y: np.ndarray, tr: np.ndarray, te: np.ndarray,
                 model: str, homogeneous: bool, seed: int) -> np.ndarray:
    """Fits on rows ``tr`` and predicts rows ``te``: labels (accuracy), the positive
    class's probability (AUROC) or values (R²) ``[te.sum()]``."""
    m = _sk_models(metric, model, x.shape[1], int(tr.sum()), homogeneous, seed)
    m.fit(x[tr], y[tr])
    return m.predict_proba(x[te])[:, 1] if metric == "auroc" else m.predict(x[te])


def fit_score(metric: str, x: np.ndarray, y: np.ndarray, test: np.ndarray, *,
              model: str = "linear", homogeneous: bool = False, seed: int = 0,
              confusion: bool = False, folds: np.ndarray | None = None) -> dict:
    """Fits ``model`` (``"linear"``: logistic / ridge regression, standardised, PCA first
    for ``homogeneous`` flat weights; ``"hgb"``: scikit-learn's HistGradientBoosting) on
    the train rows of ``x [n, features]``, ``y [n]`` and scores the ``test [n]`` rows.

    ``folds`` (int ``[n]``, :func:`cv_folds`): cross-fitting instead — each fold's rows are
    predicted by a model fit on the other folds, and the pooled predictions of all ``n``
    rows are scored (``test`` is then unused).

    Returns ``{metric: value, "ci95": [lo, hi]}`` (and ``"confusion"``, test labels x
    predictions, with ``confusion=True``).
    """
    if folds is None:
        yt, pred = y[test], _fit_predict(metric, x, y, ~test, test, model, homogeneous, seed)
    else:  # cross-fitted: every row predicted by the model of the folds it is not in
        yt, pred = y, np.zeros(len(y), np.float64 if metric != "accuracy" else y.dtype)
        for f in np.unique(folds):
            te = folds == f
            pred[te] = _fit_predict(metric, x, y, ~te, te, model, homogeneous, seed)
    value = float(_score(metric, yt, pred))
    out = {metric: value, "ci95": bootstrap_ci(metric, yt, pred, seed)}
    if confusion:
        labels = np.unique(y)
        out["confusion"] = [[int(np.sum((yt == a) & (pred == b))) for b in labels]
                            for a in labels]
    return out


def split_info(metric: str, y: np.ndarray, test: np.ndarray, how: str,
               folds: np.ndarray | None = None) -> dict:
    """What every family of one question shares: n, chance, majority baseline, the split,
    and a warning when the test set is below the stated minimum. With ``folds``
    (cross-fitting) every row is a test row and ``n_train`` is the smallest fold's
    training set; the majority baseline is pooled over the folds like the models."""
    if folds is not None:
        yt = y
        n_train = int(min(np.sum(folds != f) for f in np.unique(folds)))
        if metric == "auroc":
            maj = 0.5
        else:
            pred = np.zeros(len(y), np.float64)
            for f in np.unique(folds):
                te = folds == f
                if metric == "accuracy":
                    labels, counts = np.unique(y[~te], return_counts=True)
                    pred[te] = labels[np.argmax(counts)]
                else:
                    pred[te] = y[~te].mean()
            maj = float(_score(metric, y, pred))
        info = {"metric": metric, "split": how, "n_train": n_train, "n_test": int(len(y)),
                "chance": chance(metric, y), "majority": maj}
    else:
        yt = y[test]
        info = {"metric": metric, "split": how, "n_train": int((~test).sum()),
                "n_test": int(test.sum()), "chance": chance(metric, y),
                "majority": majority(metric, y[~test], yt)}
    if len(yt) < MIN_TEST:
        info["warning"] = (f"only {len(yt)} test networks (< {MIN_TEST}): the interval is "
                           "wide; read the number as indicative")
    elif metric == "auroc" and min(np.sum(yt == 0), np.sum(yt == 1)) < MIN_TEST_PER_SIDE:
        info["warning"] = (f"fewer than {MIN_TEST_PER_SIDE} test networks on one side: the "
                           "interval is wide; read the number as indicative")
    return info
