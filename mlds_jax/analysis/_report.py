"""``analyze``: answer the questions a set of stores can answer; write report.md, PNGs and
metrics.json.

Every question is answered on a held-out test split (the store's own where it defines one,
else a deterministic split of the analysis's own) by four feature families side by side,
with controls that name artefacts beside the headline; BLAS/OpenMP threads are pinned so
the numbers are the same on any machine.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
from pathlib import Path

import numpy as np

from mlds_jax.analysis import _plots
from mlds_jax.analysis._controls import (
    dead_pixels,
    non_weight_fields,
    region_features,
    trigger_pixels,
    zero_pixels,
)
from mlds_jax.analysis._features import first_attempt_epochs, read_rows, select, weight_features
from mlds_jax.analysis._stats import (
    BOOTSTRAP,
    MIN_TEST,
    TEST_SHARE,
    cv_folds,
    fit_score,
    own_split,
    split_info,
    strata,
)
from mlds_jax.errors import MLDSError, StoreError, StoreExistsError
from mlds_jax.spec import SEQUENCE, grid_labels, stored_grids, task_of
from mlds_jax.store import PENDING, StoreView, check_distinct, check_output_path, open_store


class AnalysisError(MLDSError, ValueError):
    """Nothing could be analysed (the message says why)."""


def check_sample(sample: int | None, seed: int = 0) -> None:
    """Refuses a per-class sample size that is not a positive integer (None: all) and a
    seed that is not an integer >= 0."""
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int)
                               or sample < 1):
        raise AnalysisError(f"`sample`: expected a positive number of networks per class "
                            f"(or None: all of them), got {sample!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise AnalysisError(f"`seed`: expected an integer >= 0, got {seed!r}")


def _short(view: StoreView) -> str:
    return _plots.store_name(view)  # unique among the stores analysed together


def _base(name: str) -> str:
    for suffix in ("Machine", "Modified"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


DEFAULT_SAMPLE = 2000  # networks per class analysed by default (``--sample``)
THREADS = 1  # BLAS / OpenMP threads while analysing: the same numbers on any machine
SAME = 0.05  # a control within this of the headline is "as high"

# Per store (by path): the analysed networks (a per-class sample of the finished ones) and
# their feature sets, computed once and shared by every question and plot of one analyze().
_SAMPLE: dict[str, np.ndarray] = {}
_FEATURES: dict[tuple, dict[str, np.ndarray]] = {}


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


def snapshot_epochs(view: StoreView) -> list[int]:
    """The epochs whose weights the store keeps (``snapshots/epoch``; none: ``[]``)."""
    if "snapshots/epoch" not in view.group:
        return []
    return [int(e) for e in view.group["snapshots/epoch"][:]]


def reached(view: StoreView, idx: np.ndarray, epoch: int) -> np.ndarray:
    """bool ``[n]``: networks ``idx`` trained to ``epoch`` (their snapshot there holds the
    weights of that epoch, not the final weights of a network that stopped before it)."""
    slot = snapshot_epochs(view).index(epoch)
    return read_rows(view.group["snapshots/reached"], idx)[:, slot].astype(bool)


def _weights(view: StoreView, idx: np.ndarray, zero: np.ndarray | None = None,
             epoch: int | None = None) -> dict[str, np.ndarray]:
    """Weight feature sets of networks ``idx`` (rows of the store's sample), computed once
    per store, per set of zeroed pixels and per snapshot epoch (``None``: final weights)."""
    key = (str(view.path), None if zero is None else tuple(int(p) for p in zero), epoch)
    full = _idx(view)
    if key not in _FEATURES:
        zeroed = None  # the control's pixels set to 0 in every network first
        if zero is not None and len(zero):
            zeroed = lambda w: zero_pixels(w, view.layout, zero)  # noqa: E731
        slot = None if epoch is None else snapshot_epochs(view).index(epoch)
        _FEATURES[key] = weight_features(view, full, prepare=zeroed, slot=slot)
    rows = np.searchsorted(full, idx)
    if not np.array_equal(full[np.minimum(rows, len(full) - 1)], idx):
        raise ValueError("networks outside the analysed sample")
    return {k: (v if len(idx) == len(full) else v[rows]) for k, v in _FEATURES[key].items()}


def _feature_sets(view: StoreView, idx: np.ndarray, loss: bool = False
                  ) -> dict[str, np.ndarray]:
    """The weight feature sets (``weights``, ``canonical weights``, ``layer statistics``) of
    networks ``idx`` (kept for the plots and ``html_report``)."""
    return _weights(view, idx)


# family -> (feature set, model, homogeneous features)
FAMILIES = {
    "canonical weights": ("canonical weights", "linear", True),
    "layer statistics": ("layer statistics", "linear", False),
    "layer statistics + HGB": ("layer statistics", "hgb", False),
}
PROBE = "probe outputs"


def families(parts: list[tuple[StoreView, np.ndarray]], zero: np.ndarray | None = None,
             epoch: int | None = None) -> dict[str, tuple[np.ndarray, str, bool]]:
    """Feature family -> ``(x [n, features], model, homogeneous)`` for the networks of
    ``parts`` stacked in order (``epoch``: their weights at that snapshot); probe outputs
    (the outputs on the store's fixed probe inputs at its last snapshot, or at ``epoch``'s)
    where every store has ``probe/outputs`` and no pixels are zeroed (a probe's outputs
    are not weights to zero)."""
    sets = [_weights(v, i, zero, epoch) for v, i in parts]
    out = {name: (np.concatenate([s[src] for s in sets]), model, homo)
           for name, (src, model, homo) in FAMILIES.items()}
    if zero is None and all("probe/outputs" in v.group for v, _ in parts):
        slots = [-1 if epoch is None else snapshot_epochs(v).index(epoch) for v, _ in parts]
        x = np.concatenate([read_rows(v.group["probe/outputs"], i)[:, k].reshape(len(i), -1)
                            for (v, i), k in zip(parts, slots)]).astype(np.float64)
        out[PROBE] = (np.nan_to_num(x), "linear", False)
    return out


# Class pairs asked on their own: DS1's two machines that differ only in the output's
# polarity (the real "which machine" question once Parity's own learning rate and
# EightBit's failures to learn are set aside).
HARD_PAIRS = (("SingleDirectMachine", "SingleInvertMachine"),
              ("SingleDirectModified", "SingleInvertModified"))


@dataclasses.dataclass
class Question:
    """One question: networks ``parts`` (store, indices) stacked, their labels ``y``."""

    title: str
    metric: str  # "accuracy", "auroc" or "r2"
    parts: list[tuple[StoreView, np.ndarray]]
    y: np.ndarray
    labels: list[str] | None = None  # names of the classes (class questions)
    drop: tuple[str, ...] = ()  # non-weight fields that are the answer itself
    epoch: int | None = None  # weights (and probe outputs) at this snapshot epoch
    early: bool = False  # predicts the end of training: no final fields as a control
    test: np.ndarray | None = None  # bool [n]: a fixed test set (held-out recipe)
    keep: np.ndarray | None = None  # bool [n]: the rows used with ``test``
    how: str = ""  # how the fixed test set was drawn


@dataclasses.dataclass
class Context:
    """What the DS4 controls need from all the stores given: the fixed trigger region of
    the poisoned stores, the pixels dead in the clean ones."""

    seed: int = 0
    folds: int | None = None  # k-fold cross-fitting instead of one test split
    region: np.ndarray | None = None
    dead: np.ndarray | None = None
    region_name: str = ""

    def removed(self) -> np.ndarray:
        parts = [p for p in (self.region, self.dead) if p is not None]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, int)

    def removed_name(self) -> str:
        what = [self.region_name] if self.region is not None else []
        if self.dead is not None:
            what.append(f"the {len(self.dead)} pixels dead in clean networks")
        return " and ".join(what) or "nothing"


def _context(views: list[StoreView], seed: int) -> Context:
    img = [v for v in views if task_of(v.attrs).images]
    ctx = Context(seed=seed)
    regions = [(v, trigger_pixels(v.attrs["spec"])) for v in img]
    regions = [(v, r) for v, r in regions if r is not None]
    if regions:
        ctx.region = np.unique(np.concatenate([r for _, r in regions]))
        kinds = sorted({v.attrs["spec"]["poison"]["kind"] for v, _ in regions})
        ctx.region_name = f"the trigger region ({', '.join(kinds)}: {len(ctx.region)} pixels)"
    clean = [v for v in img if v.attrs["spec"].get("poison") is None]
    if clean:
        dead = [set(dead_pixels(v, _idx(v)).tolist()) for v in clean]
        ctx.dead = np.array(sorted(set.intersection(*dead)), int)
    return ctx


def plan_questions(views: list[StoreView]) -> list[Question]:
    seq = [v for v in views if task_of(v.attrs) is SEQUENCE]
    img = [v for v in views if task_of(v.attrs).images]
    qs = []
    for v in seq:
        if len(v.class_names) >= 2:
            idx = _idx(v)
            y = v["class_id"][idx]  # the classes present (--learnt-only may drop some)
            if len(np.unique(y)) >= 2:  # a half-written store may hold one class so far
                qs.append(Question(f"which class — {_short(v)}", "accuracy", [(v, idx)], y,
                                   [v.class_names[k] for k in np.unique(y)]))
        for a, b in HARD_PAIRS:  # the pair that "which class" averages away
            if a in v.class_names and b in v.class_names and len(v.class_names) > 2:
                idx = _idx(v, classes=[a, b])
                y = (v["class_id"][idx] == v.class_names.index(b)).astype(int)
                if 0 < y.sum() < len(y):  # both classes have finished networks
                    qs.append(Question(f"{a} vs {b} — {_short(v)}", "auroc", [(v, idx)], y,
                                       [a, b]))
        idx = _idx(v)
        qs.append(Question(f"own accuracy — {_short(v)} (val_bit_accuracy)", "r2",
                           [(v, idx)], v["val_bit_accuracy"][idx].astype(np.float64)))
    for a, b in itertools.combinations(seq, 2):
        if [_base(n) for n in a.class_names] == [_base(n) for n in b.class_names] and \
                a.class_names != b.class_names:
            for na, nb in zip(a.class_names, b.class_names):
                ia, ib = _idx(a, classes=na), _idx(b, classes=nb)
                if len(ia) < 2 or len(ib) < 2:  # not finished in one of the stores yet
                    continue
                qs.append(Question(
                    f"modified vs original — {_short(a)} vs {_short(b)}: {na} vs {nb}",
                    "auroc", [(a, ia), (b, ib)], np.r_[np.zeros(len(ia)), np.ones(len(ib))]
                    .astype(int), [na, nb]))
                qs += matched_length(a, b, na, nb)
    clean = [v for v in img if v.attrs["spec"].get("poison") is None]
    bad = [v for v in img if v.attrs["spec"].get("poison") is not None]

    def stores_q(title: str, vs: list[StoreView], metric: str = "accuracy") -> Question:
        parts = [(v, _idx(v)) for v in vs]
        y = np.concatenate([np.full(len(i), k) for k, (_, i) in enumerate(parts)])
        return Question(title, metric, parts, y, [_short(v) for v in vs])

    for c, b in itertools.product(clean, bad):
        qs.append(stores_q(f"backdoored vs clean — {_short(c)} vs {_short(b)}", [c, b],
                           "auroc"))
    if len(bad) >= 2:
        qs.append(stores_q("which poisoning recipe — " + ", ".join(map(_short, bad)), bad))
    # "which dataset" only when it is not asked above already (one clean and one poisoned
    # store: backdoored vs clean; poisoned stores only: which poisoning recipe)
    if len(img) >= 2 and clean and not (len(clean) == 1 and len(bad) == 1):
        qs.append(stores_q("which dataset — " + ", ".join(map(_short, img)), img))
    for c in clean:
        if len(bad) >= 2:
            qs += [held_out_recipe(c, [o for o in bad if o is not h], h) for h in bad]
    for v in img:
        idx = _idx(v)
        qs.append(Question(f"own accuracy — {_short(v)} (clean_accuracy)", "r2", [(v, idx)],
                           v["clean_accuracy"][idx].astype(np.float64)))
    for v in views:
        qs += early_snapshot(v)
    for v in views:  # titled "which learning rate", "which poison fraction"
        for name, grid in stored_grids(v.attrs["spec"]).items():
            if len(grid) >= 2:
                idx = _idx(v)
                y = grid_labels(v[name][idx], grid)
                if (y < 0).any():
                    raise ValueError(f"stored {name} values outside the spec's {name} grid")
                qs.append(Question(f"which {name.replace('_', ' ')} — {_short(v)}",
                                   "accuracy", [(v, idx)], y,
                                   [f"{grid[k]:g}" for k in np.unique(y)], drop=(name,)))
                if name == "poison_fraction":  # the fraction as a number
                    qs.append(Question(f"poison fraction (R²) — {_short(v)}", "r2",
                                       [(v, idx)], v[name][idx].astype(np.float64),
                                       drop=(name,)))
    return qs


MATCHED_SHARE = 0.5  # a snapshot epoch is compared when this share of the pairs reached it
MIN_PAIRS = 6  # ... and at least this many pairs did


def matched_length(a: StoreView, b: StoreView, na: str, nb: str) -> list[Question]:
    """Modified vs original at matched training length: class ``na`` of ``a`` against
    ``nb`` of ``b`` on their weights at the same snapshot epoch, on the replicates that
    trained to that epoch in both (replicate ``r`` of each: with the same ``init_seeds``
    and ``order_seeds`` they start from the same weights and see the same inputs). Asked at
    the first snapshot epoch after 0 and the last one that ``MATCHED_SHARE`` of the pairs
    reached."""
    common = sorted(set(snapshot_epochs(a)) & set(snapshot_epochs(b)) - {0})
    ia, ib = _idx(a, classes=na), _idx(b, classes=nb)
    ra, rb = a["replicate"][ia], b["replicate"][ib]
    reps = np.intersect1d(ra, rb)
    if not common or len(reps) < MIN_PAIRS:
        return []
    pa, pb = ia[np.searchsorted(ra, reps)], ib[np.searchsorted(rb, reps)]  # row r: pair r
    paired = ("init_seed" in a.group and "init_seed" in b.group and "order_seed" in a.group
              and "order_seed" in b.group
              and np.array_equal(a["init_seed"][pa], b["init_seed"][pb])
              and np.array_equal(a["order_seed"][pa], b["order_seed"][pb]))
    both = {e: reached(a, pa, e) & reached(b, pb, e) for e in common}
    ok = [e for e in common if both[e].mean() >= MATCHED_SHARE and both[e].sum() >= MIN_PAIRS]
    qs = []
    for e in sorted({ok[0], ok[-1]}) if ok else []:
        m = both[e]
        qs.append(Question(
            f"modified vs original at epoch {e}"
            f"{' (paired seeds)' if paired else ''} — {_short(a)} vs {_short(b)}: {na} vs "
            f"{nb}", "auroc", [(a, pa[m]), (b, pb[m])],
            np.r_[np.zeros(m.sum()), np.ones(m.sum())].astype(int), [na, nb], epoch=e))
    return qs


EARLY_EPOCHS = 2  # final accuracy is asked from the first this-many snapshot epochs after 0


def early_snapshot(v: StoreView) -> list[Question]:
    """A network's final accuracy (R²) and whether it learnt (AUROC) from its weights at an
    early snapshot epoch, on the networks that trained to that epoch."""
    target = "clean_accuracy" if task_of(v.attrs).images else "val_bit_accuracy"
    qs = []
    for e in [e for e in snapshot_epochs(v) if e > 0][:EARLY_EPOCHS]:
        idx = _idx(v)
        idx = idx[reached(v, idx, e)]
        if len(idx) < 8:
            continue
        qs.append(Question(f"final accuracy from epoch {e} — {_short(v)} ({target})", "r2",
                           [(v, idx)], v[target][idx].astype(np.float64), epoch=e,
                           early=True))
        learnt = v.learnt()[idx].astype(int)
        if min(learnt.sum(), len(learnt) - learnt.sum()) >= 4:
            qs.append(Question(f"learnt or not from epoch {e} — {_short(v)}", "auroc",
                               [(v, idx)], learnt, ["not learnt", "learnt"], epoch=e,
                               early=True))
    return qs


HELD_OUT_SHARE = 0.5  # of the clean store's networks kept for the held-out recipe's test


def held_out_recipe(clean: StoreView, seen: list[StoreView], held: StoreView) -> Question:
    """Backdoored vs clean with a poisoning recipe the detector never saw: fit on half of
    the clean networks and the ``seen`` poisoned stores, test on the other half of the
    clean networks and ``held``'s networks of the same indices (paired where the stores
    share seeds). Halves by network index (:func:`own_split`), the same in every store."""
    parts = [(clean, _idx(clean)), *[(v, _idx(v)) for v in seen], (held, _idx(held))]
    halves = [own_split(np.zeros(len(i)), i, share=HELD_OUT_SHARE) for _, i in parts]
    test = np.concatenate([h if k in (0, len(parts) - 1) else np.zeros(len(h), bool)
                           for k, h in enumerate(halves)])
    keep = np.concatenate([np.ones(len(h), bool) if k == 0 else
                           (h if k == len(parts) - 1 else ~h) for k, h in enumerate(halves)])
    y = np.concatenate([np.full(len(i), int(k > 0)) for k, (_, i) in enumerate(parts)])
    return Question(f"held-out recipe — fit on {_short(clean)} vs "
                    f"{', '.join(map(_short, seen))}; test on {_short(held)} (never seen)",
                    "auroc", parts, y, [_short(clean), "poisoned"], test=test, keep=keep,
                    how=f"fixed: {HELD_OUT_SHARE:.0%} of {_short(clean)} by network index "
                        f"(seed 0) and {_short(held)}'s networks of the same indices test; "
                        "the other clean half and the seen recipes' other indices train")


TRAIN, VAL, TEST, OOD = 0, 1, 2, 3  # Store.split codes


def _store_codes(parts: list[tuple[StoreView, np.ndarray]]) -> np.ndarray | None:
    """The stores' canonical split codes (``Store.split``: 0 train, 1 val, 2 test, 3 ood)
    over ``parts`` stacked; ``None`` where a store defines none."""
    codes = []
    for v, idx in parts:
        split = getattr(v, "split", None)
        if split is None:
            return None
        try:
            codes.append(np.asarray(split("canonical"))[idx])
        except (KeyError, ValueError, LookupError):
            return None
    return np.concatenate(codes)


def _split(q: Question, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """``(test [k], keep [n], how)``: the held-out rows among the ``keep`` rows of ``q``.
    The stores' canonical split where they define one (train + val fit, test scores, ood
    left out) and it holds every label on both sides; else the analysis's own. A question
    with a fixed test set (held-out recipe) keeps it."""
    if q.test is not None:
        keep = np.ones(len(q.y), bool) if q.keep is None else q.keep
        return q.test[keep], keep, q.how
    codes = _store_codes(q.parts)
    if codes is not None:
        keep = codes != OOD
        test, y = codes[keep] == TEST, q.y[keep]
        groups = ([y == k for k in np.unique(q.y)] if q.metric != "r2"
                  else [np.ones(len(y), bool)])
        if test.sum() >= 2 and all((test & g).any() and (~test & g).sum() >= 2
                                   for g in groups):
            return test, keep, "the stores' canonical split (train + val fit, test scores)"
    key = np.concatenate([i for _, i in q.parts])
    strat = strata(q.y) if q.metric == "r2" else q.y
    return (own_split(strat, key, seed), np.ones(len(q.y), bool),
            f"own (seed {seed}, {TEST_SHARE:.0%} of each label held out)")


def loss_history(view: StoreView, idx: np.ndarray, epoch: int) -> np.ndarray:
    """``[n, 2 * epoch]``: the first attempt's train and validation losses of its first
    ``epoch`` epochs (what is known of a network at that epoch without its weights)."""
    e = min(epoch, first_attempt_epochs(view))
    cols = [read_rows(view.group[f"history/{k}"], idx)[:, :e].astype(np.float64)
            for k in ("train_loss", "val_loss") if f"history/{k}" in view.group]
    return np.nan_to_num(np.log1p(np.concatenate(cols, 1)))


NON_WEIGHT = ("non-weight fields", "epochs alone", "loss history")  # controls without weights


def answer(q: Question, ctx: Context) -> dict:
    """Test-set numbers of every family, the controls beside them, and a headline."""
    cross = bool(ctx.folds) and q.test is None  # cross-fitting over every network
    test, keep, how = ((np.zeros(len(q.y), bool), np.ones(len(q.y), bool), "") if cross
                       else _split(q, ctx.seed))
    y = q.y[keep]
    folds = None
    if cross:
        key = np.concatenate([i for _, i in q.parts])[keep]
        strat = y
        if q.metric == "r2":  # by quartile, unless ties leave a quartile too small to deal
            strat = strata(y)
            if np.unique(strat, return_counts=True)[1].min() < ctx.folds:
                strat = np.zeros(len(y), int)
        folds = cv_folds(strat, key, ctx.folds, ctx.seed)
        how = (f"{ctx.folds}-fold cross-fitting (seed {ctx.seed}; folds stratified by label, "
               "drawn per network index so paired networks share a fold): every network "
               "predicted by a model that never saw it")

    def fit(x: np.ndarray, model: str = "linear", homo: bool = False, **kw) -> dict:
        return fit_score(q.metric, x[keep], y, test, model=model, homogeneous=homo,
                         seed=ctx.seed, folds=folds, **kw)

    res = split_info(q.metric, y, test, how, folds)
    if q.labels is not None:
        res["labels"] = q.labels
    if q.epoch is not None:
        res["epoch"] = q.epoch
    conf = q.metric == "accuracy"
    res["families"] = {name: fit(x, model, homo, confusion=conf)
                       for name, (x, model, homo) in families(q.parts, epoch=q.epoch).items()}
    controls = {}
    if not q.early:  # the final fields would tell the end of training itself
        nw = [non_weight_fields(v, i, q.drop) for v, i in q.parts]
        names = [n for n in nw[0][1] if all(n in f for _, f in nw)]
        x = np.concatenate([xi[:, [f.index(n) for n in names]] for xi, f in nw])
        controls["non-weight fields"] = {**fit(x), "fields": names}
    if q.epoch is not None:
        if not q.early and "epochs" in names:
            controls["epochs alone"] = fit(x[:, [names.index("epochs")]])
        x = np.concatenate([loss_history(v, i, q.epoch) for v, i in q.parts])
        controls["loss history"] = {**fit(x), "epochs": q.epoch}
    image = any(task_of(v.attrs).images for v, _ in q.parts)
    if image and ctx.region is not None:
        x = np.concatenate([region_features(_weights(v, i, epoch=q.epoch)["weights"],
                                            v.layout, ctx.region) for v, i in q.parts])
        controls["trigger region alone"] = fit(x)
    removed = ctx.removed()
    if image and len(removed):
        for name, (x, model, homo) in families(q.parts, removed, q.epoch).items():
            controls[f"{name} without them"] = fit(x, model, homo)
        res["removed"] = {"what": ctx.removed_name(), "pixels": [int(p) for p in removed]}
    res["controls"] = controls
    res["headline"] = headline(res)
    return res


def _num(r: dict, metric: str) -> str:
    lo, hi = r["ci95"]
    return f"{r[metric]:.3f} [{lo:.3f}, {hi:.3f}]"


def headline(res: dict) -> str:
    """The best family's number with the controls that qualify it, in words."""
    m, fams, ctl = res["metric"], res["families"], res["controls"]
    best = max(fams, key=lambda f: fams[f][m])
    v = fams[best][m]
    text = (f"{m} {_num(fams[best], m)} from {best} (chance {res['chance']:.3f}, majority "
            f"{res['majority']:.3f}, {res['n_test']} test networks)")
    nwk = max((k for k in NON_WEIGHT if k in ctl), key=lambda k: ctl[k][m])
    nw = ctl[nwk][m]
    text += f"; {nwk} alone {nw:.3f}" + (
        f" (non-weight fields {ctl['non-weight fields'][m]:.3f})"
        if nwk != "non-weight fields" and "non-weight fields" in ctl else "")
    if fams[best]["ci95"][0] <= res["chance"]:
        return text + " — its interval does not clear chance: no feature family is shown to beat it"
    if nw >= v - SAME:
        text += (" — as high or higher: training length / learning rate / losses answer this "
                 "without the weights")
    if "trigger region alone" in ctl:
        alone = ctl["trigger region alone"][m]
        text += f"; the trigger region's first-layer weights alone {alone:.3f}"
    without = {k: r for k, r in ctl.items() if k.endswith(" without them")}
    if without:
        wb = max(without, key=lambda k: without[k][m])
        wv, what = without[wb][m], res["removed"]["what"]
        fam = wb[: -len(" without them")]
        if wv >= v - SAME:
            text += f"; holds without {what} ({wv:.3f} from {fam})"
        else:
            text += (f"; rests on {what}: without them the best is {wv:.3f} (from {fam})")
    return text


