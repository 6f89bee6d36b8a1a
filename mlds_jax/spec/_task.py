"""The tasks a dataset's networks are trained on, as objects (the one registry of them).

Every spec has a task (``spec.task``, its name), and so does every store (its root attribute
``task``; stores and spec files from before tasks were named are sequence ones). Rooms ask
:func:`task_of` for the :class:`Task` and read what differs from it (its fields here), or look
it up in their own table of what they provide for each task (train: parts, width, layout;
store: metrics, apply, evaluation data, export; pipeline: preparation), instead of comparing
strings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from mlds_jax.errors import SpecError


@dataclasses.dataclass(frozen=True)
class Task:
    """What a task is, as far as every room needs to know.

    Attributes:
      name: its name in specs, spec files and a store's root attribute ``task``.
      kind: how messages call its datasets (``"sequence"``, ``"DS4 (image)"``).
      size_field: the spec field that sizes the dataset (``per_class`` or ``n_networks``).
      epochs_field: the train spec's epoch cap (``max_epochs`` or ``epochs``).
      images: trains on a shared image set (``image_set``, layer ``widths``, poison, the data
        files' digests); the others draw their own data from each network's key.
      restarts: an unlearnt network may be re-initialised (``train.max_restarts``).
    """

    name: str
    kind: str
    size_field: str
    epochs_field: str
    images: bool
    restarts: bool

    def __str__(self) -> str:
        return self.name


# DS1-DS3 and sequence spec files: GRU networks on machine sequences.
SEQUENCE = Task(name="sequence", kind="sequence", size_field="per_class",
                epochs_field="max_epochs", images=False, restarts=True)
# DS4 and image spec files: dense networks on an image set.
IMAGE = Task(name="image", kind="DS4 (image)", size_field="n_networks", epochs_field="epochs",
             images=True, restarts=False)
# Every task by name; a store or spec file without a ``task`` is a :data:`SEQUENCE` one.
TASKS: dict[str, Task] = {t.name: t for t in (SEQUENCE, IMAGE)}
DEFAULT_TASK = SEQUENCE


def task_of(x: Any) -> Task:
    """The :class:`Task` of ``x``: a task, its name, a spec (or a store view / writer: anything
    with a ``task`` attribute), or a store's root attributes (a mapping; no ``task`` key: a
    store from before tasks were named, :data:`DEFAULT_TASK`)."""
    if isinstance(x, Task):
        return x
    if isinstance(x, Mapping):
        x = x.get("task", DEFAULT_TASK.name)
    elif not isinstance(x, str) and hasattr(x, "task"):
        x = x.task
    if isinstance(x, Task):
        return x
    if not isinstance(x, str) or x not in TASKS:
        raise SpecError(f"`task`: expected one of {sorted(TASKS)}, got {x!r}")
    return TASKS[x]
