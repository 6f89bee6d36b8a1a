"""What a store of a spec holds before any training: every value the spec alone decides.

:func:`planned_arrays` are written when a store is created; :func:`expected_arrays` adds the
machine tables, the parameter layout and the store-wide recording arrays, for ``verify`` to
compare bit for bit with what the store holds (:func:`mlds_jax.store.check_store` builds
them from the stored spec itself, so a Python caller gets the checks the CLI gets).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from mlds_jax.spec import (
    network_poison_fractions,
    network_seeds,
    network_splits,
    snapshot_schedule,
    spec_grids,
    task_of,
)


def planned_arrays(spec: Any) -> dict[str, np.ndarray]:
    """The per-network arrays known before training (class, replicate, key, learning rate;
    with a poison fraction grid, each network's fraction; the seeds the spec sets; every
    named split as ``splits/<name>``), each ``[n_networks, ...]``."""
    from mlds_jax.train import network_index_parts, network_inputs

    idx = np.arange(spec.n_networks)
    cls, rep = network_index_parts(spec, idx)
    inputs = network_inputs(spec, idx)
    return {
        "class_id": cls.astype(np.int32),
        "replicate": rep.astype(np.int32),
        "key": np.asarray(inputs.key, np.uint32),
        "learning_rate": np.asarray(inputs.learning_rate, np.float32),
        **({"poison_fraction": network_poison_fractions(spec, rep)}
           if "poison_fraction" in spec_grids(spec) else {}),
        **network_seeds(spec, rep),  # only the seeds the spec sets
        **{f"splits/{k}": v for k, v in network_splits(spec, idx).items()},
    }


def expected_arrays(spec: Any) -> dict[str, Any]:
    """What a store of ``spec`` holds before any training, for ``verify`` to compare bit for
    bit (:func:`~mlds_jax.store.check_store`'s ``expected``): the :func:`planned_arrays`, the
    machine tables as ``machines/<name>``, ``"layout"`` (the layout records as stored) and
    the store-wide recording arrays (``snapshots/epoch``; DS1-DS3 also ``probe/inputs``: a
    DS4 probe set needs its image set, which is not loaded to verify) and the coordinates a
    finished store holds (``network``, ``class_name``, ``tensor``: ``store._coords``)."""
    from mlds_jax.store._coords import coordinate_arrays
    from mlds_jax.train import probe_set, task_layout

    tables = {}
    if not task_of(spec).images:  # a task on an image set plans no tables
        from mlds_jax.tasks import build_machines, stack_tables

        next_state, output = stack_tables(build_machines(spec))
        tables = {"machines/next_state": next_state, "machines/output": output}
    layout = json.loads(json.dumps(task_layout(spec).to_records()))  # as stored (JSON)
    recording = {}
    epochs = snapshot_schedule(spec.train)
    if epochs:
        recording["snapshots/epoch"] = np.asarray(epochs, np.int32)
        if not task_of(spec).images:
            recording.update({f"probe/{k}": v for k, v in probe_set(spec).items()})
    planned = planned_arrays(spec)
    coords = {k: v for k, (v, _) in coordinate_arrays(spec.classes, planned["class_id"],
                                                      layout).items()}
    return {**planned, **tables, "layout": layout, **recording, **coords}
