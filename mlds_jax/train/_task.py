"""The task interface: what a dataset spec's task gives the rest of the library.

Every spec names its task (``spec.task``: ``"sequence"`` for DS1-DS3 and spec files,
``"image"`` for DS4). The task provides the trainer's pieces (:class:`TaskParts`); the
coordinator, the pipeline, checkpoints, refill and Ray then have one path for all tasks.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from mlds_jax.errors import SpecError
from mlds_jax.models import gru_kernel_for
from mlds_jax.train._bulk import make_sequence_parts
from mlds_jax.train._image_train import make_image_parts
from mlds_jax.train._runner import ChunkRunner, TaskParts, default_width, fused_gru_width

# The values of ``spec.task``: each has its parts in :func:`task_parts`.
TASKS = ("sequence", "image")


def task_parts(spec, n_train: int | None = None) -> TaskParts:
    """The :class:`TaskParts` of ``spec``'s task (cached, so compiled programs are shared).
    ``n_train``: training images in the shared data (image task only).

    A network's run never depends on how many networks the dataset has, so specs that
    differ only in ``per_class`` (``n_networks`` for DS4) share one set of parts and one
    compilation."""
    size = "n_networks" if spec.task == "image" else "per_class"
    return _task_parts(dataclasses.replace(spec, **{size: 1}), n_train)


@functools.lru_cache(maxsize=16)
def _task_parts(spec, n_train: int | None) -> TaskParts:
    if spec.task == "sequence":
        return make_sequence_parts(spec)
    if spec.task == "image":
        if n_train is None:
            raise SpecError("the image task needs its data: pass `data` (an ImageData)")
        return make_image_parts(spec, n_train)
    raise SpecError(f"`spec.task`: expected one of {TASKS}, got {spec.task!r}")


def task_width(spec, block_size: int | None = None) -> int:
    """Networks per compiled chunk for ``spec`` on the default backend: on a CPU, a GRU
    task on the fused kernel takes two 8-network tiles (:func:`fused_gru_width`: the kernel
    runs a chunk's tiles on the cores in parallel); everything else takes
    :func:`default_width`. A store records the width it was made with and keeps it on every
    resume, recompute and merge."""
    if (spec.task == "sequence" and jax.default_backend() == "cpu"
            and gru_kernel_for(spec.model) == "fused"):
        return fused_gru_width(block_size)
    return default_width(block_size=block_size)


def make_runner(spec, data: Any = None, width: int | None = None,
                devices: Sequence[jax.Device] | None = None) -> ChunkRunner:
    """A :class:`ChunkRunner` for ``spec`` (``data``: DS4's :class:`ImageData`, else None;
    ``width``: networks per compiled chunk, default :func:`task_width`)."""
    n_train = None if data is None else int(np.shape(data.train_y)[0])
    if spec.task == "image" and data is None:
        raise SpecError("the image task needs its data: pass `data` (an ImageData)")
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
