"""What ``verify`` checks beyond readable chunks: each finished network's arrays against its
status (table-driven: :data:`INVARIANTS`), and every value the spec alone decides against
the spec (:func:`check_against_spec`).

A deleted chunk reads as the array's fill value (NaN, -1, False): the invariants catch it
because a finished network never holds those (a done network has finite losses, metrics and
histories up to its epochs; restarts >= 0; ``final_train_loss`` is the last history entry;
``learnt`` and ``backdoor_took`` follow from the metrics; a network that did not stop early
ran its attempt to the cap). A rewritten ``class_id``, swapped ``key`` chunk, edited machine
table or root attribute that lies is caught by comparing it with what the stored spec
rebuilds, bit for bit.

To check a new per-network array, add a row to :data:`INVARIANTS` (and, for an array fixed
before training, pass its expected values in ``expected``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mlds_jax.spec import (
    RECORDING_FIELDS,
    SPLIT_CODES,
    SPLIT_DESCRIPTIONS,
    learnt_flag,
    probe_count,
    snapshot_schedule,
)
from mlds_jax.store._schema import DONE, FAILED, FORMAT_VERSION, STATUS_CODES


@dataclasses.dataclass(frozen=True)
class Rows:
    """One finished block's rows: every array read (``v[name]``, rows ``lo:hi``), which
    networks are done / failed, and the store's spec and root attributes."""

    v: Mapping[str, np.ndarray]
    done: np.ndarray  # bool [rows]
    failed: np.ndarray  # bool [rows]
    spec: Any
    attrs: Mapping[str, Any]

    @property
    def finished(self) -> np.ndarray:
        return self.done | self.failed

    @property
    def epochs(self) -> np.ndarray:
        return self.v["epochs"].astype(np.int64)


