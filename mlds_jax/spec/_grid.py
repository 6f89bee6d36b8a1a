"""Hyper-parameter grids: a recipe value that varies across the networks of one zoo.

A spec may declare ``learning_rate_grid = (v0, v1, ..., vk-1)`` in its training recipe
(:class:`~mlds_jax.spec.TrainSpec` or :class:`~mlds_jax.spec.DenseTrainSpec`). Network
``(class c, replicate r)`` then trains with ``grid[r % k]``: the values cycle over the
replicates *within each class*, so every class sees every value, equally often when
``per_class`` is a multiple of ``k`` (otherwise the first ``per_class % k`` values get one
network more per class). The choice is a pure function of (spec, network index), like the
network's key, and the value is stored per network (the ``learning_rate`` array).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlds_jax.errors import SpecError


def check_rate_grid(value: Any, field: str) -> tuple[float, ...]:
    """``value`` as a tuple of distinct float32-safe rates, or a one-line :class:`SpecError`."""
    if not isinstance(value, (list, tuple)) or not value:
        raise SpecError(f"`{field}`: expected a non-empty list of rates, got {value!r}")
    for i, r in enumerate(value):
        ok = (isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r)
              and 1.1754944e-38 <= r <= 3.4028235e38)
        if not ok:
            raise SpecError(f"`{field}[{i}]`: expected a rate finite and non-zero as float32 "
                            f"(1.2e-38 to 3.4e38), got {r!r}")
    as32 = np.asarray(value, np.float32)
    if len(np.unique(as32)) != len(as32):
        raise SpecError(f"`{field}`: expected distinct rates (as float32), got {value!r}")
    return tuple(float(r) for r in value)


def network_learning_rates(spec, class_id: np.ndarray, replicate: np.ndarray) -> np.ndarray:
    """float32 ``[n]``: the Adam step of networks ``(class_id[i], replicate[i])``.

    With a grid: ``grid[replicate % len(grid)]``; otherwise the class's rate
    (``TrainSpec.class_learning_rates`` where set, else ``learning_rate``).
    """
    t = spec.train
    grid = getattr(t, "learning_rate_grid", None)
    if grid:
        return np.asarray(grid, np.float32)[np.asarray(replicate, np.int64) % len(grid)]
    rate = getattr(t, "learning_rate_for", lambda _: t.learning_rate)
    per_class = np.asarray([rate(c) for c in spec.classes], np.float32)
    return per_class[np.asarray(class_id, np.int64)]


def spec_grids(spec) -> dict[str, list[float]]:
    """The grids ``spec`` declares, field name -> values (empty: no grid)."""
    grid = getattr(spec.train, "learning_rate_grid", None)
    return {"learning_rate": list(grid)} if grid else {}


def grid_labels(values: np.ndarray, grid) -> np.ndarray:
    """int64 ``[n]``: each stored per-network value's position in ``grid`` (compared as
    float32, as the store keeps it); -1 where a value is not in the grid."""
    g = np.asarray(grid, np.float32)
    v = np.asarray(values, np.float32)
    hit = v[:, None] == g[None, :]
    return np.where(hit.any(1), hit.argmax(1), -1)


def grid_text(grids: dict[str, list[float]]) -> str:
    """One line naming the grids, e.g. ``learning_rate grid: 0.003, 0.01, 0.03 (...)``;
    empty when there is none."""
    return "; ".join(f"{name} grid: {', '.join(f'{v:g}' for v in values)} (replicate r "
                     f"of each class takes value number r mod {len(values)})"
                     for name, values in grids.items())