def plots(views: list[StoreView], out: Path, seed: int = 0) -> list[str]:
    """Per store: PCA/t-SNE of weights by class, loss curves, learnt-share bars; across
    the DS4 stores: clean-accuracy and attack-success histograms."""
    files = []
    for v in views:
        idx = _idx(v)
        if len(idx) >= 3:
            files.append(_plots.embedding(v, idx, _weights(v, idx)["weights"], out, seed))
            files.append(_plots.loss_curves(v, idx, out))
        files.append(_plots.learnt_bars(v, out))
    img = [v for v in views if task_of(v.attrs).images and len(_idx(v))]
    if img:
        files.append(_plots.ds4_histograms(img, _idx, out))
    groups: dict[str, list[StoreView]] = {}  # stores whose weights share one layout
    for v in views:
        if len(_idx(v)) >= 2:
            groups.setdefault(json.dumps(v.layout, sort_keys=True), []).append(v)
    for k, vs in enumerate(g for g in groups.values() if len(g) >= 2):
        files.append(_plots.joint_embedding(
            vs, [_weights(v, _idx(v))["layer statistics"] for v in vs],
            [_idx(v) for v in vs], out, seed, k))
    return files


def load_native() -> None:
    """Loads every BLAS / OpenMP library the analysis will use (NumPy's and SciPy's BLAS,
    scikit-learn's OpenMP), so that ``threadpool_limits`` pins them all: it only reaches
    libraries already loaded, and one loaded later runs on every core (measured: the first
    HistGradientBoosting fit of a process on 2 busy cores took 14 s instead of 0.2 s)."""
    import scipy.linalg  # noqa: F401
    import sklearn.decomposition  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.manifold  # noqa: F401


