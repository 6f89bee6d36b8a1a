"""Backends: how the pending blocks of a sink get trained, behind one protocol.

Every backend trains the blocks this process owns (``process_index`` of ``process_count``,
dealt round robin by :func:`~mlds_jax.coord.my_blocks`) that the sink lacks, through the
same chunk programs, and hands each finished block to the sink whole; so the bits written
do not depend on the backend (tests/coord/test_backend.py is the contract every backend
passes). They differ in where and in what order networks train:

* :class:`LocalBackend`: the blocks in order in this process (optionally checkpointed);
* :class:`RefillBackend`: a pool of slots whose finished networks retire and are replaced
  every few epochs (long-tailed runs keep the device busy);
* :class:`RayBackend`: each block a retried Ray task on the connected cluster, writing the
  shared store itself.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Protocol

from mlds_jax.coord._ray import run_blocks_ray
from mlds_jax.coord._refill import run_blocks_refill
from mlds_jax.coord._run import Sink, run_blocks
from mlds_jax.spec import DatasetSpec
from mlds_jax.train import ChunkRunner


class Backend(Protocol):
    """Trains the blocks of ``spec`` that this process owns and ``sink`` lacks, writing each
    into ``sink``; returns at least ``networks`` (trained now), ``seconds`` and
    ``networks_per_second``."""

    def run(self, spec: DatasetSpec, sink: Sink, *, progress: bool = True,
            process_index: int = 0, process_count: int = 1) -> dict[str, float]:
        """Train the pending blocks of ``spec`` that process ``process_index`` of
        ``process_count`` owns into ``sink``; a summary of the run."""


@dataclasses.dataclass(frozen=True)
class LocalBackend:
    """The blocks in order in this process, each by ``runner`` (the next one dispatched
    while the last is written); with ``checkpoint_every=K`` each block is checkpointed into
    ``checkpoint_dir`` every K epochs (:func:`~mlds_jax.coord.run_blocks`)."""

    runner: ChunkRunner
    checkpoint_every: int | None = None
    checkpoint_dir: str | os.PathLike | None = None

    def run(self, spec: DatasetSpec, sink: Sink, *, progress: bool = True,
            process_index: int = 0, process_count: int = 1) -> dict[str, float]:
        """The pending blocks in order, each by ``runner`` (see :class:`Backend`)."""
        return run_blocks(spec, sink, self.runner, progress=progress,
                          process_index=process_index, process_count=process_count,
                          checkpoint_every=self.checkpoint_every,
                          checkpoint_dir=self.checkpoint_dir)


@dataclasses.dataclass(frozen=True)
class RefillBackend:
    """Retire-and-refill: a pool of ``pool_size`` slots (default: the sink's block size)
    trained by ``runner`` in segments of ``epochs_per_segment`` epochs
    (:func:`~mlds_jax.coord.run_blocks_refill`)."""

    runner: ChunkRunner
    epochs_per_segment: int
    pool_size: int | None = None
    checkpoint_every: int | None = None
    checkpoint_dir: str | os.PathLike | None = None

    def run(self, spec: DatasetSpec, sink: Sink, *, progress: bool = True,
            process_index: int = 0, process_count: int = 1) -> dict[str, float]:
        """The pending networks through the refill pool (see :class:`Backend`)."""
        return run_blocks_refill(spec, sink, self.runner,
                                 pool_size=self.pool_size or sink.block_size,
                                 epochs_per_segment=self.epochs_per_segment,
                                 progress=progress, process_index=process_index,
                                 process_count=process_count,
                                 checkpoint_every=self.checkpoint_every,
                                 checkpoint_dir=self.checkpoint_dir)


@dataclasses.dataclass(frozen=True)
class RayBackend:
    """Each pending block a Ray task (retried ``max_retries`` times) that builds its own
    sink (``sink_factory()``, e.g. a writer of the shared store) and trainer
    (``trainer_factory()``: ``inputs [n] -> result [n]``) and writes the block
    (:func:`~mlds_jax.coord.run_blocks_ray`; needs ray)."""

    sink_factory: Callable[[], Sink]
    trainer_factory: Callable
    max_retries: int = 3

    def run(self, spec: DatasetSpec, sink: Sink, *, progress: bool = True,
            process_index: int = 0, process_count: int = 1) -> dict[str, float]:
        """The pending blocks as Ray tasks (see :class:`Backend`)."""
        return run_blocks_ray(spec, sink, self.sink_factory, self.trainer_factory,
                              max_retries=self.max_retries, process_index=process_index,
                              process_count=process_count, progress=progress)
