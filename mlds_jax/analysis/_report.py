"""``analyze``: answer the questions a set of stores can answer; write report.md, PNGs and
metrics.json."""

from __future__ import annotations

import itertools
import json
import os
import warnings
from pathlib import Path

import numpy as np

from mlds_jax.analysis._features import (
    first_attempt_epochs,
    loss_features,
    read_rows,
    select,
    weight_features,
)
from mlds_jax.analysis._questions import auroc, classify, regress
from mlds_jax.errors import MLDSError, StoreError
from mlds_jax.spec import grid_labels, stored_grids
from mlds_jax.store import PENDING, StoreView, check_output_path, open_store


class AnalysisError(MLDSError, ValueError):
    """Nothing could be analysed (the message says why)."""


def _short(view: StoreView) -> str:
    return Path(view.path).name


def _base(name: str) -> str:
    for suffix in ("Machine", "Modified"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


DEFAULT_SAMPLE = 2000  # networks per class analysed by default (``--sample``)
TSNE_MAX = 2000  # points per t-SNE plot (a random subset of the sample)

# Per store (by path): the analysed networks (a per-class sample of the finished ones) and
# their feature sets, computed once and shared by every question and plot of one analyze().
_SAMPLE: dict[str, np.ndarray] = {}
_FEATURES: dict[str, dict[str, np.ndarray]] = {}


def _idx(view: StoreView, classes=None) -> np.ndarray:
    """The analysed networks of ``view`` (its sample), optionally of some classes only."""
    idx = _SAMPLE.get(str(view.path))
    if idx is None:
        idx = select(view)
    if classes is not None:
        ids = [view.class_names.index(c) for c in ([classes] if isinstance(classes, str)
                                                    else classes)]
        idx = idx[np.isin(view["class_id"][idx], ids)]
    return idx


def _feature_sets(view: StoreView, idx: np.ndarray, loss: bool = True
                  ) -> dict[str, np.ndarray]:
    key = str(view.path)
    full = _idx(view)
    if key not in _FEATURES:
        _FEATURES[key] = weight_features(view, full)
    rows = np.searchsorted(full, idx)
    if not np.array_equal(full[np.minimum(rows, len(full) - 1)], idx):
        raise ValueError("networks outside the analysed sample")
    whole = len(idx) == len(full)
    feats = {k: (v if whole else v[rows]) for k, v in _FEATURES[key].items()}
    if loss:
        feats["loss only (baseline)"] = loss_features(view, idx)
    return feats


def plan_questions(views: list[StoreView]) -> list[tuple]:
    seq = [v for v in views if v.attrs.get("task", "sequence") == "sequence"]
    img = [v for v in views if v.attrs.get("task") == "image"]
    qs = []
    for v in seq:
        if len(v.class_names) >= 2:
            qs.append(("which class", v))
        qs.append(("own accuracy", v, "val_bit_accuracy"))
    for a, b in itertools.combinations(seq, 2):
        if [_base(n) for n in a.class_names] == [_base(n) for n in b.class_names] and \
                a.class_names != b.class_names:
            qs.append(("modified vs original", a, b))
    clean = [v for v in img if v.attrs["spec"].get("poison") is None]
    bad = [v for v in img if v.attrs["spec"].get("poison") is not None]
    for c, b in itertools.product(clean, bad):
        qs.append(("backdoored vs clean", c, b))
    if len(img) >= 2 and len({v.attrs["spec"]["name"] for v in img}) >= 2:
        qs.append(("which dataset", img))
    for v in img:
        qs.append(("own accuracy", v, "clean_accuracy"))
    for v in views:  # titled "which learning rate", "which poison fraction"
        for name, grid in stored_grids(v.attrs["spec"]).items():
            if len(grid) >= 2:
                qs.append(("which grid value", v, name))
    return qs


HOMOGENEOUS = {"weights", "canonical weights"}


def _run(fn, x, y, feature: str) -> dict:
    return fn(x, y, homogeneous=feature in HOMOGENEOUS)


def answer(q: tuple) -> dict:
    kind = q[0]
    if kind == "which class":
        v = q[1]
        idx = _idx(v)
        y = v["class_id"][idx]
        return {k: _run(classify, x, y, k) for k, x in _feature_sets(v, idx).items()}
    if kind == "which grid value":  # from weights (classes mixed); name: the stored array
        v, name = q[1], q[2]
        idx = _idx(v)
        y = grid_labels(v[name][idx], stored_grids(v.attrs["spec"])[name])
        if (y < 0).any():
            raise ValueError(f"stored {name} values outside the spec's {name} grid")
        return {k: _run(classify, x, y, k) for k, x in _feature_sets(v, idx).items()}
    if kind == "own accuracy":
        v, metric = q[1], q[2]
        idx = _idx(v)
        y = v[metric][idx].astype(np.float64)
        return {k: _run(regress, x, y, k)
                for k, x in _feature_sets(v, idx, loss=False).items()}
    if kind == "modified vs original":
        a, b = q[1], q[2]
        out = {}
        for k, name in enumerate(a.class_names):
            ia, ib = _idx(a, classes=name), _idx(b, classes=b.class_names[k])
            fa, fb = _feature_sets(a, ia), _feature_sets(b, ib)
            y = np.r_[np.zeros(len(ia)), np.ones(len(ib))].astype(int)
            out[f"{name} vs {b.class_names[k]}"] = {
                f: _run(classify, np.concatenate([fa[f], fb[f]]), y, f) for f in fa}
        return out
    if kind == "backdoored vs clean":
        c, b = q[1], q[2]
        ic, ib = _idx(c), _idx(b)
        fc, fb = _feature_sets(c, ic), _feature_sets(b, ib)
        y = np.r_[np.zeros(len(ic)), np.ones(len(ib))].astype(int)
        return {f: _run(auroc, np.concatenate([fc[f], fb[f]]), y, f) for f in fc}
    if kind == "which dataset":
        vs = q[1]
        feats = [_feature_sets(v, _idx(v)) for v in vs]
        y = np.concatenate([np.full(len(_idx(v)), i) for i, v in enumerate(vs)])
        return {f: _run(classify, np.concatenate([fs[f] for fs in feats]), y, f)
                for f in feats[0]}
    raise ValueError(kind)


def _title(q: tuple) -> str:
    if q[0] == "which grid value":
        return f"which {q[2].replace('_', ' ')} — {_short(q[1])}"
    if q[0] in ("which class", "own accuracy"):
        return f"{q[0]} — {_short(q[1])}" + (f" ({q[2]})" if q[0] == "own accuracy" else "")
    if q[0] == "which dataset":
        return "which dataset — " + ", ".join(_short(v) for v in q[1])
    return f"{q[0]} — {_short(q[1])} vs {_short(q[2])}"


def _fmt(r: dict) -> str:
    for key in ("accuracy", "auroc", "r2"):
        if key in r:
            lo, hi = r["ci95"]
            return (f"{key} {r[key]:.3f} [{lo:.3f}, {hi:.3f}] (chance {r['chance']:.3f}, "
                    f"n={r['n']}, {r['folds']} folds)")
    return json.dumps(r)


def plots(views: list[StoreView], out: Path, seed: int = 0) -> list[str]:
    """PCA of weights by class, and t-SNE of their top 50 principal components on a random
    subset of at most ``TSNE_MAX`` networks; loss curves per class; DS4 histograms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    files = []
    for v in views:
        idx = _idx(v)
        if len(idx) < 3:
            continue
        x = StandardScaler().fit_transform(_feature_sets(v, idx, loss=False)["weights"])
        cls = v["class_id"][idx]
        pcs = PCA(min(50, *x.shape), random_state=seed).fit_transform(x)
        del x
        embs = [("PCA", pcs[:, :2], np.arange(len(idx)))]
        if len(idx) > 10:
            sub = np.sort(np.random.default_rng(seed).permutation(len(idx))[:TSNE_MAX])
            embs.append(("t-SNE of 50 PCs", TSNE(2, perplexity=min(30, len(sub) // 4),
                                               random_state=seed).fit_transform(pcs[sub]), sub))
        fig, axes = plt.subplots(1, len(embs), figsize=(6 * len(embs), 5))
        for ax, (name, e, rows) in zip(np.atleast_1d(axes), embs):
            for k, cname in enumerate(v.class_names):
                m = cls[rows] == k
                if m.any():
                    ax.scatter(e[m, 0], e[m, 1], s=12 if len(rows) < 500 else 3,
                               label=cname)
            ax.set_title(f"{name} of weights — {_short(v)}")
        np.atleast_1d(axes)[0].legend(fontsize=7)
        f = out / f"embedding_{_short(v)}.png"
        fig.tight_layout()
        fig.savefig(f, dpi=110)
        plt.close(fig)
        files.append(f.name)

        # the first attempt only: later epochs of a store with restarts hold the few
        # restarted networks, whose medians would show as a jump
        hist = read_rows(v.group["history/val_loss"], idx)[:, :first_attempt_epochs(v)]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for k, cname in enumerate(v.class_names):
            h = hist[cls == k]
            if len(h) == 0 or np.isnan(h).all():
                continue
            with warnings.catch_warnings():  # epochs no network of the class reached
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(h, 0)
                lo, hi = np.nanpercentile(h, 25, 0), np.nanpercentile(h, 75, 0)
            ep = np.arange(1, len(med) + 1)
            ax.plot(ep, med, label=cname)
            ax.fill_between(ep, lo, hi, alpha=0.2)
        ax.set_yscale("log")
        restarts = hist.shape[1] < v.group["history/val_loss"].shape[1]
        ax.set_xlabel("epoch of the first attempt" if restarts else "epoch")
        ax.set_ylabel("validation loss (median, IQR)")
        ax.set_title(f"loss curves per class — {_short(v)}")
        ax.legend(fontsize=7)
        f = out / f"loss_curves_{_short(v)}.png"
        fig.tight_layout()
        fig.savefig(f, dpi=110)
        plt.close(fig)
        files.append(f.name)
    img = [v for v in views if v.attrs.get("task") == "image" and len(_idx(v))]
    if img:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for v in img:
            idx = _idx(v)
            axes[0].hist(v["clean_accuracy"][idx], bins=20, alpha=0.6, label=_short(v))
            axes[1].hist(v["attack_success_rate"][idx], bins=20, range=(0, 1), alpha=0.6,
                         label=_short(v))
        axes[0].set_title("clean test accuracy")
        axes[1].set_title("attack success rate")
        axes[1].legend(fontsize=7)
        f = out / "ds4_histograms.png"
        fig.tight_layout()
        fig.savefig(f, dpi=110)
        plt.close(fig)
        files.append(f.name)
    return files


def analyze(paths: list[str | os.PathLike], out_dir: str | os.PathLike,
            progress: bool = True, sample: int | None = DEFAULT_SAMPLE, seed: int = 0) -> dict:
    """Opens the stores, answers what they can answer, writes the report. Returns metrics.

    ``sample``: analyse at most this many finished networks per class (drawn at random with
    ``seed``; ``None``: all). Features are computed once per store and batch by batch, so
    memory is about ``2 x sample x classes x n_params x 4`` bytes per store.
    """
    from tqdm.auto import tqdm

    check_output_path(out_dir, paths, field="out_dir")  # never inside a store it reads
    _SAMPLE.clear()
    _FEATURES.clear()
    try:
        return _analyze(paths, out_dir, progress, sample, seed, tqdm)
    finally:  # free the features; the next call starts afresh
        _SAMPLE.clear()
        _FEATURES.clear()


def _analyze(paths, out_dir, progress: bool, sample: int | None, seed: int, tqdm) -> dict:

    notes, views = [], []
    for p in paths:
        try:
            v = open_store(p)
        except StoreError as e:
            raise AnalysisError(str(e)) from None
        pending = int(np.sum(v["status"] == PENDING))
        done = len(select(v))
        if pending:
            notes.append(f"{p}: half-written ({pending} networks pending); using the {done} "
                         "finished networks only")
        if done == 0:
            notes.append(f"{p}: no finished networks; skipped")
            continue
        _SAMPLE[str(v.path)] = idx = select(v, sample=sample, seed=seed)
        if len(idx) < done:
            notes.append(f"{p}: analysing a random sample of {len(idx)} of its {done} "
                         f"finished networks (at most {sample} per class, seed {seed})")
        views.append(v)
    qs = plan_questions(views)
    if not qs:
        raise AnalysisError("nothing to answer from these stores: " + ("; ".join(notes) or
                            "give a store with finished networks"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics = {"stores": [str(v.path) for v in views], "notes": notes,
               "sample_per_class": sample, "seed": seed, "questions": {}}
    for q in tqdm(qs, desc="questions", disable=not progress):
        try:
            metrics["questions"][_title(q)] = answer(q)
        except ValueError as e:
            metrics["questions"][_title(q)] = {"skipped": str(e)}
    metrics["plots"] = plots(views, out, seed)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    lines = ["# mlds-jax analysis report", "", "Stores: " + ", ".join(
        f"`{p}`" for p in metrics["stores"]), ""]
    lines += [f"- note: {n}" for n in notes] + ([""] if notes else [])
    lines += ["Every number is cross-validated (stratified folds); the interval is a 95% "
              "normal approximation over folds. Chance = majority share (accuracy), 0.5 "
              "(AUROC), 0 (R²). The loss-only baseline uses final losses, epochs and the "
              "validation-loss curve; it can be strong for reasons other than the weights "
              "(a harder task, or poisoned samples in the training loss), so compare weight "
              "features against it, not only against chance.", ""]
    for title, res in metrics["questions"].items():
        lines += [f"## {title}", ""]
        if "skipped" in res:
            lines += [f"skipped: {res['skipped']}", ""]
            continue
        nested = all(isinstance(r, dict) and not {"accuracy", "auroc", "r2"} & set(r)
                     for r in res.values())
        groups = res.items() if nested else [("", res)]
        for sub, rs in groups:
            if sub:
                lines.append(f"**{sub}**")
            lines += [f"- {feat}: {_fmt(r)}" for feat, r in rs.items()]
            lines.append("")
    lines += ["## Plots", ""] + [f"![{f}]({f})" for f in metrics["plots"]]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return metrics
