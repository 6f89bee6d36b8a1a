"""Creating, resuming and writing a dataset store.

Crash safety rests on three rules:
  * the store is built in a temporary directory and renamed into place, so a path either
    holds a complete empty store or nothing;
  * chunks (or, for ``params`` and ``history/*``, shards holding small inner chunks; see
    ``_shards.py``) along ``network`` are exactly one block, so each file has one writer, and
    Zarr's local store replaces files atomically (write to a temp file, then rename);
  * a block's ``status`` chunk is written after all its data, so a block whose status is not
    pending is complete; an interrupted block stays pending and is retrained in full.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from mlds_jax.errors import StoreError, StoreExistsError
from mlds_jax.spec import (
    SPLIT_CODES,
    SPLIT_DESCRIPTIONS,
    DatasetSpec,
    spec_grids,
    task_of,
    without_recording,
)
from mlds_jax.store._reader import LOST_ROOT, lost_root, read_root_attrs
from mlds_jax.store._schema import (
    DONE,
    FAILED,
    FORMAT,
    FORMAT_VERSION,
    PENDING,
    PLANNED,
    RECORDING_ATTR,
    ROOT_ATTR,
    SPLIT_PREFIX,
    STATUS_CODES,
    chunk_compressors,
    is_planned,
    per_network_arrays,
    recorded_arrays,
    recorded_results,
    recording_of,
    results_map,
)
from mlds_jax.store._shards import storage_chunks
from mlds_jax.store._verify import repair_or_refuse


def _spec_diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)  # a field added later as None reads as missing
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _spec_diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}: store has {_shown(va)}, requested {_shown(vb)}")
    return out


# Spec fields that recipes gained later: a store begun before lacks the field, and this
# option rebuilds the spec it was begun with.
_AS_BEGUN = {
    "train.max_restarts": "`max_restarts` 0",  # before the recipe restarted stuck networks
    "poison.placements": "`placements` 1",  # before badnetv2 showed a placement per epoch
}


def _resume_hint(diff: list[str]) -> str:
    """How to resume a store whose only difference is one field it predates ("" if none)."""
    if len(diff) == 1 and ": store has <missing>, requested " in diff[0]:
        option = _AS_BEGUN.get(diff[0].split(":")[0])
        if option:
            return f"; or resume it as it was begun with {option}"
    return ""


def _shown(value: Any) -> str:
    return "<missing>" if value is None else repr(value)


class StoreWriter:
    """Writes one dataset into one store; satisfies the coordinator's sink protocol."""

    def __init__(self, path: str | os.PathLike, spec: DatasetSpec, block_size: int,
                 task: str | None = None, format_version: int = FORMAT_VERSION):
        self.path = Path(path)
        self.spec = spec
        self.block_size = block_size
        self.task = task_of(spec if task is None else task).name
        self.format_version = format_version  # a resumed store keeps its own layout
        self._group = zarr.open_group(str(self.path), mode="r+")
        # snapshots and probe outputs, where the store records them (root attr recording)
        self.recorded = recorded_results(recording_of(self._group.attrs.get(ROOT_ATTR, {})))

    # -- creation / opening ---------------------------------------------------------------
    @classmethod
    def open_or_create(
        cls,
        path: str | os.PathLike,
        spec: DatasetSpec,
        *,
        block_size: int,
        layout: list[dict],
        planned: dict[str, np.ndarray],
        provenance: dict[str, Any],
        tables: dict[str, np.ndarray] | None = None,
        task: str | None = None,
        recording: dict[str, Any] | None = None,
        recording_arrays: dict[str, np.ndarray] | None = None,
    ) -> StoreWriter:
        """Creates a store at ``path``, or reopens one made from the same spec to resume.

        ``task``: the name of the store's task (default: ``spec``'s).
        ``recording``: the root attribute ``recording`` of a new store that keeps snapshots
        (``snapshot_epochs``, ``probes``, ``probe_output_shape``), with its store-wide arrays
        ``recording_arrays`` (``snapshots/epoch``, ``probe/inputs``...). A resumed store
        keeps what it was begun with (the spec's recording fields are not compared).

        Raises:
          StoreExistsError: ``path`` exists and is not an mlds-jax store (left untouched).
          StoreError: ``path`` is a store written by another spec (left untouched).
        """
        task = task_of(spec if task is None else task).name  # default: the spec's
        p = Path(path)
        if p.exists() or p.is_symlink():
            if lost_root(p):  # its arrays hold trained networks: never "remove it"
                raise StoreError(LOST_ROOT.format(p=p))
            if not p.is_dir() or not (p / "zarr.json").is_file():
                kind = "directory" if p.is_dir() else "file"
                raise StoreExistsError(
                    f"{p}: exists and is a {kind}, not an mlds-jax store; "
                    "choose another `out` or remove it"
                )
            try:
                attrs = read_root_attrs(p)
            except StoreError as e:
                raise StoreExistsError(f"{e}; choose another `out` or remove it") from None
            diff = _spec_diff(without_recording(attrs.get("spec", {})),
                              without_recording(spec.to_dict()))
            if diff:
                hint = _resume_hint(diff)
                raise StoreError(
                    f"{p}: store was written by another spec ({'; '.join(diff)}); "
                    f"nothing was changed - use a new `out` to build this spec{hint}"
                )
            # Repair what a retrain or the spec restores exactly; refuse metadata damage.
            repair_or_refuse(p, planned, tables)
            stored_keys = np.asarray(zarr.open_group(str(p), mode="r")["key"][:])
            if "key" in planned and not np.array_equal(stored_keys, planned["key"]):
                raise StoreError(
                    f"{p}: its networks' keys differ from the ones this mlds-jax version "
                    f"derives for the same spec (store written by mlds-jax "
                    f"{attrs.get('library_version', '?')}); resuming would mix two "
                    "derivations - finish it with that version or use a new `out` (if "
                    "it was made by this version, its key array was edited: restore the "
                    "store from a copy)"
                )
            return cls(p, spec, int(attrs["block_size"]), task_of(attrs).name,
                       int(attrs.get("format_version", 1)))
        try:
            cls._create(p, spec, block_size, layout, planned, provenance, tables or {}, task,
                        recording, recording_arrays or {})
        except OSError:
            # Another process created the same path first (several workers starting one
            # dataset at once): reopen it, which checks that it holds the same spec.
            if not (p / "zarr.json").is_file():
                raise
            return cls.open_or_create(p, spec, block_size=block_size, layout=layout,
                                      planned=planned, provenance=provenance, tables=tables,
                                      task=task, recording=recording,
                                      recording_arrays=recording_arrays)
        return cls(p, spec, block_size, task)

    @staticmethod
    def _create(p: Path, spec: DatasetSpec, block_size: int, layout: list[dict],
                planned: dict[str, np.ndarray], provenance: dict[str, Any],
                tables: dict[str, np.ndarray], task: str, recording: dict[str, Any] | None = None,
                recording_arrays: dict[str, np.ndarray] | None = None) -> None:
        n, n_params = spec.n_networks, layout[-1]["offset"] + layout[-1]["size"]
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.parent / f".{p.name}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            root = zarr.open_group(str(tmp), mode="w-")
            optional = tuple(name for name in planned if is_planned(name)
                             and name not in PLANNED)  # the spec's seeds, the splits
            for schema, trailing in per_network_arrays(n_params, spec.train.epoch_cap, task,
                                                       grids=tuple(spec_grids(spec)),
                                                       optional=optional):
                arr = root.create_array(
                    schema.name,
                    shape=(n, *trailing),
                    **storage_chunks(schema.dtype, min(block_size, n), trailing),
                    dtype=schema.dtype,
                    compressors=chunk_compressors(),
                    fill_value=schema.fill_value,
                    dimension_names=list(schema.dims),
                    attributes={"description": schema.description},
                )
                if is_planned(schema.name):
                    arr[...] = planned[schema.name]
                if schema.name.startswith(SPLIT_PREFIX):
                    arr.attrs["codes"] = SPLIT_CODES
            for schema, trailing in recorded_arrays(n_params, recording):
                root.create_array(schema.name, shape=(n, *trailing),
                                  **storage_chunks(schema.dtype, min(block_size, n), trailing),
                                  dtype=schema.dtype, compressors=chunk_compressors(),
                                  fill_value=schema.fill_value,
                                  dimension_names=list(schema.dims),
                                  attributes={"description": schema.description})
            for name, value in (recording_arrays or {}).items():  # store-wide, written once
                arr = root.create_array(name, shape=value.shape, dtype=value.dtype,
                                        fill_value=0, compressors=chunk_compressors(),
                                        dimension_names=[name.split("/")[0].removesuffix(
                                            "s"), *[None] * (value.ndim - 1)])
                arr[...] = value
            for name, table in tables.items():  # e.g. the machines' tables, per class
                arr = root.create_array(f"machines/{name}", shape=table.shape,
                                        dtype=table.dtype, fill_value=0,
                                        compressors=chunk_compressors(),
                                        dimension_names=["class", "state", "input_symbol"])
                arr[...] = table
            root["params"].attrs["layout"] = layout
            root["class_id"].attrs["class_names"] = list(spec.classes)
            root["status"].attrs["codes"] = STATUS_CODES
            root.attrs[ROOT_ATTR] = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "task": task,
                "spec": spec.to_dict(),
                "spec_digest": spec.digest,
                "spec_version": spec.version,
                "class_names": list(spec.classes),
                "n_networks": n,
                "n_params": n_params,
                "block_size": block_size,
                "layout": layout,
                "learnt_thresholds": spec.learnt_thresholds,
                # hyper-parameter grids (field -> values; each network's value is stored in
                # the array of the field's name); only present when the spec has one
                **({"grid": grids} if (grids := spec_grids(spec)) else {}),
                # the named splits of the networks (arrays splits/<name>; Store.split)
                **({"splits": {"codes": SPLIT_CODES, "names": {
                    n.removeprefix(SPLIT_PREFIX): SPLIT_DESCRIPTIONS[n.removeprefix(
                        SPLIT_PREFIX)] for n in optional if n.startswith(SPLIT_PREFIX)}}}
                   if any(n.startswith(SPLIT_PREFIX) for n in optional) else {}),
                # snapshots and probes (spec train.snapshot_epochs, probes), when kept
                **({RECORDING_ATTR: recording} if recording else {}),
                **provenance,
            }
            os.rename(tmp, p)  # atomic on one filesystem: a path holds all of it or nothing
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    # -- the sink protocol -----------------------------------------------------------------
    def status(self) -> np.ndarray:
        """uint8 ``[network]``: 0 pending, 1 done, 2 failed."""
        return np.asarray(self._group["status"][:])

    def completed_blocks(self) -> set[int]:
        """Blocks whose every network is done or failed."""
        st = self.status()
        n_blocks = -(-len(st) // self.block_size)
        return {b for b in range(n_blocks)
                if np.all(st[b * self.block_size:(b + 1) * self.block_size] != PENDING)}

    def write_block(self, block: int, results: dict[str, np.ndarray]) -> None:
        """Writes one whole block (rows ``block*block_size ...``), status last.

        Args:
          results: the trainer's result fields (``params``, ``failed``, ``train_loss``...),
            each with a leading ``[n_models]`` axis; rows past the dataset's end are dropped.
        """
        lo = block * self.block_size
        hi = min(lo + self.block_size, self.spec.n_networks)
        names = {**results_map(self.task, self.format_version), **self.recorded}
        for name, field in names.items():
            self._group[name][lo:hi] = np.asarray(results[field])[: hi - lo]
        failed = np.asarray(results["failed"])[: hi - lo]
        status = np.where(failed, FAILED, DONE).astype(np.uint8)
        self._group["status"][lo:hi] = status
