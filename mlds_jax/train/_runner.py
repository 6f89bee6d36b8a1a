"""Fixed-width chunks: the one way every block of networks is trained.

A network's floats must not depend on the block, block size, process or device count that
trained it, so they can be regenerated bit for bit (``verify --recompute``) and stores made
by different runs can be merged. XLA compiles a program per shape, and a program compiled
for 64 networks may round differently from one compiled for 8 (measured on an AVX2 CPU: a
DS4 weight differed by 1.3e-3 relative after one epoch). So every network is trained by the
**same compiled program**: ``vmap`` over a fixed ``width`` of networks. A block of any size
is padded to a multiple of ``width`` (by repeating its last network) and cut into chunks;
each chunk is one call of that program, placed on the local devices in turn. A run is three
programs per chunk — ``init``, ``segment`` (``n_epochs`` is a traced argument, so one run of
200 epochs and twenty segments of 10 are the same program) and ``finish`` — which is why a
plain run, a checkpointed run and a retire-and-refill run give equal bits.

``width`` is a per-backend and per-task choice recorded in the store (:func:`default_width`,
and :func:`fused_gru_width` for GRUs on the fused CPU kernel); two stores
are only bit-comparable when both were trained with the same width, backend and machine.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

# Networks per compiled chunk. On a CPU a few networks keep each network's working set in
# cache (docs/benchmarks.md); on an accelerator a chunk should fill the device.
CPU_WIDTH = 8
# The fused CPU GRU kernel runs 8-network tiles, spread over XLA's intra-op threads, so a
# GRU chunk of one tile keeps one core busy. Two tiles per chunk: measured on a 2-core CPU
# (make bench, DS1 GRU, 64 networks) chunks of 8 ran 937 network-steps/s, of 16 1,517, of
# 32 1,422. A constant, not a tile per core, so parts built on different machines merge.
FUSED_CPU_WIDTH = 16
ACCEL_WIDTH = 4096
"""Networks per chunk on an accelerator (smaller blocks round up to a power of two)."""


def default_width(platform: str | None = None, block_size: int | None = None) -> int:
    """Networks per chunk on ``platform`` (default: JAX's default backend): 8 on a CPU; on an
    accelerator 4,096, or the block size rounded up to a power of two when blocks are
    smaller (so a block of 64 is not padded to 4,096)."""
    platform = platform or jax.default_backend()
    if platform == "cpu":
        return CPU_WIDTH
    if block_size is None:
        return ACCEL_WIDTH
    return min(ACCEL_WIDTH, 1 << max(block_size - 1, 0).bit_length())


def fused_gru_width(block_size: int | None = None) -> int:
    """Networks per chunk for the fused CPU GRU kernel: ``FUSED_CPU_WIDTH``, or one tile
    (``CPU_WIDTH``) when a block of ``block_size`` would not fill two."""
    if block_size is not None and block_size <= CPU_WIDTH:
        return CPU_WIDTH
    return FUSED_CPU_WIDTH


class TaskParts(NamedTuple):
    """A task's training run for ONE network, in pure pieces (``data`` is shared by every
    network, e.g. DS4's image set; ``None`` for tasks that make their own data):

    * ``init(inputs, data) -> state``
    * ``segment(inputs, data, state, n_epochs) -> state``: up to ``n_epochs`` (int32 [],
      traced) more epochs
    * ``finish(inputs, data, state) -> result`` (a NamedTuple of arrays)
    * ``active(state) -> bool []``: still training (not stopped, not failed, under the cap)

    ``attempts``: segments of ``epoch_cap`` epochs that make a whole run (a network's
    segment ends with its attempt; 1 + the spec's ``max_restarts``).
    """

    init: Callable
    segment: Callable
    finish: Callable
    active: Callable
    attempts: int = 1


def pad_rows(tree: Any, n: int) -> Any:
    """Pads every leaf's leading axis to ``n`` rows by repeating its last row."""
    def pad(a):
        a = np.asarray(a)
        extra = n - a.shape[0]
        return a if extra == 0 else np.concatenate([a, np.repeat(a[-1:], extra, axis=0)])
    return jax.tree_util.tree_map(pad, tree)


def _rows(tree: Any, lo: int, hi: int) -> Any:
    return jax.tree_util.tree_map(lambda a: a[lo:hi], tree)


def concat_rows(trees: Sequence[Any], n: int | None = None) -> Any:
    """Host (numpy) concatenation of chunk results along the leading axis, cut to ``n``."""
    host = jax.device_get(list(trees))
    out = jax.tree_util.tree_map(lambda *a: np.concatenate(a), *host)
    return out if n is None else _rows(out, 0, n)


@functools.lru_cache(maxsize=16)
def _programs(parts: TaskParts) -> tuple[Callable, Callable, Callable, Callable]:
    """The jitted, vmapped pieces (cached per ``parts``, so runners share compilations)."""
    return (jax.jit(jax.vmap(parts.init, in_axes=(0, None))),
            jax.jit(jax.vmap(parts.segment, in_axes=(0, None, 0, None))),
            jax.jit(jax.vmap(parts.finish, in_axes=(0, None, 0))),
            jax.jit(jax.vmap(parts.active)))


class ChunkRunner:
    """Trains networks in chunks of ``width`` through one compiled program per piece.

    Chunk ``i`` runs on ``devices[i % len(devices)]`` (default: every local device), with
    ``data`` copied to a device once, when its first chunk is placed there.

    Shapes: ``inputs`` is a pytree with leading ``[n_models]`` axes; :meth:`split` returns
    chunks of ``[width]``; states and results are lists of per-chunk pytrees.
    """

    def __init__(self, parts: TaskParts, width: int, data: Any = None,
                 devices: Sequence[jax.Device] | None = None):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"chunk width must be a positive integer, got {width!r}")
        self.width = width
        self.parts = parts
        self.devices = list(devices) if devices is not None else jax.local_devices()
        self._init, self._segment, self._finish, self._active = _programs(parts)
        self.attempts = parts.attempts
        self._host_data = data
        self._data: dict[jax.Device, Any] = {}  # device -> its copy of data

    def padded(self, n: int) -> int:
        """``n`` rounded up to a whole number of chunks."""
        return -(-n // self.width) * self.width

    def split(self, inputs: Any, first_device: int = 0) -> list[Any]:
        """``inputs [n]`` -> chunks ``[width]`` placed on their devices (padded); chunk ``i``
        goes to device ``first_device + i`` (mod the device count), so blocks of a single
        chunk spread over the devices when each block starts on another one."""
        n = jax.tree_util.tree_leaves(inputs)[0].shape[0]
        full = pad_rows(inputs, self.padded(n))
        return [jax.device_put(_rows(full, lo, lo + self.width),
                               self.devices[(first_device + i) % len(self.devices)])
                for i, lo in enumerate(range(0, self.padded(n), self.width))]

    @staticmethod
    def device_of(chunk: Any) -> jax.Device:
        """The device a chunk (or its state) lives on."""
        return next(iter(jax.tree_util.tree_leaves(chunk)[0].devices()))

    def place(self, chunk: Any, tree: Any) -> Any:
        """``tree`` (e.g. a restored state) moved to ``chunk``'s device."""
        return jax.device_put(tree, self.device_of(chunk))

    def data_for(self, chunk: Any) -> Any:
        """The shared data on ``chunk``'s device (copied there on first use)."""
        device = self.device_of(chunk)
        if device not in self._data:
            self._data[device] = (None if self._host_data is None else
                                  jax.device_put(self._host_data, device))
        return self._data[device]

    def init(self, chunks: list[Any]) -> list[Any]:
        """Initial training states, one per chunk."""
        return [self._init(c, self.data_for(c)) for c in chunks]

    def segment(self, chunks: list[Any], states: list[Any], n_epochs: int) -> list[Any]:
        """States after up to ``n_epochs`` more epochs (stopped networks stay as they are)."""
        n = np.int32(n_epochs)
        return [self._segment(c, self.data_for(c), s, n) for c, s in zip(chunks, states)]

    def run(self, chunks: list[Any], states: list[Any], epoch_cap: int) -> list[Any]:
        """States after whole runs to ``epoch_cap``: one segment per attempt, dispatched
        without waiting (a segment where no network is left to train does no epochs)."""
        for _ in range(self.attempts):
            states = self.segment(chunks, states, epoch_cap)
        return states

    def finish(self, chunks: list[Any], states: list[Any]) -> list[Any]:
        """Per-chunk result NamedTuples from final states."""
        return [self._finish(c, self.data_for(c), s) for c, s in zip(chunks, states)]

    def active(self, states: list[Any]) -> np.ndarray:
        """bool ``[n_chunks * width]``: which networks are still training."""
        return np.concatenate([np.asarray(self._active(s)) for s in states])

    def train(self, inputs: Any, epoch_cap: int) -> Any:
        """Whole runs of ``inputs [n]`` -> result NamedTuple of numpy arrays ``[n]``.

        ``epoch_cap``: the spec's ``train.epoch_cap``, so that :meth:`run`'s segments (one
        per attempt) end only with each network's run. A smaller number stops runs part-way
        (each segment then runs at most ``epoch_cap`` more epochs: benchmarks time one epoch
        of a spec without restarts with ``epoch_cap=1``)."""
        n = jax.tree_util.tree_leaves(inputs)[0].shape[0]
        chunks = self.split(inputs)
        states = self.run(chunks, self.init(chunks), epoch_cap)
        return concat_rows(self.finish(chunks, states), n)

    def lower_segment(self, inputs: Any):
        """The compiled ``segment`` program for one chunk (for memory estimates)."""
        chunk = self.split(_rows(inputs, 0, min(self.width,
                                                jax.tree_util.tree_leaves(inputs)[0].shape[0])))
        state = self.init(chunk)[0]
        return self._segment.lower(chunk[0], self.data_for(chunk[0]), state,
                                   np.int32(1)).compile()
