"""Checking a store: complete, consistent, no NaN weights in finished networks."""

from __future__ import annotations

import os

import numpy as np

from mlds_jax.errors import StoreError
from mlds_jax.store._reader import open_store
from mlds_jax.store._schema import DONE, FAILED, PENDING, per_network_arrays


def verify(path: str | os.PathLike) -> list[str]:
    """Returns the problems found (empty when the store is complete and consistent)."""
    try:
        view = open_store(path)
    except StoreError as e:
        return [str(e)]
    a, g, problems = view.attrs, view.group, []
    n, n_params = int(a["n_networks"]), int(a["n_params"])
    epochs = int(a["spec"]["train"].get("max_epochs", a["spec"]["train"].get("epochs", 0)))
    if sum(e["size"] for e in a["layout"]) != n_params:
        problems.append(f"layout sizes sum to {sum(e['size'] for e in a['layout'])}, "
                        f"n_params is {n_params}")
    for schema, trailing in per_network_arrays(n_params, epochs, a.get("task", "sequence")):
        if schema.name not in g:
            problems.append(f"missing array {schema.name}")
            continue
        arr = g[schema.name]
        if arr.shape != (n, *trailing):
            problems.append(f"{schema.name}: shape {arr.shape}, expected {(n, *trailing)}")
        if str(arr.dtype) != schema.dtype:
            problems.append(f"{schema.name}: dtype {arr.dtype}, expected {schema.dtype}")
    if problems:
        return problems
    status = view["status"]
    pending = np.flatnonzero(status == PENDING)
    if pending.size:
        problems.append(f"{pending.size} networks pending (first: {pending[:5].tolist()})")
    unknown = np.flatnonzero((status != PENDING) & (status != DONE) & (status != FAILED))
    if unknown.size:
        problems.append(f"{unknown.size} networks with an unknown status code")
    done = np.flatnonzero(status == DONE)
    block = int(a["block_size"])
    for lo in range(0, n, block):  # read block by block: stores can be large
        rows = done[(done >= lo) & (done < lo + block)]
        if rows.size:
            bad = rows[~np.isfinite(g["params"][lo:lo + block][rows - lo]).all(1)]
            if bad.size:
                problems.append(f"non-finite weights in done networks {bad[:5].tolist()}")
    cls = view["class_id"]
    if cls.min() < 0 or cls.max() >= len(view.class_names):
        problems.append("class_id outside class_names")
    return problems
