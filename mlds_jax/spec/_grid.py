"""Hyper-parameter grids: a recipe value that varies across the networks of one zoo.

A spec may declare one grid ``(v0, v1, ..., vk-1)``:

* ``learning_rate_grid`` in its training recipe (:class:`~mlds_jax.spec.TrainSpec` or
  :class:`~mlds_jax.spec.DenseTrainSpec`), stored per network in ``learning_rate``;
* ``fraction_grid`` in a DS4 dataset's poison (:class:`~mlds_jax.spec.PoisonSpec`), stored
  per network in ``poison_fraction``.

Network ``(class c, replicate r)`` then trains with ``grid[r % k]`` (its *grid index*
``r % k``): the values cycle over the replicates *within each class*, so every class sees
every value, equally often when ``per_class`` is a multiple of ``k`` (otherwise the first
``per_class % k`` values get one network more per class; DS4 is one class, so network ``i``
takes ``grid[i % k]``). The choice is a pure function of (spec, network index), like the
network's key. A spec has at most one grid (two would cycle together, confounding their
values).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlds_jax.errors import SpecError


def _check_grid(value: Any, field: str, noun: str, ok, expected: str) -> tuple[float, ...]:
    """``value`` as a tuple of distinct (as float32) numbers each passing ``ok``, or a
    one-line :class:`SpecError` naming ``field`` (``noun``: what one value is)."""
    if not isinstance(value, (list, tuple)) or not value:
        raise SpecError(f"`{field}`: expected a non-empty list of {noun}s, got {value!r}")
    for i, r in enumerate(value):
        if not (isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r)
                and ok(r)):
            raise SpecError(f"`{field}[{i}]`: expected {expected}, got {r!r}")
    as32 = np.asarray(value, np.float32)
    if len(np.unique(as32)) != len(as32):
        raise SpecError(f"`{field}`: expected distinct {noun}s (as float32), got {value!r}")
    return tuple(float(r) for r in value)


def check_rate_grid(value: Any, field: str) -> tuple[float, ...]:
    """``value`` as a tuple of distinct float32-safe rates, or a one-line :class:`SpecError`."""
    return _check_grid(value, field, "rate", lambda r: 1.1754944e-38 <= r <= 3.4028235e38,
                       "a rate finite and non-zero as float32 (1.2e-38 to 3.4e38)")


def check_fraction_grid(value: Any, field: str) -> tuple[float, ...]:
    """``value`` as a tuple of distinct poison fractions in (0, 0.5], or a one-line
    :class:`SpecError`."""
    return _check_grid(value, field, "fraction", lambda f: 0 < f <= 0.5, "a share in (0, 0.5]")


def _poison_grid(spec) -> tuple[float, ...] | None:
    poison = getattr(spec, "poison", None)
    return getattr(poison, "fraction_grid", None)


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


def network_poison_fractions(spec, replicate: np.ndarray) -> np.ndarray:
    """float32 ``[n]``: the poison fraction of DS4 networks ``replicate[i]`` (their index;
    DS4 is one class): ``grid[replicate % len(grid)]`` with a ``poison.fraction_grid``,
    else ``poison.fraction`` (0 for a clean dataset)."""
    rep = np.asarray(replicate, np.int64)
    grid = _poison_grid(spec)
    if grid:
        return np.asarray(grid, np.float32)[rep % len(grid)]
    poison = getattr(spec, "poison", None)
    return np.full(rep.shape, 0.0 if poison is None else poison.fraction, np.float32)


def network_grid_index(spec, replicate: np.ndarray) -> np.ndarray:
    """int32 ``[n]``: each network's position in the spec's grid (``replicate % len(grid)``;
    0 without a grid). DS4 picks its poison counts with it."""
    grids = spec_grids(spec)
    k = len(next(iter(grids.values()))) if grids else 1
    return (np.asarray(replicate, np.int64) % k).astype(np.int32)


def spec_grids(spec) -> dict[str, list[float]]:
    """The grid ``spec`` declares, name -> values (empty: no grid). The name is the stored
    per-network array holding each network's value (``learning_rate``, ``poison_fraction``)."""
    return stored_grids(spec.to_dict())


def stored_grids(spec_dict: dict[str, Any]) -> dict[str, list[float]]:
    """:func:`spec_grids` from a store's recorded spec dict (its ``spec`` attribute)."""
    found = {"learning_rate": (spec_dict.get("train") or {}).get("learning_rate_grid"),
             "poison_fraction": (spec_dict.get("poison") or {}).get("fraction_grid")}
    return {k: list(v) for k, v in found.items() if v}


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
