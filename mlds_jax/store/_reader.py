"""Reading a dataset store into NumPy (no JAX, no trainer imports)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from mlds_jax.store._schema import DONE, FAILED, PENDING


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


def open_store(path: str | os.PathLike) -> StoreView:
    """Opens a store read-only; raises :class:`mlds_jax.errors.StoreError` if it is not one.

    Returns a :class:`~mlds_jax.store._open.Store` (a ``StoreView`` with networks, spec and
    xarray view); kept here so existing imports keep working.
    """
    from mlds_jax.store._open import open_store as _open

    return _open(path)
