"""Running the pending blocks of a dataset and handing results to a sink."""

from __future__ import annotations

import sys
import time
from typing import Protocol

import jax
import numpy as np
from tqdm.auto import tqdm

from mlds_jax.coord._mesh import block_shardings
from mlds_jax.coord._plan import block_indices, n_blocks
from mlds_jax.spec import DatasetSpec
from mlds_jax.train import is_active, make_block_parts, make_block_trainer, network_inputs


class Sink(Protocol):
    """Where finished blocks go (the Zarr writer is one)."""

    block_size: int

    def completed_blocks(self) -> set[int]: ...

    def write_block(self, block: int, results: dict[str, np.ndarray]) -> None: ...


def my_blocks(n_total_blocks: int, process_index: int = 0, process_count: int = 1
              ) -> list[int]:
    """Blocks this process owns: ``b % process_count == process_index`` (a pure function of
    the plan, so any scheduler — SLURM arrays, plain shell loops — can split a dataset)."""
    if not 0 <= process_index < process_count:
        raise ValueError(f"process_index must be in [0, {process_count}), got {process_index}")
    return [b for b in range(n_total_blocks) if b % process_count == process_index]


def train_block_checkpointed(spec: DatasetSpec, block: int, inputs, checkpoints,
                             every: int, log=print):
    """Trains one block in segments of ``every`` epochs, saving its state after each and
    resuming from the newest checkpoint if one exists. Returns the block's TrainResult."""
    parts = make_block_parts(spec, every)
    state = parts.init(inputs)
    found = checkpoints.latest(block, state)
    if found is not None:
        epoch, state = found
        log(f"block {block}: resumed from its checkpoint at epoch {epoch}")
    while bool(np.any(np.asarray(is_active(state, spec)))):
        state = parts.segment(inputs, state)
        checkpoints.save(block, int(np.max(np.asarray(state.epoch))), state)
    return parts.finish(inputs, state)


def pending_blocks(sink: Sink, n_networks: int, process_index: int = 0,
                   process_count: int = 1) -> tuple[list[int], list[int]]:
    """``(this process's blocks, those of them not yet committed in the sink)``."""
    mine = my_blocks(n_blocks(n_networks, sink.block_size), process_index, process_count)
    done = sink.completed_blocks()
    return mine, [b for b in mine if b not in done]


def run_blocks(spec: DatasetSpec, sink: Sink, *, progress: bool = True,
               trainer=None, process_index: int = 0, process_count: int = 1,
               checkpoint_every: int | None = None, checkpoint_dir=None
               ) -> dict[str, float]:
    """Trains every block the sink lacks, in order, and writes each as it finishes.

    The next block is dispatched before the current one is written, so writing overlaps
    training. ``trainer`` maps ``NetworkInputs [n]`` to a result NamedTuple (default: the
    sequence trainer for ``spec``). With ``checkpoint_every=K`` (sequence datasets), each
    block is checkpointed to ``checkpoint_dir`` every K epochs and resumed from there after a
    crash; its checkpoints are removed once it is written.

    Returns networks trained, seconds, networks per second.
    """
    bs, n = sink.block_size, spec.n_networks
    mine, todo = pending_blocks(sink, n, process_index, process_count)
    total = sum(block_indices(b, n, bs)[1] for b in mine)
    already = total - sum(block_indices(b, n, bs)[1] for b in todo)
    trainer = trainer or make_block_trainer(spec)
    shardings = block_shardings(bs)  # None on one device
    bar = tqdm(total=total, initial=already, unit="net", desc=f"{spec.name} networks",
               disable=not progress, smoothing=0.0)
    t0, trained = time.perf_counter(), 0

    checkpoints = None
    if checkpoint_every:
        from mlds_jax.coord._checkpoint import BlockCheckpoints

        checkpoints = BlockCheckpoints(checkpoint_dir)

    def dispatch(b):
        idx, n_real = block_indices(b, n, bs)
        inputs = network_inputs(spec, idx)
        if shardings is not None:  # split the block over the local devices' `models` axis
            inputs = jax.device_put(inputs, shardings[0])
        if checkpoints is not None:
            result = train_block_checkpointed(spec, b, inputs, checkpoints, checkpoint_every,
                                              log=lambda m: bar.write(m, file=sys.stderr))
            return b, n_real, result
        return b, n_real, trainer(inputs)

    pending = dispatch(todo[0]) if todo else None
    for i in range(len(todo)):
        b, n_real, result = pending
        result = jax.device_get(result)  # waits for this block only
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
