"""What the train room provides for each task (:class:`~mlds_jax.spec.Task`).

Every spec has a task (``task_of(spec)``: :data:`~mlds_jax.spec.SEQUENCE` for DS1-DS3 and
spec files, :data:`~mlds_jax.spec.IMAGE` for DS4). For each, this room gives the trainer's
pieces (:class:`TaskParts`), the chunk width and the parameter layout; the coordinator, the
pipeline, checkpoints, refill and Ray then have one path for all tasks.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from mlds_jax.errors import SpecError
from mlds_jax.models import FUSED_KERNELS, Layout, gru_kernel_for, gru_layout, mlp_layout
from mlds_jax.spec import IMAGE, SEQUENCE, task_of
from mlds_jax.train._bulk import make_sequence_parts
from mlds_jax.train._image_train import make_image_parts
from mlds_jax.train._runner import ChunkRunner, TaskParts, default_width, fused_gru_width

# Each task's parts maker: ``make(spec) -> TaskParts`` for tasks that draw their own data,
# ``make(spec, n_train) -> TaskParts`` for those trained on shared images.
PARTS_MAKERS = {SEQUENCE: make_sequence_parts, IMAGE: make_image_parts}
# Each task's parameter layout of one network.
LAYOUTS = {SEQUENCE: lambda spec: gru_layout(spec.model),
           IMAGE: lambda spec: mlp_layout(spec.widths)}


def task_parts(spec, n_train: int | None = None) -> TaskParts:
    """The :class:`TaskParts` of ``spec``'s task (cached, so compiled programs are shared).
    ``n_train``: training images in the shared data (image task only).

    A network's run never depends on how many networks the dataset has, so specs that
    differ only in ``per_class`` (``n_networks`` for DS4) share one set of parts and one
    compilation. The GRU layers' path (:func:`~mlds_jax.models.gru_kernel_for`, read when a
    program is traced) is part of the key: a process that changes ``$MLDS_JAX_GRU_KERNEL``
    gets parts traced on the new path, not programs traced on the old one."""
    task = task_of(spec)
    kernel = gru_kernel_for(spec.model) if task is SEQUENCE else None
    return _task_parts(dataclasses.replace(spec, **{task.size_field: 1}), n_train, kernel)


@functools.lru_cache(maxsize=16)
def _task_parts(spec, n_train: int | None, gru_kernel: str | None) -> TaskParts:
    task = task_of(spec)
    if not task.images:
        return PARTS_MAKERS[task](spec)
    if n_train is None:
        raise SpecError(f"the {task.name} task needs its data: pass `data` (an ImageData)")
    return PARTS_MAKERS[task](spec, n_train)


def task_layout(spec) -> Layout:
    """The parameter layout of one of ``spec``'s networks (what the store's ``params`` rows
    hold)."""
    return LAYOUTS[task_of(spec)](spec)


def task_width(spec, block_size: int | None = None) -> int:
    """Networks per compiled chunk for ``spec`` on the default backend: on a CPU, a GRU
    task on the fused kernel (either build) takes two 8-network tiles
    (:func:`fused_gru_width`: the kernel runs a chunk's tiles on the cores in parallel);
    everything else takes :func:`default_width`. A store records the width it was made
    with and keeps it on every resume, recompute and merge."""
    if (task_of(spec) is SEQUENCE and jax.default_backend() == "cpu"
            and gru_kernel_for(spec.model) in FUSED_KERNELS):
        return fused_gru_width(block_size)
    return default_width(block_size=block_size)


def make_runner(spec, data: Any = None, width: int | None = None,
                devices: Sequence[jax.Device] | None = None) -> ChunkRunner:
    """A :class:`ChunkRunner` for ``spec`` (``data``: DS4's :class:`ImageData`, else None;
    ``width``: networks per compiled chunk, default :func:`task_width`)."""
    n_train = None if data is None else int(np.shape(data.train_y)[0])
    if task_of(spec).images and data is None:
        raise SpecError(f"the {spec.task} task needs its data: pass `data` (an ImageData)")
    return ChunkRunner(task_parts(spec, n_train), width or task_width(spec), data, devices)


class BlockTrainer:
    """``trainer(inputs [n]) -> result [n]`` (numpy): whole runs of a block of networks,
    through the chunk runner (so the result of each network does not depend on ``n``)."""

    def __init__(self, spec, data: Any = None, width: int | None = None,
                 devices: Sequence[jax.Device] | None = None):
        self.spec = spec
        self.runner = make_runner(spec, data, width, devices)

    @property
    def width(self) -> int:
        """Networks per compiled chunk."""
        return self.runner.width

    def __call__(self, inputs):
        return self.runner.train(inputs, self.spec.train.epoch_cap)


def make_block_trainer(spec, data: Any = None, width: int | None = None,
                       devices: Sequence[jax.Device] | None = None) -> BlockTrainer:
    """``NetworkInputs [n_models]`` -> ``TrainResult`` / ``ImageTrainResult [n_models]``."""
    return BlockTrainer(spec, data, width, devices)
