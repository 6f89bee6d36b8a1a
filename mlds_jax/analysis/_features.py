"""Loading and featurising a store's networks (NumPy only; reads stores, never trains).

Every feature is computed in batches of networks, vectorised within a batch, so memory is
the output (``[n, n_params]`` float32 for weight features) plus one batch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlds_jax.analysis._canonical import canonicalize_batch
from mlds_jax.spec import stored_attempts
from mlds_jax.store import StoreView

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
BATCH = 512  # networks featurised together


def select(view: StoreView, *, classes=None, status: str | None = "done",
           where: dict[str, tuple[float, float]] | None = None,
           sample: int | None = None, seed: int = 0, learnt_only: bool = False
           ) -> np.ndarray:
    """Indices ``[n]`` (sorted) of networks by class name(s), status and metric ranges.

    ``sample``: keep at most this many per class, drawn at random (seeded by ``seed``).
    ``learnt_only``: only networks that learnt (``Store.learnt``).

    Example: ``select(v, classes=["ParityMachine"], where={"val_bit_accuracy": (0.99, 1)})``.
    """
    keep = np.ones(int(view.attrs["n_networks"]), bool)
    if status is not None:
        code = {"pending": 0, "done": 1, "failed": 2}[status]
        keep &= view["status"] == code
    cls = view["class_id"]
    if classes is not None:
        names = [classes] if isinstance(classes, str) else list(classes)
        unknown = set(names) - set(view.class_names)
        if unknown:
            raise KeyError(f"unknown class(es) {sorted(unknown)}; store has {view.class_names}")
        ids = [view.class_names.index(c) for c in names]
        keep &= np.isin(cls, ids)
    if learnt_only:
        keep &= view.learnt()
    for metric, (lo, hi) in (where or {}).items():
        v = view[metric]
        keep &= (v >= lo) & (v <= hi)
    idx = np.flatnonzero(keep)
    if sample is not None:
        rng = np.random.default_rng(seed)
        parts = [rng.permutation(idx[cls[idx] == k])[:sample] for k in np.unique(cls[idx])]
        idx = np.sort(np.concatenate(parts)) if parts else idx
    return idx


def to_xarray(view: StoreView):
    """The store's per-network arrays as a lazy ``xarray.Dataset`` (needs xarray); see
    :meth:`mlds_jax.store.Store.to_xarray`."""
    from mlds_jax.store import open_store

    return open_store(view.path).to_xarray()


def read_rows(arr, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` of a ``[network, ...]`` Zarr array, read one stored chunk (or shard) of
    networks at a time so that only one is ever decompressed at once."""
    idx = np.asarray(idx, np.int64)
    step = (arr.shards or arr.chunks)[0]
    out = np.empty((len(idx), *arr.shape[1:]), arr.dtype)
    blocks = idx // step
    for b in np.unique(blocks):
        m = blocks == b
        out[m] = arr.get_orthogonal_selection((idx[m], *[slice(None)] * (arr.ndim - 1)))
    return out


def flat_weights(view: StoreView, idx: np.ndarray) -> np.ndarray:
    """``[n, n_params]`` float32."""
    return read_rows(view.group["params"], idx)


def _unflatten(w: np.ndarray, layout: list[dict]) -> dict[str, np.ndarray]:
    """``[n, n_params]`` -> ``{name: [n, *shape]}`` (views, no copy)."""
    return {e["name"]: w[:, e["offset"]:e["offset"] + e["size"]].reshape(len(w), *e["shape"])
            for e in layout}


def _stats(w: np.ndarray, layout: list[dict]) -> np.ndarray:
    """Per tensor of each row of ``w [n, n_params]``: mean, variance, quantiles, L1, L2, max."""
    cols = []
    for e in layout:
        x = w[:, e["offset"]:e["offset"] + e["size"]].astype(np.float64)
        q = np.quantile(x, QUANTILES, axis=1).T
        cols += [x.mean(1, keepdims=True), x.var(1, keepdims=True), q,
                 np.abs(x).sum(1, keepdims=True), np.linalg.norm(x, axis=1, keepdims=True),
                 np.abs(x).max(1, keepdims=True)]
    return np.concatenate(cols, 1)


