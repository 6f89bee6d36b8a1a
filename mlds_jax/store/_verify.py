"""Checking a store chunk by chunk: every chunk readable, statuses consistent with the data.

:func:`check_store` sorts what it finds into what a resume can repair and what it cannot:

* ``damaged``: blocks whose trained data is unreadable or contradicts their status (a done
  network with non-finite weights or no metric, a failed one that never ran an epoch, an
  unknown status code, a block half pending). A network is a pure function of its index, so
  resetting such a block to pending and training it again restores it exactly.
* ``rewritable``: arrays fixed before training (keys, classes, learning rates, machine
  tables) with an unreadable chunk; they are rewritten from the spec.
* ``fatal``: metadata damage (root attributes, an array's ``zarr.json``, a changed shape,
  dtype or chunking): nothing can be trusted, so a resume refuses.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
from pathlib import Path

import numpy as np
import zarr

from mlds_jax.errors import StoreError
from mlds_jax.spec import stored_epoch_cap, task_of
from mlds_jax.store._coords import coordinate_problems
from mlds_jax.store._expected import expected_arrays
from mlds_jax.store._invariants import check_against_spec, check_invariants
from mlds_jax.store._open import open_store
from mlds_jax.store._schema import (
    DONE,
    FAILED,
    PENDING,
    headline_metric,
    is_planned,
    optional_planned,
    per_network_arrays,
    recorded_arrays,
    recording_of,
)

log = logging.getLogger("mlds_jax")


@dataclasses.dataclass
class StoreCheck:
    """What :func:`check_store` found in one store."""

    path: Path
    fatal: list[str] = dataclasses.field(default_factory=list)
    damaged: dict[int, list[str]] = dataclasses.field(default_factory=dict)  # block -> why
    rewritable: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # array -> why
    pending: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))
    block_size: int = 0

    def damage(self, block: int, why: str) -> None:
        """Records that ``block`` is damaged, and why."""
        self.damaged.setdefault(block, []).append(why)

    @property
    def problems(self) -> list[str]:
        """One line per problem, as ``verify`` prints them (pending networks included)."""
        out = list(self.fatal)
        for _name, why in sorted(self.rewritable.items()):
            out += why
        for b, why in sorted(self.damaged.items()):
            out += [f"block {b}: {w}" for w in why]
        if self.pending.size:
            out.append(f"{self.pending.size} networks pending (first: "
                       f"{self.pending[:5].tolist()})")
        return out


def _open_array(group, name: str, check: StoreCheck):
    try:
        return group[name]
    except KeyError:
        check.fatal.append(f"{name}: missing array (its zarr.json is gone)")
    except Exception as e:  # noqa: BLE001 - any parse failure is damaged metadata
        check.fatal.append(f"{name}/zarr.json: unreadable array metadata "
                           f"({type(e).__name__}: {_one_line(e)})")
    return None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:200]


def _chunks(arr):
    """``(chunk coords, selection)`` of every stored chunk (or shard) of ``arr``."""
    outer = tuple(arr.metadata.chunk_grid.chunk_shape)
    grid = [range(-(-s // c)) for s, c in zip(arr.shape, outer)]
    for coords in itertools.product(*grid):
        yield coords, tuple(slice(i * c, min((i + 1) * c, s))
                            for i, c, s in zip(coords, outer, arr.shape))


def _key(arr, coords) -> str:
    return f"{arr.path}/{arr.metadata.encode_chunk_key(coords)}"


def _read_chunks(arr, on_error) -> np.ndarray:
    """Reads ``arr`` one stored chunk (or shard) at a time; calls ``on_error(chunk_coords,
    chunk_key, error)`` for each unreadable one, leaving its region at the fill value."""
    out = np.full(arr.shape, arr.metadata.fill_value, dtype=arr.dtype)
    for coords, sel in _chunks(arr):
        try:
            out[sel] = arr[sel]
        except Exception as e:  # noqa: BLE001 - codec errors come as several types
            on_error(coords, _key(arr, coords), e)
    return out


def check_store(path: str | os.PathLike, expected: dict | None = None) -> StoreCheck:
    """Reads every chunk of every array of the store at ``path`` and checks the statuses
    against the data, each finished network against the invariants of its arrays
    (``_invariants.INVARIANTS``) and the root and array attributes against the stored spec.
    ``expected``: array name -> the values the spec plans (``class_id``, ``key``,
    ``machines/output``...; ``"layout"``: the layout records), compared bit for bit; by
    default :func:`~mlds_jax.store.expected_arrays` of the stored spec (every caller gets
    the same checks). Never raises for a damaged store: damage is reported in the result."""
    check = StoreCheck(Path(path))
    try:
        view = open_store(path)
        a, g = view.attrs, view.group
        n, n_params, block = int(a["n_networks"]), int(a["n_params"]), int(a["block_size"])
        task = task_of(a)  # a SpecError (a ValueError) for an unknown task
        epochs = stored_epoch_cap(a["spec"])
        layout_sum = sum(int(e["size"]) for e in a["layout"])
        if n <= 0 or block <= 0:
            raise ValueError(f"n_networks {n}, block_size {block}")
    except StoreError as e:
        check.fatal.append(str(e))
        return check
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        check.fatal.append(f"zarr.json: damaged root attributes ({type(e).__name__}: "
                           f"{_one_line(e)})")
        return check
    check.block_size = block
    if layout_sum != n_params:
        check.fatal.append(f"layout sizes sum to {layout_sum}, n_params is {n_params}")
    arrays = {}
    version = int(a.get("format_version", 1))
    grids = tuple(a.get("grid") or ())  # grid values stored per network (e.g. poison_fraction)
    recording = recording_of(a)  # snapshots and probe outputs, where the store keeps them
    for schema, trailing in per_network_arrays(n_params, epochs, task, version, grids,
                                               optional_planned(a)) + recorded_arrays(
                                                   n_params, recording):
        arr = _open_array(g, schema.name, check)
        if arr is None:
            continue
        if arr.shape != (n, *trailing) or str(arr.dtype) != schema.dtype:
            check.fatal.append(f"{schema.name}: shape {arr.shape} dtype {arr.dtype}, expected "
                               f"{(n, *trailing)} {schema.dtype}")
            continue
        if problem := _metadata_problem(arr, schema):
            check.fatal.append(problem)
            continue
        if tuple(arr.metadata.chunk_grid.chunk_shape)[0] != min(block, n):
            check.fatal.append(f"{schema.name}: chunks of "
                               f"{arr.metadata.chunk_grid.chunk_shape[0]} networks, expected "
                               f"one block ({min(block, n)})")
            continue
        arrays[schema.name] = arr
    if check.fatal:
        return check
    values = {}
    for name, arr in arrays.items():
        def on_error(coords, key, e, name=name):
            why = f"{key}: unreadable chunk ({_one_line(e)})"
            if is_planned(name):
                check.rewritable.setdefault(name, []).append(why)
            else:
                check.damage(int(coords[0]), why)
        if name in ("params", "snapshots/params"):  # the large ones: "all finite" per network
            values[name] = _finite_rows(arr, on_error)
        else:
            values[name] = _read_chunks(arr, on_error)
    for name in _table_names(g, check) + _recording_tables(g, recording):
        arr = _open_array(g, name, check)
        if arr is not None:
            values[name] = _read_chunks(arr, lambda c, key, e, name=name: check.rewritable
                                        .setdefault(name, []).append(
                                            f"{key}: unreadable chunk ({_one_line(e)})"))
    _check_statuses(check, values, headline_metric(task), n, block)
    if expected is None:
        expected = expected_of(path)
    check_against_spec(check.fatal, check.rewritable, view, values, expected)
    for name, why in coordinate_problems(g, a["class_names"], a["layout"]).items():
        check.rewritable.setdefault(name, []).append(why)  # the stored coordinates
    if not check.fatal:  # (the stored spec loads)
        check_invariants(check.damage, values, view.spec, a, n, block, set(check.damaged))
        _check_final_snapshots(check, arrays, values, n, block)
    cls = values["class_id"]
    if "class_id" not in check.rewritable and (cls.min() < 0
                                               or cls.max() >= len(a["class_names"])):
        check.fatal.append("class_id: values outside class_names")
    return check


def expected_of(path: str | os.PathLike) -> dict:
    """:func:`~mlds_jax.store.expected_arrays` of the spec stored at ``path`` (empty when
    the store or its spec does not load: :func:`check_store` reports that damage)."""
    try:
        return expected_arrays(open_store(path).spec)
    except Exception:  # noqa: BLE001 - reported by check_against_spec as damage
        return {}


def _check_final_snapshots(check: StoreCheck, arrays: dict, v: dict[str, np.ndarray],
                           n: int, block: int) -> None:
    """A finished network's snapshot slots it never reached, and a done network's slot of
    its last epoch, hold its final ``params`` bit for bit (read one block at a time)."""
    if not {"snapshots/params", "snapshots/reached", "snapshots/epoch"} <= set(v) or (
            "snapshots/epoch" in check.rewritable):
        return
    snap_epochs = v["snapshots/epoch"].astype(np.int64)
    for b in range(-(-n // block)):
        lo, hi = b * block, min((b + 1) * block, n)
        st = v["status"][lo:hi]
        finished = (st == DONE) | (st == FAILED)
        if b in check.damaged or not finished.any():
            continue
        final = np.asarray(arrays["params"][lo:hi])
        snaps = np.asarray(arrays["snapshots/params"][lo:hi])
        want = ~v["snapshots/reached"][lo:hi].astype(bool) | (
            (st == DONE)[:, None] & (snap_epochs[None, :] == v["epochs"][lo:hi, None]))
        want &= finished[:, None]
        same = (snaps.view(np.uint32) == final.view(np.uint32)[:, None, :]).all(-1)
        bad = np.flatnonzero((want & ~same).any(1))
        if bad.size:
            check.damage(b, f"snapshots/params: a slot after the network's last epoch (or at "
                            f"it) differs from its final params in {bad.size} finished "
                            f"network(s) (first: {lo + int(bad[0])})")


def _metadata_problem(arr, schema) -> str | None:
    """What in ``arr``'s metadata differs from its schema: its fill value (what a deleted
    chunk reads as: a status array filled with "done" would pass lost chunks off as trained)
    or its dimension names (xarray lines arrays up by them)."""
    fill, want = arr.metadata.fill_value, schema.fill_value
    same = (np.isnan(fill) if isinstance(want, float) and np.isnan(want)
            else bool(np.asarray(fill == want)))
    if not same:
        return f"{schema.name}: fill value {fill!r}, expected {want!r}"
    dims = arr.metadata.dimension_names
    if dims is not None and tuple(dims)[0] != "network":
        return f"{schema.name}: dimension names {list(dims)}, expected 'network' first"
    if dims is not None and schema.dims and tuple(dims) != tuple(schema.dims):
        return f"{schema.name}: dimension names {list(dims)}, expected {list(schema.dims)}"
    return None


def _table_names(group, check: StoreCheck) -> list[str]:
    try:
        return [f"machines/{k}" for k in sorted(group["machines"].array_keys())]
    except KeyError:
        return []  # DS4 stores have no machine tables
    except Exception as e:  # noqa: BLE001 - any parse failure is damaged metadata
        check.fatal.append(f"machines/zarr.json: unreadable group metadata "
                           f"({type(e).__name__}: {_one_line(e)})")
        return []


def _recording_tables(group, recording: dict | None) -> list[str]:
    """The store-wide arrays of a store that records snapshots (``snapshots/epoch``,
    ``probe/inputs``...; written once from the spec, so rewritable)."""
    if recording is None:
        return []
    probe = group["probe"] if "probe" in group else None
    names = set(probe.array_keys()) if probe is not None else set()
    if int(recording.get("probes") or 0) > 0:
        names.add("inputs")  # kept with every probe set (a missing one is reported)
    return ["snapshots/epoch"] + [f"probe/{k}" for k in sorted(names - {"outputs"})]


def _finite_rows(arr, on_error) -> np.ndarray:
    """bool ``[network]``: every parameter finite (read one stored chunk at a time)."""
    out = np.ones(arr.shape[0], bool)
    for coords, sel in _chunks(arr):
        try:
            out[sel[0]] &= np.isfinite(arr[sel]).reshape(sel[0].stop - sel[0].start, -1).all(1)
        except Exception as e:  # noqa: BLE001 - codec errors come as several types
            on_error(coords, _key(arr, coords), e)
            out[sel[0]] = False
    return out


def _check_statuses(check: StoreCheck, v: dict[str, np.ndarray], metric: str, n: int,
                    block: int) -> None:
    status, ep = v["status"], v["epochs"]
    for b in range(-(-n // block)):
        if b in check.damaged:
            continue  # unreadable: retrained anyway
        lo, hi = b * block, min((b + 1) * block, n)
        st, e = status[lo:hi], ep[lo:hi]
        unknown = np.flatnonzero((st != PENDING) & (st != DONE) & (st != FAILED))
        if unknown.size:
            check.damage(b, f"status: unknown code {int(st[unknown[0]])} at network "
                            f"{lo + int(unknown[0])} ({unknown.size} in the block)")
            continue
        if (st == PENDING).all():
            continue
        if (st == PENDING).any():
            check.damage(b, "status: block partly pending (a block is written whole)")
            continue
        done, failed = st == DONE, st == FAILED
        bad = np.flatnonzero(done & ~v["params"][lo:hi])
        if bad.size:
            check.damage(b, f"params: non-finite weights in {bad.size} done network(s) "
                            f"(first: {lo + int(bad[0])})")
        bad = np.flatnonzero(done & ~np.isfinite(v[metric][lo:hi]))
        if bad.size:
            check.damage(b, f"{metric}: missing in {bad.size} done network(s) "
                            f"(first: {lo + int(bad[0])})")
        bad = np.flatnonzero((done | failed) & (e < 1))
        if bad.size:
            check.damage(b, f"epochs: {bad.size} network(s) marked done/failed after "
                            f"{int(e[bad[0]])} epochs (first: {lo + int(bad[0])})")
    pending = np.flatnonzero(status == PENDING)
    check.pending = pending[~np.isin(pending // block, list(check.damaged))]


def verify(path: str | os.PathLike) -> list[str]:
    """Returns the problems found (empty when the store is complete and consistent)."""
    return check_store(path).problems


_DIFFERS = "differ from the stored spec's"  # (check_against_spec's wording)


def repair_or_refuse(path: str | os.PathLike, planned: dict[str, np.ndarray],
                     tables: dict[str, np.ndarray] | None = None) -> StoreCheck:
    """Before a resume: checks the store like :func:`verify`, then repairs what is exact to
    repair and refuses the rest.

    * damaged blocks are reset to pending (their networks are trained again, bit for bit:
      a network is a pure function of its index);
    * unreadable chunks of the planned arrays (``planned``: key, class, learning rate...)
      and machine tables (``tables``) are rewritten from the spec;
    * metadata damage raises :class:`StoreError` saying how to recover.
    """
    sources = {**expected_of(path), **planned,
               **{f"machines/{k}": v for k, v in (tables or {}).items()}}
    check = check_store(path, sources)
    if check.fatal:
        more = f" (and {len(check.fatal) - 1} more)" if len(check.fatal) > 1 else ""
        raise StoreError(
            f"{path}: damaged store metadata: {check.fatal[0]}{more}; it cannot be resumed "
            f"safely - restore it from a copy, or move it aside and generate into a new `out` "
            f"(`mlds-jax verify {os.fspath(path)}` lists every problem)")
    if not check.rewritable and not check.damaged:
        return check
    if any(_DIFFERS in w for w in check.rewritable.get("key", [])):
        return check  # keys of another derivation, or edited: the writer refuses, naming it
    group = zarr.open_group(str(path), mode="r+")
    for name, why in sorted(check.rewritable.items()):
        if name not in sources:
            raise StoreError(f"{path}: {why[0]}; it cannot be rebuilt here - restore the "
                             "store from a copy or generate into a new `out`")
        group[name][...] = sources[name]
        log.warning("mlds-jax: %s: rewrote %s from the spec (%s)", path, name, why[0])
    n, block = group["status"].shape[0], check.block_size
    for b, why in sorted(check.damaged.items()):
        lo, hi = b * block, min((b + 1) * block, n)
        group["status"][lo:hi] = np.full(hi - lo, PENDING, np.uint8)
        log.warning("mlds-jax: %s: block %d (networks %d-%d) reset to pending, to be trained "
                    "again (%s)", path, b, lo, hi - 1, why[0])
    return check