def thread_record() -> dict:
    """The BLAS / OpenMP libraries loaded and their thread counts (under the pin)."""
    from threadpoolctl import threadpool_info

    libs = sorted({(i["user_api"], i["internal_api"], i["num_threads"])
                   for i in threadpool_info()})
    return {"limit": THREADS, "libraries": [
        {"user_api": u, "internal_api": a, "num_threads": n} for u, a, n in libs]}


def analyze(paths: list[str | os.PathLike], out_dir: str | os.PathLike,
            progress: bool = True, sample: int | None = DEFAULT_SAMPLE, seed: int = 0,
            learnt_only: bool = False, plots: bool = True, folds: int | None = None,
            force: bool = False) -> dict:
    """Opens the stores, answers what they can answer, writes the report. Returns metrics.

    ``out_dir`` must be new or an empty folder (``force``: overwrite report.md, metrics.json
    and the plots in a non-empty one), and never lie inside a store it reads.

    ``sample``: analyse at most this many finished networks per class (drawn at random with
    ``seed``; ``None``: all). ``learnt_only``: only networks that learnt (``Store.learnt``).
    ``plots=False``: no figures. ``folds``: ``k``-fold cross-fitting (every network
    predicted by a model that never saw it or its paired networks) instead of one held-out
    test split — for small zoos, whose test split holds a handful. BLAS/OpenMP run on
    ``THREADS`` thread(s) throughout (threadpoolctl), recorded in the report, so the
    numbers do not depend on the machine.
    """
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    check_distinct(paths)  # a store given twice would count twice
    check_output_path(out_dir, paths, field="out_dir")  # never inside a store it reads
    if os.path.lexists(out_dir) and not force and (
            not os.path.isdir(out_dir) or os.listdir(out_dir)):
        raise StoreExistsError(f"`out_dir` {os.fspath(out_dir)}: exists and is not an empty "
                               "directory; analyze writes report.md, metrics.json and plots "
                               "there (choose a new `out_dir`, or pass `force` to overwrite "
                               "those files)")
    check_sample(sample, seed)
    if folds is not None and (isinstance(folds, bool) or not isinstance(folds, int)
                              or folds < 2):
        raise AnalysisError(f"`folds`: expected an integer >= 2 (or None: one test split), "
                            f"got {folds!r}")
    load_native()
    _SAMPLE.clear()
    _FEATURES.clear()
    _plots.LABELS.update(_plots.distinct_labels(paths))
    try:
        with threadpool_limits(limits=THREADS):
            return _analyze(paths, out_dir, progress, sample, seed, tqdm, learnt_only, plots,
                            folds)
    finally:  # free the features; the next call starts afresh
        _SAMPLE.clear()
        _FEATURES.clear()
        _plots.LABELS.clear()