def stat_names(layout: list[dict]) -> list[str]:
    return [f"{e['name']}:{s}" for e in layout
            for s in ("mean", "var", *(f"q{q:g}" for q in QUANTILES), "l1", "l2", "max")]


def odd_head(view: StoreView) -> bool:
    """Whether the store's network has a head of an odd activation (a GRU spec's
    ``head_activation`` tanh, the default), whose units the canonical form sign-fixes too."""
    model = (view.attrs.get("spec") or {}).get("model") or {}
    return model.get("head_activation", "tanh" if "hidden_size" in model else None) == "tanh"


def _canonical(w: np.ndarray, layout: list[dict], odd: bool = False) -> np.ndarray:
    c = canonicalize_batch(_unflatten(w, layout), odd_head=odd)
    return np.concatenate([c[e["name"]].reshape(len(w), -1) for e in layout], 1)


def _signed(layout: list[dict], odd: bool) -> bool:
    """Whether the network has units whose sign the canonical form fixes (GRU layers, or an
    odd head): its layer statistics are then taken of the canonical weights, since a raw
    tensor's quantiles and mean change when a unit is negated. Other networks' statistics
    (permutation-invariant already) are taken of the raw weights."""
    return odd or any(e["name"].startswith("gru.") for e in layout)


def snapshot_weights(view: StoreView, idx: np.ndarray, slot: int) -> np.ndarray:
    """``[n, n_params]`` float32: the weights of networks ``idx`` at snapshot ``slot`` (a
    position in ``snapshots/epoch``), read one stored chunk of networks at a time."""
    arr = view.group["snapshots/params"]
    idx = np.asarray(idx, np.int64)
    step = (arr.shards or arr.chunks)[0]
    out = np.empty((len(idx), arr.shape[2]), arr.dtype)
    blocks = idx // step
    for b in np.unique(blocks):
        m = blocks == b
        out[m] = arr.get_orthogonal_selection((idx[m], slot, slice(None)))
    return out


def weight_features(view: StoreView, idx: np.ndarray, batch: int = BATCH,
                    prepare: Callable[[np.ndarray], np.ndarray] | None = None,
                    slot: int | None = None) -> dict[str, np.ndarray]:
    """The three weight feature sets of networks ``idx``, computed in batches:
    ``weights`` and ``canonical weights`` ``[n, n_params]`` float32, ``layer statistics``
    ``[n, 10 * n_tensors]`` float64 (of the canonical weights for GRU networks, see
    :func:`layer_stats`). ``prepare``: applied to each batch of flat weights
    ``[n, n_params]`` first (a control, e.g. :func:`~mlds_jax.analysis._controls.zero_pixels`).
    ``slot``: the weights at that snapshot (``snapshots/params``) instead of the final ones."""
    layout, p, odd = view.layout, int(view.attrs["n_params"]), odd_head(view)
    signed = _signed(layout, odd)
    out = {"weights": np.empty((len(idx), p), np.float32),
           "canonical weights": np.empty((len(idx), p), np.float32),
           "layer statistics": np.empty((len(idx), 10 * len(layout)), np.float64)}
    for lo in range(0, len(idx), batch):
        w = (flat_weights(view, idx[lo:lo + batch]) if slot is None
             else snapshot_weights(view, idx[lo:lo + batch], slot))
        if prepare is not None:
            w = prepare(w)
        out["weights"][lo:lo + len(w)] = w
        c = _canonical(w, layout, odd)
        out["canonical weights"][lo:lo + len(w)] = c
        out["layer statistics"][lo:lo + len(w)] = _stats(c if signed else w, layout)
    return out


