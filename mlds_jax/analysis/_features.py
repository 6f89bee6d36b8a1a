"""Loading and featurising a store's networks (NumPy only; reads stores, never trains)."""

from __future__ import annotations

import numpy as np

from mlds_jax.analysis._canonical import canonical_vector
from mlds_jax.store import StoreView

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def select(view: StoreView, *, classes=None, status: str | None = "done",
           where: dict[str, tuple[float, float]] | None = None) -> np.ndarray:
    """Indices of networks by class name(s), status and metric ranges.

    Example: ``select(v, classes=["ParityMachine"], where={"val_bit_accuracy": (0.99, 1)})``.
    """
    keep = np.ones(int(view.attrs["n_networks"]), bool)
    if status is not None:
        code = {"pending": 0, "done": 1, "failed": 2}[status]
        keep &= view["status"] == code
    if classes is not None:
        names = [classes] if isinstance(classes, str) else list(classes)
        unknown = set(names) - set(view.class_names)
        if unknown:
            raise KeyError(f"unknown class(es) {sorted(unknown)}; store has {view.class_names}")
        ids = [view.class_names.index(c) for c in names]
        keep &= np.isin(view["class_id"], ids)
    for metric, (lo, hi) in (where or {}).items():
        v = view[metric]
        keep &= (v >= lo) & (v <= hi)
    return np.flatnonzero(keep)


def to_xarray(view: StoreView):
    """The store's per-network arrays as an ``xarray.Dataset`` (needs xarray)."""
    import xarray as xr

    data = {}
    for name in ("class_id", "status", "epochs", "final_train_loss", "final_val_loss"):
        data[name] = ("network", view[name])
    ds = xr.Dataset(data, coords={"network": np.arange(int(view.attrs["n_networks"]))})
    ds["params"] = (("network", "parameter"), view["params"])
    ds["val_loss_history"] = (("network", "epoch"), view["history/val_loss"])
    ds.attrs["class_names"] = view.class_names
    return ds


def flat_weights(view: StoreView, idx: np.ndarray) -> np.ndarray:
    """``[n, n_params]`` float32."""
    return np.asarray(view.group["params"].get_orthogonal_selection((idx, slice(None))))


def _tensors(flat: np.ndarray, layout: list[dict]) -> dict[str, np.ndarray]:
    return {e["name"]: flat[e["offset"]:e["offset"] + e["size"]].reshape(e["shape"])
            for e in layout}


def layer_stats(view: StoreView, idx: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Per tensor: mean, variance, quantiles, L1/L2/max norms (the Small CNN Zoo features).

    Returns ``([n, n_features], feature names)``.
    """
    w = flat_weights(view, idx)
    cols, names = [], []
    for e in view.layout:
        x = w[:, e["offset"]:e["offset"] + e["size"]].astype(np.float64)
        q = np.quantile(x, QUANTILES, axis=1).T
        cols += [x.mean(1, keepdims=True), x.var(1, keepdims=True), q,
                 np.abs(x).sum(1, keepdims=True), np.linalg.norm(x, axis=1, keepdims=True),
                 np.abs(x).max(1, keepdims=True)]
        names += [f"{e['name']}:{s}" for s in ("mean", "var", *(f"q{q:g}" for q in QUANTILES),
                                               "l1", "l2", "max")]
    return np.concatenate(cols, 1), names


def canonical_weights(view: StoreView, idx: np.ndarray) -> np.ndarray:
    """``[n, n_params]``: each network in its permutation-canonical form."""
    w = flat_weights(view, idx)
    order = [e["name"] for e in view.layout]
    return np.stack([canonical_vector(_tensors(row, view.layout), order) for row in w])


def loss_features(view: StoreView, idx: np.ndarray) -> np.ndarray:
    """The loss-only baseline: final train/val loss, epochs, and the val-loss curve at 10
    evenly spaced points (NaN after the last epoch filled with the last value)."""
    hist = np.asarray(view.group["history/val_loss"].get_orthogonal_selection(
        (idx, slice(None))), np.float64)
    last = np.where(np.isnan(hist), -np.inf, np.arange(hist.shape[1])[None]).argmax(1)
    filled = np.where(np.isnan(hist), hist[np.arange(len(hist)), last][:, None], hist)
    points = filled[:, np.linspace(0, hist.shape[1] - 1, 10).astype(int)]
    base = np.stack([view["final_train_loss"][idx], view["final_val_loss"][idx],
                     view["epochs"][idx].astype(np.float64)], 1)
    return np.nan_to_num(np.concatenate([base, np.log1p(points)], 1))