def _slug(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", title).strip("_")[:80]


def _analyze(paths, out_dir, progress: bool, sample: int | None, seed: int, tqdm,
             learnt_only: bool = False, want_plots: bool = True, folds: int | None = None
             ) -> dict:
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
        idx = select(v, sample=sample, seed=seed, learnt_only=learnt_only)
        if learnt_only:
            notes.append(f"{p}: learnt networks only ({len(select(v, learnt_only=True))} of "
                         f"{done} finished; learnt = {v.learnt_description()})")
        if len(idx) == 0:
            notes.append(f"{p}: no {'learnt' if learnt_only else 'finished'} networks; "
                         "skipped")
            continue
        _SAMPLE[str(v.path)] = idx
        avail = len(select(v, learnt_only=learnt_only))
        if len(idx) < avail:
            notes.append(f"{p}: analysing a random sample of {len(idx)} of its {avail} "
                         f"{'learnt' if learnt_only else 'finished'} networks (at most "
                         f"{sample} per class, seed {seed})")
        views.append(v)
    qs = plan_questions(views)
    if not qs:
        raise AnalysisError("nothing to answer from these stores: " + ("; ".join(notes) or
                            "give a store with finished networks"))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx = _context(views, seed)
    ctx.folds = folds
    metrics = {"stores": [str(v.path) for v in views], "notes": notes,
               "sample_per_class": sample, "seed": seed, "learnt_only": learnt_only,
               "folds": folds,
               "threads": thread_record(), "questions": {}}
    figures: dict[str, str] = {}
    for q in tqdm(qs, desc="questions", disable=not progress):
        try:
            res = answer(q, ctx)
        except ValueError as e:
            res = {"skipped": str(e)}
        metrics["questions"][q.title] = res
        if want_plots and "families" in res and q.metric == "accuracy":
            best = max(res["families"], key=lambda f: res["families"][f]["accuracy"])
            figures[q.title] = _plots.confusion(
                res["families"][best]["confusion"], res["labels"],
                f"{q.title}\n{best}, " + ("cross-fitted" if folds else "test split"),
                out / f"confusion_{_slug(q.title)}.png")
    metrics["plots"] = (plots(views, out, seed) if want_plots else []) + list(figures.values())
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (out / "report.md").write_text(render(metrics, figures))
    return metrics


def _row(name: str, r: dict, m: str) -> str:
    return f"| {name} | {r[m]:.3f} | [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] |"


def render(metrics: dict, figures: dict[str, str]) -> str:
    """report.md from the metrics: per question the headline, the families and controls
    side by side, its figure."""
    th = metrics["threads"]
    lines = ["# mlds-jax analysis report", "", "Stores: " + ", ".join(
        f"`{p}`" for p in metrics["stores"]), ""]
    lines += [f"- note: {n}" for n in metrics["notes"]] + ([""] if metrics["notes"] else [])
    lines += [
        "Every number is measured on held-out test networks (the stores' test split where "
        f"they define one, else {TEST_SHARE:.0%} of each label, drawn with the seed; with "
        "--folds K, every network by K-fold cross-fitting): the "
        "classifier never saw them. The interval is a 95% bootstrap over the test set "
        f"({BOOTSTRAP} resamples), clipped to the metric's range. Chance = uniform guessing; "
        "majority = the training set's most common label (R²: its mean) on the test set. "
        f"Fewer than {MIN_TEST} test networks gives a warning. Controls: the same classifier "
        "on the non-weight fields alone (epochs, restarts, learning rate, final losses), and "
        "at a snapshot epoch the loss history up to it (and epochs alone); for "
        "DS4, the trigger region's first-layer weights alone, and each family without them "
        "and without the pixels dead in clean networks.",
        "", f"BLAS/OpenMP threads pinned to {th['limit']} (threadpoolctl): " + ", ".join(
            f"{x['internal_api']} {x['num_threads']}" for x in th["libraries"]) + ".", ""]
    for title, res in metrics["questions"].items():
        lines += [f"## {title}", ""]
        if "skipped" in res:
            lines += [f"skipped: {res['skipped']}", ""]
            continue
        m = res["metric"]
        lines += [f"**{res['headline']}**", "",
                  f"n = {res['n_train']} train + {res['n_test']} test; split: {res['split']}."
                  + (f" Weights (and probe outputs) at snapshot epoch {res['epoch']}."
                     if "epoch" in res else "")]
        if "warning" in res:
            lines.append(f"Warning: {res['warning']}.")
        lines += ["", f"| feature family | {m} | 95% interval |", "|---|---|---|"]
        lines += [_row(f, r, m) for f, r in res["families"].items()]
        lines += [_row(f"control: {c}", r, m) for c, r in res["controls"].items()]
        lines.append("")
        if "removed" in res:
            lines += [f"\"Without them\": first-layer weights of {res['removed']['what']} "
                      "set to 0 in every network.", ""]
        if title in figures:
            lines += [f"![{figures[title]}]({figures[title]})", ""]
    lines += ["## Plots", ""] + [f"![{f}]({f})" for f in metrics["plots"]
                                 if f not in figures.values()]
    return "\n".join(lines) + "\n"