def _bits(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.kind == "f" else a


def _history_bad(name: str) -> Callable[[Rows], np.ndarray]:
    """A history row is finite up to the network's epochs (a failed one: before its last,
    diverged epoch) and NaN after them."""
    def bad(r: Rows) -> np.ndarray:
        h = r.v[name]
        col = np.arange(h.shape[1])[None, :]
        ran = col < np.clip(r.epochs, 0, h.shape[1])[:, None]
        need = col < np.clip(r.epochs - r.failed, 0, h.shape[1])[:, None]
        finite = np.isfinite(h)
        return r.finished & ((need & ~finite).any(1) | (~ran & ~np.isnan(h)).any(1))
    return bad


def _finite_when_done(name: str) -> Callable[[Rows], np.ndarray]:
    return lambda r: r.done & ~np.isfinite(r.v[name])


def _last_history(r: Rows) -> np.ndarray:
    """``final_train_loss`` is the train-loss history's entry of the last epoch run."""
    h, e = r.v["history/train_loss"], r.epochs
    ok = (e >= 1) & (e <= h.shape[1])
    last = h[np.arange(len(e)), np.clip(e - 1, 0, h.shape[1] - 1)]
    return r.finished & ok & (_bits(last) != _bits(r.v["final_train_loss"]))


def _epochs_range(r: Rows) -> np.ndarray:
    return r.finished & (r.epochs > r.spec.train.epoch_cap)


def _restarts_range(r: Rows) -> np.ndarray:
    top = getattr(r.spec.train, "max_restarts", None) or 0
    x = r.v["restarts"]
    return r.finished & ((x < 0) | (x > top))


def _learnt_rule(r: Rows) -> np.ndarray:
    thresholds = r.attrs.get("learnt_thresholds") or r.spec.learnt_thresholds
    if any(k not in r.v for k in thresholds):
        return np.zeros(len(r.done), bool)
    want = ~r.failed & np.asarray(learnt_flag(thresholds, {k: r.v[k] for k in thresholds}))
    return r.finished & (r.v["learnt"].astype(bool) != want)


def _backdoor_rule(r: Rows) -> np.ndarray:
    threshold = getattr(r.spec, "asr_threshold", None)
    if threshold is None:
        return np.zeros(len(r.done), bool)
    want = r.v["attack_success_rate"] >= np.float32(threshold)
    return r.finished & (r.v["backdoor_took"].astype(bool) != want)


def _stopping_rule(r: Rows) -> np.ndarray:
    """A network that stopped early has its last validation loss under the threshold; one
    that did not ran its last attempt to the epoch cap (or failed)."""
    t = r.spec.train
    attempt_cap = int(getattr(t, "max_epochs", None) or t.epoch_cap)
    restarts = r.v["restarts"].astype(np.int64) if "restarts" in r.v else 0
    stopped = r.v["stopped_early"].astype(bool)
    ran_out = r.done & ~stopped & (r.epochs - restarts * attempt_cap != attempt_cap)
    threshold = getattr(t, "stop_val_loss", None)
    if threshold is None:  # no early stopping in this task
        return ran_out | (r.finished & stopped)
    h, e = r.v["history/val_loss"], r.epochs
    last = h[np.arange(len(e)), np.clip(e - 1, 0, h.shape[1] - 1)]
    return ran_out | (r.failed & stopped) | (
        r.done & stopped & ~(last < np.float32(threshold)))


def _reached_rule(r: Rows) -> np.ndarray:
    """``snapshots/reached``: the network trained to each snapshot epoch (its epochs, less a
    failed last one)."""
    epochs = np.asarray((r.attrs.get("recording") or {}).get("snapshot_epochs") or [])
    got = r.v["snapshots/reached"].astype(bool)
    if got.shape[1:] != epochs.shape:
        return r.finished
    want = epochs[None, :] <= (r.epochs - r.failed)[:, None]
    return r.finished & (got != want).any(1)


def _all_finite(name: str) -> Callable[[Rows], np.ndarray]:
    def bad(r: Rows) -> np.ndarray:
        x = r.v[name]
        return r.finished & ~np.isfinite(x.reshape(len(x), -1)).all(1)
    return bad


@dataclasses.dataclass(frozen=True)
class Invariant:
    """A rule every finished network of a store that holds ``arrays`` keeps."""

    arrays: tuple[str, ...]  # checked where the store holds all of them
    what: str  # the broken rule, as verify prints it
    bad: Callable[[Rows], np.ndarray]  # bool [rows]: the rows that break it


INVARIANTS: list[Invariant] = [
    Invariant(("epochs",), "epochs above the spec's epoch cap", _epochs_range),
    Invariant(("final_train_loss",), "not finite", _finite_when_done("final_train_loss")),
    Invariant(("final_val_loss",), "not finite", _finite_when_done("final_val_loss")),
    Invariant(("val_bit_accuracy",), "not finite", _finite_when_done("val_bit_accuracy")),
    Invariant(("clean_accuracy",), "not finite", _finite_when_done("clean_accuracy")),
    Invariant(("attack_success_rate",), "not finite",
              _finite_when_done("attack_success_rate")),
    Invariant(("history/train_loss",), "not finite up to its epochs, or not NaN after",
              _history_bad("history/train_loss")),
    Invariant(("history/val_loss",), "not finite up to its epochs, or not NaN after",
              _history_bad("history/val_loss")),
    Invariant(("final_train_loss", "history/train_loss"),
              "differs from the train-loss history's last epoch", _last_history),
    Invariant(("restarts",), "outside 0..the spec's max_restarts", _restarts_range),
    Invariant(("poisoned_samples",), "negative",
              lambda r: r.finished & (r.v["poisoned_samples"] < 0)),
    Invariant(("learnt",), "disagrees with the metrics and learnt_thresholds", _learnt_rule),
    Invariant(("backdoor_took", "attack_success_rate"),
              "disagrees with attack_success_rate >= the spec's asr_threshold",
              _backdoor_rule),
    Invariant(("stopped_early", "history/val_loss"),
              "disagrees with the stopping rule (stopped: last validation loss under "
              "stop_val_loss; else the attempt ran to max_epochs)", _stopping_rule),
    # snapshots along training (values["snapshots/params"]: all finite, per network)
    Invariant(("snapshots/params",), "not finite",
              lambda r: r.finished & ~r.v["snapshots/params"].astype(bool)),
    Invariant(("snapshots/reached",), "disagrees with the network's epochs and the snapshot "
              "epochs", _reached_rule),
    Invariant(("probe/outputs",), "not finite", _all_finite("probe/outputs")),
]


def check_invariants(damage: Callable[[int, str], None], values: Mapping[str, np.ndarray],
                     spec: Any, attrs: Mapping[str, Any], n: int, block: int,
                     skip: set[int]) -> None:
    """Calls ``damage(block, why)`` for every finished block (not in ``skip``) holding a
    network that breaks an :data:`INVARIANTS` rule whose arrays ``values`` holds."""
    rules = [x for x in INVARIANTS if all(a in values for a in x.arrays)]
    status = values["status"]
    for b in range(-(-n // block)):
        lo, hi = b * block, min((b + 1) * block, n)
        st = status[lo:hi]
        if b in skip or not ((st == DONE) | (st == FAILED)).any():
            continue
        rows = Rows({k: a[lo:hi] for k, a in values.items()}, st == DONE, st == FAILED,
                    spec, attrs)
        for rule in rules:
            bad = np.flatnonzero(rule.bad(rows))
            if bad.size:
                damage(b, f"{rule.arrays[0]}: {rule.what} in {bad.size} finished "
                          f"network(s) (first: {lo + int(bad[0])})")


def _split_attr_problems(a: Mapping[str, Any], g: Any) -> list[str]:
    """The root attribute ``splits`` and each ``splits/<name>`` array's ``codes`` attribute
    hold the fixed codes and descriptions (a reader decodes the split codes with them)."""
    splits = a.get("splits")
    if splits is None:
        return []
    names = splits.get("names") if isinstance(splits, dict) else None
    if not isinstance(names, dict) or splits.get("codes") != SPLIT_CODES:
        return [f"zarr.json: splits attribute {splits!r:.120} is not codes {SPLIT_CODES} with "
                "named splits"]
    out = [f"zarr.json: splits attribute: {n!r} "
           + ("has another description than this version's" if n in SPLIT_DESCRIPTIONS
              else "is not a split of this version") for n in names
           if SPLIT_DESCRIPTIONS.get(n) != names[n]]
    for n in names:
        try:
            codes = g[f"splits/{n}"].attrs.get("codes")
        except Exception:  # noqa: BLE001 - a missing array is reported elsewhere
            continue
        if codes is not None and dict(codes) != SPLIT_CODES:
            out.append(f"splits/{n}: attribute codes {dict(codes)} is not {SPLIT_CODES}")
    return out


def _recording_problems(a: Mapping[str, Any], g: Any, spec: Any) -> list[str]:
    """The root attribute ``recording`` says what the stored spec records: its snapshot
    epochs and probe count. A store without it records nothing (made before recording
    existed, whose stored spec then names no recording field, or with snapshots "none")."""
    rec = a.get("recording")
    stored = (a.get("spec") or {}).get("train") or {}
    explicit = isinstance(stored, dict) and any(f in stored for f in RECORDING_FIELDS)
    epochs = list(snapshot_schedule(spec.train))
    if rec is None:
        if explicit and epochs:
            return [f"zarr.json: no recording attribute, but the stored spec keeps snapshots "
                    f"at epochs {epochs}"]
        if "snapshots" in g:
            return ["zarr.json: no recording attribute, but the store holds snapshots/"]
        return []
    if not epochs:
        return ["zarr.json: a recording attribute, but the stored spec keeps no snapshots"]
    if not isinstance(rec, dict):
        return [f"zarr.json: recording attribute {rec!r:.80}, expected the stored spec's "
                f"snapshot epochs {epochs} and {probe_count(spec)} probes"]
    out = []
    if list(rec.get("snapshot_epochs") or []) != epochs:
        out.append(f"zarr.json: recording snapshot_epochs {rec.get('snapshot_epochs')!r:.80} "
                   f"are not the stored spec's {epochs}")
    if rec.get("probes") != probe_count(spec):
        out.append(f"zarr.json: recording probes {rec.get('probes')!r} is not the stored "
                   f"spec's {probe_count(spec)}")
    return out


def check_against_spec(fatal: list[str], rewritable: dict[str, list[str]], view: Any,
                       values: Mapping[str, np.ndarray],
                       expected: Mapping[str, Any] | None) -> None:
    """Compares what the stored spec decides with the store: root attributes and array
    attributes (``fatal``: a resume refuses), and, given ``expected`` (array name -> the
    values the spec plans, e.g. ``class_id``, ``key``, ``machines/output``; ``"layout"`` ->
    the parameter layout records), every planned array bit for bit (``rewritable``: a resume
    rewrites them from the spec)."""
    a, g = view.attrs, view.group
    try:
        spec = view.spec
    except Exception as e:  # noqa: BLE001 - any failure means the stored spec is damaged
        fatal.append(f"zarr.json: the stored spec does not load ({type(e).__name__}: "
                     f"{' '.join(str(e).split())[:160]})")
        return
    version = a.get("format_version", 1)
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        fatal.append(f"zarr.json: format_version {version!r}, expected 1..{FORMAT_VERSION}")
    if a.get("spec_digest") is not None and a.get("spec_digest") != spec.digest:
        fatal.append(f"zarr.json: spec_digest {a.get('spec_digest')!r} is not the stored "
                     f"spec's ({spec.digest!r})")
    if list(a.get("class_names", [])) != list(spec.classes):
        fatal.append("zarr.json: class_names differ from the stored spec's classes")
    if int(a.get("n_networks", -1)) != spec.n_networks:
        fatal.append(f"zarr.json: n_networks {a.get('n_networks')} is not the stored spec's "
                     f"{spec.n_networks}")
    if a.get("spec_version") is not None and a.get("spec_version") != spec.version:
        fatal.append(f"zarr.json: spec_version {a.get('spec_version')!r} is not the stored "
                     f"spec's ({spec.version!r})")
    fatal += _split_attr_problems(a, g) + _recording_problems(a, g, spec)
    try:
        names = g["class_id"].attrs.get("class_names")
        codes = g["status"].attrs.get("codes")
        layout = g["params"].attrs.get("layout")
    except Exception as e:  # noqa: BLE001 - damaged array metadata is reported elsewhere
        fatal.append(f"array attributes unreadable ({type(e).__name__})")
        return
    if names is not None and list(names) != list(spec.classes):
        fatal.append("class_id: attribute class_names differs from the stored spec's classes")
    if codes is not None and dict(codes) != STATUS_CODES:
        fatal.append(f"status: attribute codes {dict(codes)} is not {STATUS_CODES}")
    if layout is not None and layout != a.get("layout"):
        fatal.append("params: attribute layout differs from the root layout")
    expected = expected or {}
    if "layout" in expected and a.get("layout") != expected["layout"]:
        fatal.append("zarr.json: layout differs from the one the stored spec builds")
    splits = a.get("splits")
    if "class_id" in expected and isinstance(splits, dict) and isinstance(
            splits.get("names"), dict):
        want = sorted(k.removeprefix("splits/") for k in expected if k.startswith("splits/"))
        if sorted(splits["names"]) != want:
            fatal.append(f"zarr.json: splits attribute names {sorted(splits['names'])}, the "
                         f"stored spec's are {want}")
    for name, want in expected.items():
        if name == "layout" or name not in values or name in rewritable:
            continue
        got, want = values[name], np.asarray(want)
        if got.shape != want.shape or not np.array_equal(_bits(got), _bits(want.astype(
                got.dtype))):
            rows = (np.flatnonzero((_bits(got) != _bits(want.astype(got.dtype))).reshape(
                len(got), -1).any(1)) if got.shape == want.shape else np.arange(len(got)))
            rewritable.setdefault(name, []).append(
                f"{name}: {rows.size} row(s) differ from the stored spec's (first: "
                f"{int(rows[0]) if rows.size else '?'}); "
                + ("a resume refuses" if name == "key" else "rebuilt from the spec on resume"))
