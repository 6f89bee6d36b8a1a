"""Running the pending blocks of a dataset and handing results to a sink."""

from __future__ import annotations

import sys
import time
from typing import Protocol

import numpy as np

from mlds_jax._progress import progress_bar
from mlds_jax.coord._plan import block_indices, n_blocks
from mlds_jax.spec import DatasetSpec
from mlds_jax.train import ChunkRunner, concat_rows, network_inputs


class Sink(Protocol):
    """Where finished blocks go (the Zarr writer is one)."""

    block_size: int

    def completed_blocks(self) -> set[int]:
        """Indices of the blocks already written (a resumed run skips them)."""
        ...

    def write_block(self, block: int, results: dict[str, np.ndarray]) -> None:
        """Writes one finished block: ``results`` maps an array name to its ``[block_size, ...]``
        rows."""
        ...


class MemorySink:
    """A :class:`Sink` that keeps finished blocks in memory: the reference every sink's
    contract test compares with (tests/coord/test_sink.py), and a way to train without a
    store. ``blocks``: block -> ``{name: [n_real, ...] rows}`` (copies)."""

    def __init__(self, block_size: int):
        self.block_size = block_size
        self.blocks: dict[int, dict[str, np.ndarray]] = {}

    def completed_blocks(self) -> set[int]:
        """Indices of the blocks written so far."""
        return set(self.blocks)

    def write_block(self, block: int, results: dict[str, np.ndarray]) -> None:
        """Keeps a copy of one finished block's rows."""
        self.blocks[block] = {k: np.array(v, copy=True) for k, v in results.items()}


def my_blocks(n_total_blocks: int, process_index: int = 0, process_count: int = 1
              ) -> list[int]:
    """Blocks this process owns: ``b % process_count == process_index`` (a pure function of
    the plan, so any scheduler — SLURM arrays, plain shell loops — can split a dataset)."""
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index must be in [0, {process_count}), got {process_index}")
    return [b for b in range(n_total_blocks) if b % process_count == process_index]


def train_block_checkpointed(runner: ChunkRunner, block: int, inputs,
                             checkpoints, every: int, log=print):
    """Trains one block in segments of ``every`` epochs, saving its state after each and
    resuming from the newest checkpoint if one exists. Returns the block's result chunks.

    The segments run the same compiled program as an uncheckpointed run, so the result is
    equal bit for bit."""
    chunks = runner.split(inputs, first_device=block)
    states = runner.init(chunks)
    found = checkpoints.latest(block, states)
    if found is not None:
        epoch, states = found
        states = [runner.place(c, s) for c, s in zip(chunks, states)]
        log(f"block {block}: resumed from its checkpoint at epoch {epoch}")
    epoch = 0
    while bool(np.any(runner.active(states))):
        states = runner.segment(chunks, states, every)
        epoch = max(int(np.max(np.asarray(s.epoch))) for s in states)
        checkpoints.save(block, epoch, states)
    return runner.finish(chunks, states)


def pending_blocks(sink: Sink, n_networks: int, process_index: int = 0,
                   process_count: int = 1) -> tuple[list[int], list[int]]:
    """``(this process's blocks, those of them not yet committed in the sink)``."""
    mine = my_blocks(n_blocks(n_networks, sink.block_size), process_index, process_count)
    done = sink.completed_blocks()
    return mine, [b for b in mine if b not in done]


def run_blocks(spec: DatasetSpec, sink: Sink, runner: ChunkRunner, *, progress: bool = True,
               process_index: int = 0, process_count: int = 1,
               checkpoint_every: int | None = None, checkpoint_dir=None
               ) -> dict[str, float]:
    """Trains every block the sink lacks, in order, and writes each as it finishes.

    The next block is dispatched before the current one is written, so writing overlaps
    training. ``runner`` trains a block in fixed-width chunks (any task). With
    ``checkpoint_every=K`` each block is checkpointed to ``checkpoint_dir`` every K epochs and
    resumed from there after a crash; its checkpoints are removed once it is written.

    Returns networks trained, seconds, networks per second.
    """
    bs, n = sink.block_size, spec.n_networks
    mine, todo = pending_blocks(sink, n, process_index, process_count)
    total = sum(block_indices(b, n, bs)[1] for b in mine)
    already = total - sum(block_indices(b, n, bs)[1] for b in todo)
    bar = progress_bar(total, f"{spec.name} networks", enabled=progress, initial=already)
    if todo:  # the first block compiles its chunk program first (seconds to minutes)
        bar.set_postfix_str("compiling the chunk program")
    t0, trained = time.perf_counter(), 0

    checkpoints = None
    if checkpoint_every:
        from mlds_jax.coord._checkpoint import BlockCheckpoints

        checkpoints = BlockCheckpoints(checkpoint_dir)

    def dispatch(b):
        idx, n_real = block_indices(b, n, bs)
        inputs = network_inputs(spec, idx[:n_real])
        if checkpoints is not None:
            out = train_block_checkpointed(runner, b, inputs, checkpoints,
                                           checkpoint_every,
                                           log=lambda m: bar.write(m, file=sys.stderr))
            return b, n_real, out
        chunks = runner.split(inputs, first_device=b)  # one-chunk blocks take turns
        states = runner.run(chunks, runner.init(chunks), spec.train.epoch_cap)
        return b, n_real, runner.finish(chunks, states)

    pending = dispatch(todo[0]) if todo else None
    if todo:  # dispatch returns once compiled; the block trains on
        bar.set_postfix_str(f"training block 1 of {len(todo)}")
    for i in range(len(todo)):
        b, n_real, out = pending
        result = concat_rows(out, n_real)  # waits for this block only
        nxt = todo[i + 1] if i + 1 < len(todo) else None
        if checkpoints is None and nxt is not None:
            pending = dispatch(nxt)  # overlap: the next block trains while this one is written
        sink.write_block(b, {k: np.asarray(v) for k, v in result._asdict().items()})
        if checkpoints is not None:  # checkpointed blocks train synchronously: write first
            checkpoints.remove(b)
            if nxt is not None:
                pending = dispatch(nxt)
        trained += n_real
        bar.update(n_real)
        bar.set_postfix(net_per_s=f"{trained / (time.perf_counter() - t0):.2f}")
    bar.close()
    secs = time.perf_counter() - t0
    return {"networks": trained, "seconds": secs,
            "networks_per_second": trained / secs if secs > 0 else 0.0}
