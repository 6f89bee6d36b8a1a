"""BOINC's validation and work units, done cheaper: recompute and merge.

MLC@Home validated volunteers' work by sending each work unit to several computers and
comparing the results. Here a network is a pure function of (spec, index) and is trained by
the same fixed-width chunk program whatever block or run it was part of, so one store is
checked by **retraining a random sample of its networks** and comparing bit for bit
(:func:`recompute`); and workers with no shared filesystem can each build a store for their
share of the blocks (``--process-index/--process-count``), to be **merged** afterwards
(:func:`merge`). Bit equality holds on the same backend and machine (CPU instruction set,
XLA version); across machines the floats may differ in the last bits.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from mlds_jax.errors import SpecError, StoreError, StoreExistsError
from mlds_jax.store import (
    DONE,
    FAILED,
    PENDING,
    block_results,
    check_output_path,
    check_store,
    finish_store,
    open_store,
    read_root_attrs,
    setup_differences,
    stored_chunk_width,
    writer_lock,
)


def _bits(a: np.ndarray) -> np.ndarray:
    """A view whose equality is bit equality (NaN equals the same NaN)."""
    a = np.ascontiguousarray(a)
    if a.dtype.kind == "f":
        return a.view(f"u{a.dtype.itemsize}")
    return a


def recompute(path: str | os.PathLike, k: int, *, seed: int | None = None,
              data_dir: str | os.PathLike | None = None, progress: bool = False
              ) -> dict[str, Any]:
    """Retrains ``k`` randomly chosen finished networks of the store at ``path`` and compares
    every stored array of theirs bit for bit.

    Returns:
      ``{"networks": [indices checked], "mismatches": ["network 17 (ParityMachine #3):
      params differ in 12 of 4364 values", ...], "note": ...}``.
    """
    from mlds_jax.pipeline import prepare_task, spec_as_stored
    from mlds_jax.train import make_block_trainer, network_inputs

    store = open_store(path)
    spec, status = store.spec, store["status"]
    finished = np.flatnonzero(status != PENDING)
    if finished.size == 0:
        raise StoreError(f"{path}: no finished network to recompute")
    if not isinstance(k, int) or k < 1:
        raise SpecError(f"`k`: expected a positive number of networks, got {k!r}")
    if seed is not None and (not isinstance(seed, int) or seed < 0):
        raise SpecError(f"`seed`: expected an integer >= 0 (or None: a fresh choice), got "
                        f"{seed!r}")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(finished, size=min(k, finished.size), replace=False))
    data = prepare_task(spec, path, data_dir).data  # DS4: refuses other image files
    spec = spec_as_stored(spec, store.attrs)  # its snapshot epochs and probes
    trainer = make_block_trainer(spec, data, stored_chunk_width(store.attrs))
    result = trainer(network_inputs(spec, chosen))._asdict()
    fields = block_results(store.attrs)  # every array a block writes, but status
    group = store.group
    names = sorted(n for n, f in fields.items() if f in result and n in group)
    stored = {n: np.asarray(group[n].get_orthogonal_selection((chosen,))) for n in names}
    want_status = np.where(np.asarray(result["failed"]), FAILED, DONE)
    mismatches = []
    for row, net in enumerate(chosen):
        where = f"network {int(net)} ({store.class_names[int(store['class_id'][net])]} " \
                f"#{int(store['replicate'][net])})"
        bad = []
        if status[net] != want_status[row]:
            bad.append(f"status is {int(status[net])}, recomputed {int(want_status[row])}")
        for n in names:
            a, b = _bits(stored[n][row]), _bits(np.asarray(result[fields[n]][row],
                                                           stored[n].dtype))
            if not np.array_equal(a, b):
                diff = int(np.sum(a != b)) if a.shape else 1
                bad.append(f"{n} differs in {diff} of {max(a.size, 1)} values")
        if bad:
            mismatches.append(f"{where}: {'; '.join(bad)}")
    notes = {
        "backend": "the store was trained on {0}, this run used {1}: bit equality is only "
                   "promised on the same backend and machine",
        "cpu": "the store was trained on another CPU ({0}; this one: {1}): another "
               "instruction set may move the last bits",
        "gru_kernel": "the store was trained with the {0!r} GRU kernel, this run used {1!r} "
                      "(set MLDS_JAX_GRU_KERNEL={0})"}
    note = "; ".join(notes[k].format(*d)
                     for k, d in setup_differences(store.attrs, cpu=True).items())
    return {"networks": [int(i) for i in chosen], "mismatches": mismatches, "note": note}


def verify_record(path: str | os.PathLike, recompute_k: int = 0, seed: int | None = None,
                  data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """One store's verification as a JSON-able record ``{path, ok, problems}`` (what the
    ``verify`` command prints): :func:`~mlds_jax.store.check_store` against the stored spec,
    then, with ``recompute_k``, :func:`recompute` of that many networks when the store has no
    damage (pending networks do not stop it; the record gains ``recomputed`` and ``note``).

    A damaged or missing store is a problem in the record, never an exception.

    Raises:
      SpecError: ``seed`` or ``data_dir`` without ``recompute_k`` (they would do nothing),
        or a bad ``recompute_k`` / ``seed``: argument errors, not damage.
      DataError: the image files ``recompute`` needs are missing or other than the store's.
    """
    from mlds_jax.errors import DataError, describe

    for field, value in (("seed", seed), ("data_dir", data_dir)):
        if value is not None and not recompute_k:
            raise SpecError(f"`{field}`: only with `k` (verify retrains nothing without it)")
    if not isinstance(recompute_k, int) or isinstance(recompute_k, bool) or recompute_k < 0:
        raise SpecError(f"`k`: expected a number of networks >= 0, got {recompute_k!r}")
    if seed is not None and (not isinstance(seed, int) or seed < 0):
        raise SpecError(f"`seed`: expected an integer >= 0 (or None: a fresh choice), got "
                        f"{seed!r}")
    record: dict[str, Any] = {"path": os.fspath(path), "problems": []}
    try:
        check = check_store(path)
        record["problems"] = list(check.problems)
        damaged = bool(check.fatal or check.damaged or check.rewritable)
    except Exception as e:  # noqa: BLE001 - one record per store, never a traceback
        record["problems"], damaged = [describe(e, os.fspath(path))], True
    if recompute_k and not damaged:
        try:
            r = recompute(path, recompute_k, seed=seed, data_dir=data_dir)
            record.update(recomputed=r["networks"], note=r["note"])
            record["problems"] += [f"recompute: {m}" for m in r["mismatches"]]
        except (DataError, SpecError):
            raise  # an argument or data-file problem, not damage
        except Exception as e:  # noqa: BLE001 - as above
            record["problems"].append(f"recompute: {describe(e, os.fspath(path))}")
    elif recompute_k:
        record["note"] = "recompute skipped: the store is damaged"
    record["ok"] = not record["problems"]
    return record


def _blocks(status: np.ndarray, block_size: int) -> tuple[set[int], set[int]]:
    """``(complete blocks, partly written blocks)`` of one store's status array."""
    complete, partial = set(), set()
    for b in range(-(-len(status) // block_size)):
        s = status[b * block_size:(b + 1) * block_size]
        if np.all(s != PENDING):
            complete.add(b)
        elif np.any(s != PENDING):
            partial.add(b)
    return complete, partial


# Root attributes every part must share (format_version: parts written by two mlds-jax
# versions may hold different arrays, e.g. format 3's ``restarts``).
_SAME = ("spec", "spec_digest", "block_size", "n_networks", "n_params", "task", "layout",
         "chunk_width", "data_files", "gru_kernel", "backend", "format_version")


def merge(out: str | os.PathLike, parts: list[str | os.PathLike]) -> dict[str, Any]:
    """Merges stores built for disjoint blocks of one spec (e.g. by workers with
    ``--process-index i --process-count n`` and no shared filesystem) into a new store
    ``out``.

    Refuses (nothing written): an existing ``out``; parts of another spec, block size,
    chunk width, data or store format version; a part with a partly written block
    (unfinished or damaged: run ``generate`` on it first); a block finished in two parts
    (overlap); a part that does not verify. The merged store may still have pending blocks
    (no part trained them): resume it with ``generate``.

    Returns:
      ``{"blocks": n finished blocks, "pending_blocks": n, "parts": {path: [blocks]}}``.
    """
    out = Path(out)
    if len(parts) < 2:
        raise StoreError("merge: give at least two part stores")
    if out.exists() or out.is_symlink():
        raise StoreExistsError(f"{out}: exists; merge writes a new store - choose another `out`")
    check_output_path(out, parts)  # never inside a part
    with writer_lock(out):  # one merge per output
        result = _merge(out, parts)
        if not result["pending_blocks"]:  # complete: CF attributes, card, consolidation
            finish_store(out)
        return result


def _merge(out: Path, parts: list[str | os.PathLike]) -> dict[str, Any]:
    attrs = [read_root_attrs(p) for p in parts]
    for p, a in zip(parts[1:], attrs[1:]):
        for key in _SAME:
            if a.get(key) != attrs[0].get(key):
                hint = (f" ({a.get(key)} vs {attrs[0].get(key)}: build every part with the "
                        "same `chunk_width`)") if key == "chunk_width" else ""
                raise StoreError(f"{p}: its {key} differs from {parts[0]}'s{hint}; only stores "
                                 "of one spec (same block size, chunk width and data) merge")
    from mlds_jax.store import expected_arrays

    expected = expected_arrays(open_store(parts[0]).spec)  # (every part has its spec)
    owner: dict[int, str] = {}
    by_part: dict[str, list[int]] = {}
    for p in parts:
        status = np.asarray(zarr.open_group(str(p), mode="r")["status"][:])
        complete, partial = _blocks(status, int(attrs[0]["block_size"]))
        if partial:
            raise StoreError(f"{p}: block {min(partial)} is partly written (unfinished part); "
                             "finish it with `mlds-jax generate` first")
        # pending blocks are expected (another part holds them); planned values are not
        check = check_store(p, expected)
        problems = check.fatal + [w for why in check.rewritable.values() for w in why] + \
            [f"block {b}: {w}" for b, why in sorted(check.damaged.items()) for w in why]
        if problems:
            raise StoreError(f"{p}: does not verify ({problems[0]}); repair it first")
        for b in sorted(complete):
            if b in owner:
                raise StoreError(f"{p}: block {b} is also finished in {owner[b]} (overlap); "
                                 "parts must hold disjoint blocks")
            owner[b] = os.fspath(p)
        by_part[os.fspath(p)] = sorted(complete)

    bs, n = int(attrs[0]["block_size"]), int(attrs[0]["n_networks"])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        shutil.copytree(parts[0], tmp)
        dst = zarr.open_group(str(tmp), mode="r+")
        names = sorted(x for x in block_results(attrs[0]) if x in dst)  # status last, below
        for p in parts[1:]:
            src = zarr.open_group(str(p), mode="r")
            for b in by_part[os.fspath(p)]:
                lo, hi = b * bs, min((b + 1) * bs, n)
                for name in names:  # whole blocks: one writer per chunk/shard
                    dst[name][lo:hi] = src[name][lo:hi]
                dst["status"][lo:hi] = src["status"][lo:hi]  # status last
        meta = dict(dst.attrs["mlds_jax"])
        meta["merged_from"] = [{"path": os.fspath(p), "cpu": a.get("cpu"),
                                "blocks": by_part[os.fspath(p)]} for p, a in zip(parts, attrs)]
        dst.attrs["mlds_jax"] = meta
        os.rename(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    n_blocks = -(-n // bs)
    return {"blocks": len(owner), "pending_blocks": n_blocks - len(owner), "parts": by_part}
