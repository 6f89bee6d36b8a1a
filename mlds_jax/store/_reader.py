"""Reading a dataset store into NumPy (no JAX, no trainer imports): its root attributes,
its group (a folder, or a zip written by ``mlds-jax pack``) and a read-only view."""

from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from mlds_jax.errors import StoreError
from mlds_jax.store._schema import DONE, FAILED, FORMAT, PENDING, ROOT_ATTR

LOST_ROOT = ("{p}: a damaged mlds-jax store: its root zarr.json is missing while its arrays "
             "are there; restore zarr.json (or the whole store) from a copy - do not remove "
             "it, its arrays hold the trained networks")


def lost_root(p: Path) -> bool:
    """A store folder that lost only its root ``zarr.json`` (its arrays are there)."""
    return (p.is_dir() and not (p / "zarr.json").is_file()
            and (p / "params" / "zarr.json").is_file() and (p / "status" / "zarr.json").is_file())


def zip_group(path: str | os.PathLike) -> zarr.Group:
    """The root group of a zipped store (read-only, consolidated metadata if present)."""
    return zarr.open_group(zarr.storage.ZipStore(str(path), mode="r"), mode="r")


def read_root_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """The ``mlds_jax`` root attributes of a store, or a :class:`StoreError` saying why not."""
    p = Path(path)
    if not p.exists():
        raise StoreError(f"{p}: no such store")
    packed = p.is_file() and zipfile.is_zipfile(p)  # a store packed by `mlds-jax pack`
    if not packed and (not p.is_dir() or not (p / "zarr.json").is_file()):
        if lost_root(p):
            raise StoreError(LOST_ROOT.format(p=p))
        raise StoreError(f"{p}: not a Zarr store (no zarr.json)")
    try:
        group = zip_group(p) if packed else zarr.open_group(str(p), mode="r",
                                                            use_consolidated=False)
    except Exception as e:  # noqa: BLE001 - any failure to parse means "not a store"
        raise StoreError(f"{p}: not a readable Zarr v3 group ({e})") from None
    attrs = group.attrs.get(ROOT_ATTR)
    if not isinstance(attrs, dict) or attrs.get("format") != FORMAT:
        raise StoreError(f"{p}: a Zarr group, but not an mlds-jax dataset store")
    return attrs


def band(percent: float) -> str:
    """MLC@Home's progress bands: 0%, < 25%, 25-75%, > 75%, 100%."""
    if percent <= 0:
        return "0%"
    if percent >= 100:
        return "100%"
    if percent < 25:
        return "< 25%"
    return "25-75%" if percent <= 75 else "> 75%"


def progress_total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The overall line of :meth:`StoreView.progress` rows: planned, done, failed, pending,
    percent finished and its band."""
    tot = {k: sum(r[k] for r in rows) for k in ("planned", "done", "failed", "pending")}
    pct = 100.0 * (tot["done"] + tot["failed"]) / max(tot["planned"], 1)
    return {**tot, "percent": pct, "band": band(pct)}


@dataclasses.dataclass(frozen=True)
class StoreView:
    """A read-only view of a store: its attributes and lazy access to its arrays."""

    path: Path
    attrs: dict[str, Any]
    group: zarr.Group

    @property
    def class_names(self) -> list[str]:
        """Class names, indexed by the ``class_id`` array."""
        return list(self.attrs["class_names"])

    @property
    def layout(self) -> list[dict]:
        """The parameter layout: ``{name, shape, offset}`` per tensor of a ``params`` row."""
        return list(self.attrs["layout"])

    def __getitem__(self, name: str) -> np.ndarray:
        return np.asarray(self.group[name][...])

    def tensors(self, network: int) -> dict[str, np.ndarray]:
        """One network's named tensors, rebuilt from ``params`` and the layout table."""
        flat = np.asarray(self.group["params"][network])
        return {e["name"]: flat[e["offset"]:e["offset"] + e["size"]].reshape(e["shape"])
                for e in self.layout}

    def progress(self) -> list[dict[str, Any]]:
        """Per class: planned, done, failed, pending, percent finished."""
        status, cls = self["status"], self["class_id"]
        rows = []
        for k, name in enumerate(self.class_names):
            s = status[cls == k]
            done, failed = int(np.sum(s == DONE)), int(np.sum(s == FAILED))
            rows.append({"class": name, "planned": int(s.size), "done": done, "failed": failed,
                         "pending": int(np.sum(s == PENDING)),
                         "percent": 100.0 * (done + failed) / max(s.size, 1)})
        return rows

