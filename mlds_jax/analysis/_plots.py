"""The report's figures: weight embeddings, loss curves (a stopped network's last value
carried forward), learnt-share bars, DS4 histograms and confusion matrices. Needs
matplotlib. Per-store figures are named ``<kind>_<store>.png``; the others belong to no
single store."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlds_jax.analysis._features import first_attempt_epochs, loss_curve_summary, read_rows
from mlds_jax.spec import task_of
from mlds_jax.store import StoreView

TSNE_MAX = 2000  # points per t-SNE plot (a random subset of the sample)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path.name


# Store path -> its name in titles, metrics keys and plot files, unique among the stores of
# one analyze/report (set by them; else the basename).
LABELS: dict[str, str] = {}


def distinct_labels(paths) -> dict[str, str]:
    """Each path's shortest tail of folders (joined with ``_``) that no other path shares:
    ``A/s.zarr`` and ``B/s.zarr`` -> ``A_s.zarr``, ``B_s.zarr`` (so one never overwrites
    the other's answers or plots)."""
    parts = {str(Path(p)): Path(os.path.abspath(p)).parts for p in paths}
    for k in range(1, max((len(v) for v in parts.values()), default=1) + 1):
        labels = {p: "_".join(x for x in v[-k:] if x != "/") for p, v in parts.items()}
        if len(set(labels.values())) == len(labels):
            return labels
    return {p: str(i) + "_" + Path(p).name for i, p in enumerate(parts)}


def store_name(view: StoreView) -> str:
    return LABELS.get(str(view.path)) or Path(view.path).name


def loss_label(view: StoreView) -> str:
    """What ``history/val_loss`` holds: DS4 records the clean test loss per epoch."""
    return "clean test loss" if task_of(view.attrs).images else "validation loss"


def embedding(view: StoreView, idx: np.ndarray, weights: np.ndarray, out: Path,
              seed: int) -> str:
    """PCA of ``weights [n, n_params]`` by class, and t-SNE of their top 50 components on at
    most ``TSNE_MAX`` networks."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    plt = _plt()
    x = StandardScaler().fit_transform(weights)
    cls = view["class_id"][idx]
    pcs = PCA(min(50, *x.shape), random_state=seed).fit_transform(x)
    del x
    embs = [("PCA", pcs[:, :2], np.arange(len(idx)))]
    if len(idx) > 10:
        sub = np.sort(np.random.default_rng(seed).permutation(len(idx))[:TSNE_MAX])
        tsne = TSNE(2, perplexity=min(30, len(sub) // 4), random_state=seed,
                    max_iter=500 if len(sub) <= 500 else 1000)  # a few hundred converge soon
        embs.append(("t-SNE of 50 PCs", tsne.fit_transform(pcs[sub]), sub))
    fig, axes = plt.subplots(1, len(embs), figsize=(6 * len(embs), 5))
    for ax, (name, e, rows) in zip(np.atleast_1d(axes), embs):
        for k, cname in enumerate(view.class_names):
            m = cls[rows] == k
            if m.any():
                ax.scatter(e[m, 0], e[m, 1], s=12 if len(rows) < 500 else 3, label=cname)
        ax.set_title(f"{name} of weights — {store_name(view)}")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return _save(fig, out / f"embedding_{store_name(view)}.png")


def loss_curves(view: StoreView, idx: np.ndarray, out: Path) -> str:
    """Per class: median and quartiles of the first attempt's loss history, each stopped
    network's last value carried forward, and (right axis) the share still training."""
    plt = _plt()
    hist = read_rows(view.group["history/val_loss"], idx)[:, :first_attempt_epochs(view)]
    cls = view["class_id"][idx]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    share = ax.twinx()
    for k, cname in enumerate(view.class_names):
        h = hist[cls == k]
        if len(h) == 0 or np.isnan(h).all():
            continue
        s = loss_curve_summary(h)
        ep = np.arange(1, len(s["median"]) + 1)
        (line,) = ax.plot(ep, s["median"], label=cname)
        ax.fill_between(ep, s["q25"], s["q75"], alpha=0.2, color=line.get_color())
        share.plot(ep, s["running"], ":", color=line.get_color(), lw=1)
    ax.set_yscale("log")
    restarts = hist.shape[1] < view.group["history/val_loss"].shape[1]
    ax.set_xlabel("epoch of the first attempt" if restarts else "epoch")
    ax.set_ylabel(f"{loss_label(view)} (median, IQR)")
    share.set_ylabel("share still training (dotted)")
    share.set_ylim(0, 1.05)
    ax.set_title(f"loss curves per class — {store_name(view)}\n(a stopped network's last "
                 "value carried forward)", fontsize=10)
    ax.legend(fontsize=7)
    return _save(fig, out / f"loss_curves_{store_name(view)}.png")


def learnt_bars(view: StoreView, out: Path) -> str:
    """Per class, the share of finished networks that learnt (``Store.learnt``)."""
    plt = _plt()
    shares = view.learnt_share()
    names = list(shares)
    vals = [np.nan if shares[n] is None else shares[n] for n in names]
    fig, ax = plt.subplots(figsize=(max(4, 1.1 * len(names) + 2), 3.5))
    ax.bar(range(len(names)), vals, color="#7cc47f")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of finished networks that learnt")
    ax.set_title(f"learnt: {view.learnt_description()} — {store_name(view)}", fontsize=9)
    return _save(fig, out / f"learnt_{store_name(view)}.png")


def ds4_histograms(img: list[StoreView], idx_of: Callable[[StoreView], np.ndarray],
                   out: Path) -> str:
    """Clean test accuracy and attack success rate of every DS4 store, overlaid."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for v in img:
        idx = idx_of(v)
        axes[0].hist(v["clean_accuracy"][idx], bins=20, alpha=0.6, label=store_name(v))
        axes[1].hist(v["attack_success_rate"][idx], bins=20, range=(0, 1), alpha=0.6,
                     label=store_name(v))
    axes[0].set_xlabel("clean test accuracy")
    axes[1].set_xlabel("attack success rate")
    for ax in axes:
        ax.set_ylabel("networks")
    axes[1].legend(fontsize=7)
    return _save(fig, out / "ds4_histograms.png")


def confusion(matrix: list[list[int]], labels: list[str], title: str, path: Path) -> str:
    """A test-set confusion matrix (rows: true label, columns: predicted)."""
    plt = _plt()
    m = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(1.0 * len(labels) + 3, 0.8 * len(labels) + 2.5))
    ax.imshow(m, cmap="Blues")
    for (i, j), c in np.ndenumerate(m):
        ax.text(j, i, str(c), ha="center", va="center",
                color="white" if c > m.max() / 2 else "black", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=8)
    return _save(fig, path)


def joint_embedding(views: list[StoreView], stats: list[np.ndarray], idx: list[np.ndarray],
                    out: Path, seed: int, number: int = 0) -> str:
    """One PCA of the standardised layer statistics ``[n_k, features]`` of several stores
    with the same layout, fitted on them all at once: each store a marker, each class a
    colour (DS1 vs DS2, clean vs backdoored in one picture)."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    plt = _plt()
    x = StandardScaler().fit_transform(np.concatenate(stats))
    pcs = PCA(2, random_state=seed).fit_transform(np.nan_to_num(x))
    fig, ax = plt.subplots(figsize=(8, 6))
    markers = "os^vDP*Xph<>"
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    lo = 0
    for s, (v, i) in enumerate(zip(views, idx)):
        e, lo = pcs[lo:lo + len(i)], lo + len(i)
        cls = v["class_id"][i]
        for k, cname in enumerate(v.class_names):
            m = cls == k
            if m.any():
                ax.scatter(e[m, 0], e[m, 1], s=14, marker=markers[s % len(markers)],
                           color=colours[k % len(colours)], alpha=0.7,
                           label=f"{store_name(v)}: {cname}")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title("one PCA of layer statistics across the stores\n(marker: store, colour: "
                 "class position)", fontsize=10)
    ax.legend(fontsize=6, ncol=2)
    return _save(fig, out / f"joint_embedding_{number}.png")  # of no single store