def layer_stats(view: StoreView, idx: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Per tensor: mean, variance, quantiles, L1/L2/max norms (the Small CNN Zoo features),
    of the canonical weights where units have a sign symmetry (GRU networks), so that a
    negated unit does not move them.

    Returns ``([n, n_features], feature names)``.
    """
    odd = odd_head(view)
    signed = _signed(view.layout, odd)

    def part(w: np.ndarray) -> np.ndarray:
        return _stats(_canonical(w, view.layout, odd) if signed else w, view.layout)

    parts = [part(flat_weights(view, idx[lo:lo + BATCH])) for lo in range(0, len(idx), BATCH)]
    stats = np.concatenate(parts) if parts else np.empty((0, 10 * len(view.layout)))
    return stats, stat_names(view.layout)


def canonical_weights(view: StoreView, idx: np.ndarray) -> np.ndarray:
    """``[n, n_params]``: each network in its canonical form (units sign-fixed where the
    symmetry holds, then sorted; vectorised)."""
    parts = [_canonical(flat_weights(view, idx[lo:lo + BATCH]), view.layout, odd_head(view))
             for lo in range(0, len(idx), BATCH)]
    return np.concatenate(parts) if parts else np.empty((0, int(view.attrs["n_params"])))


def first_attempt_epochs(view: StoreView) -> int:
    """Epochs of a network's first attempt: the history's length, divided by the attempts a
    spec with ``train.max_restarts`` allows (its histories hold every attempt)."""
    return view.group["history/val_loss"].shape[1] // stored_attempts(view.attrs["spec"])


def loss_features(view: StoreView, idx: np.ndarray) -> np.ndarray:
    """The loss-only baseline: final train/val loss, epochs (every attempt), and the
    val-loss curve of the first attempt at 10 evenly spaced points (NaN after the last
    epoch filled with the last value), so stores with and without restarts compare."""
    hist = read_rows(view.group["history/val_loss"], idx).astype(np.float64)
    hist = hist[:, :first_attempt_epochs(view)]
    last = np.where(np.isnan(hist), -np.inf, np.arange(hist.shape[1])[None]).argmax(1)
    filled = np.where(np.isnan(hist), hist[np.arange(len(hist)), last][:, None], hist)
    points = filled[:, np.linspace(0, hist.shape[1] - 1, 10).astype(int)]
    base = np.stack([view["final_train_loss"][idx], view["final_val_loss"][idx],
                     view["epochs"][idx].astype(np.float64)], 1)
    return np.nan_to_num(np.concatenate([base, np.log1p(points)], 1))


def carry_forward(hist: np.ndarray) -> np.ndarray:
    """``[n, epochs]`` loss histories with each network's NaN tail (epochs after it stopped)
    filled with its last value; networks that never ran an epoch stay all-NaN."""
    hist = np.asarray(hist, np.float64)
    ran = ~np.isnan(hist)
    last = np.where(ran, np.arange(hist.shape[1])[None], -1).max(1)  # [n]
    filled = np.where(ran, hist, hist[np.arange(len(hist)), np.maximum(last, 0)][:, None])
    filled[last < 0] = np.nan
    return filled


def loss_curve_summary(hist: np.ndarray) -> dict[str, np.ndarray]:
    """Median and quartiles ``[epochs]`` over networks of their loss histories ``[n,
    epochs]``, a stopped network's final value carried forward (so one stuck network does
    not become the median of the few still training), and ``running`` ``[epochs]``: the
    share of networks still training at each epoch."""
    filled = carry_forward(hist)
    filled = filled[~np.isnan(filled).all(1)]
    running = (~np.isnan(np.asarray(hist, np.float64))).mean(0) if len(hist) else np.zeros(0)
    if len(filled) == 0:
        empty = np.full(np.shape(hist)[1], np.nan)
        return {"median": empty, "q25": empty, "q75": empty, "running": running}
    q25, med, q75 = np.percentile(filled, [25, 50, 75], axis=0)
    return {"median": med, "q25": q25, "q75": q75, "running": running}
