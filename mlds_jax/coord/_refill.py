"""Retire-and-refill: a fixed pool of slots trains networks in segments of K epochs; after
each segment, networks that stopped (or failed, or hit the cap) retire and the next pending
networks take their slots, so long-tailed runs keep the device busy.

The pool is trained by the same chunk runner (same compiled programs) as plain blocks, and
a network's computation never mixes with its neighbours', so a network's result is equal bit
for bit whichever slot, neighbours or segment length it trained with (tested). Results are
buffered until every network of a store block is finished, then the block is written whole
— one writer per chunk, status last.
"""

from __future__ import annotations

import sys
import time

import jax
import numpy as np

from mlds_jax._progress import progress_bar
from mlds_jax.coord._plan import block_indices
from mlds_jax.coord._run import Sink, pending_blocks
from mlds_jax.spec import DatasetSpec
from mlds_jax.train import ChunkRunner, concat_rows, network_inputs


def _put_rows(chunks: list, rows: np.ndarray, new: dict[int, object], width: int) -> list:
    """``chunks`` (per-chunk pytrees) with pool rows ``rows`` replaced by those of ``new``
    (``{chunk index: pytree}``, for every chunk that holds one of ``rows``)."""
    out = list(chunks)
    for c in sorted({int(r) // width for r in rows}):
        local = np.array([int(r) % width for r in rows if int(r) // width == c])
        out[c] = jax.tree_util.tree_map(lambda a, b, i=local: a.at[i].set(b[i]), out[c], new[c])
    return out


POOL = "pool"


def _refill(spec, runner: ChunkRunner, slot_net: np.ndarray, free: np.ndarray, queue: list,
            chunks: list, states: list) -> tuple[list, list, list]:
    """Gives the ``free`` slots (marked -1 in ``slot_net``, updated in place) the next
    networks of ``queue``, with fresh inputs and initial states.

    Returns ``(chunks, states, rest of the queue)``."""
    new_nets, queue = queue[: free.size], queue[free.size:]
    fill = free[: len(new_nets)]
    if len(fill):
        slot_net[fill] = new_nets
        w = runner.width
        nets = np.where(slot_net >= 0, slot_net, slot_net[fill[0]])
        touched = sorted({int(r) // w for r in fill})  # only these chunks get new networks
        fresh = {c: runner.place(chunks[c], network_inputs(spec, nets[c * w:(c + 1) * w]))
                 for c in touched}
        chunks = _put_rows(chunks, fill, fresh, w)
        inits = dict(zip(touched, runner.init([chunks[c] for c in touched])))
        states = _put_rows(states, fill, inits, w)
    return chunks, states, queue


def run_blocks_refill(spec: DatasetSpec, sink: Sink, runner: ChunkRunner, *, pool_size: int,
                      epochs_per_segment: int, progress: bool = True,
                      process_index: int = 0, process_count: int = 1,
                      checkpoint_every: int | None = None, checkpoint_dir=None,
                      ) -> dict[str, float]:
    """Trains the sink's pending blocks through a pool of ``pool_size`` slots (rounded up to
    whole chunks of the runner's width). Returns networks, seconds, segments, rate.

    ``checkpoint_every=K``: the pool (its states and which network each slot holds) is saved
    to ``checkpoint_dir`` after a segment once K epochs have passed since the last save; a
    killed run resumes the pool from there. Networks that had already retired into a block
    not yet written are trained again (exactly: a network is a pure function of its index).
    """
    bs, n = sink.block_size, spec.n_networks
    _, todo = pending_blocks(sink, n, process_index, process_count)
    remaining = {b: block_indices(b, n, bs)[1] for b in todo}  # networks left per block
    queue = [b * bs + k for b in todo for k in range(remaining[b])]
    buffers: dict[int, dict[int, dict]] = {b: {} for b in todo}
    pool = runner.padded(pool_size)
    bar = progress_bar(len(queue), f"{spec.name} networks (refill)", enabled=progress)
    # setting up the pool and the first segment compile (tens of seconds): say so at once;
    # the clock ticks meanwhile
    bar.set_postfix_str("compiling the chunk program")
    t0, trained, segments = time.perf_counter(), 0, 0
    checkpoints = None
    if checkpoint_every:
        from mlds_jax.coord._checkpoint import BlockCheckpoints

        checkpoints = BlockCheckpoints(checkpoint_dir)
    if not queue:
        bar.close()
        if checkpoints is not None:
            checkpoints.remove(POOL)
        return {"networks": 0, "seconds": 0.0, "networks_per_second": 0.0, "segments": 0}

    # Fill the pool (repeat the first network into spare slots when the queue is short;
    # those slots are marked idle and never reported).
    first = queue[:pool]
    slot_net = np.array(first + [-1] * (pool - len(first)))
    chunks = runner.split(network_inputs(spec, np.where(slot_net >= 0, slot_net, first[0])))
    states = runner.init(chunks)
    found = checkpoints.latest(POOL, {"states": states, "slot_net": slot_net}) \
        if checkpoints is not None else None
    if found is not None:
        segments, saved = found
        slot_net = np.array(saved["slot_net"])
        # a network whose block was written after this checkpoint is finished: idle its slot
        pending = set(queue)
        slot_net[[s for s in range(pool) if slot_net[s] >= 0
                  and int(slot_net[s]) not in pending]] = -1
        ref = int(slot_net[slot_net >= 0][0]) if (slot_net >= 0).any() else first[0]
        chunks = runner.split(network_inputs(spec, np.where(slot_net >= 0, slot_net, ref)))
        states = [runner.place(c, s) for c, s in zip(chunks, saved["states"])]
        bar.write(f"refill pool: resumed from its checkpoint after segment {segments}",
                  file=sys.stderr)
    in_pool = set(slot_net[slot_net >= 0].tolist())
    queue = [g for g in queue if g not in in_pool]
    idle = np.flatnonzero(slot_net < 0)  # after a resume: slots freed above, to refill now
    if idle.size and queue:
        chunks, states, queue = _refill(spec, runner, slot_net, idle, queue, chunks, states)
    since_save = 0
    while (slot_net >= 0).any():
        states = runner.segment(chunks, states, epochs_per_segment)
        if segments == 0 or not trained:  # dispatched (so compiled); it trains on
            bar.set_postfix_str(f"training epochs {segments * epochs_per_segment + 1}-"
                                f"{(segments + 1) * epochs_per_segment}")
        segments += 1
        since_save += epochs_per_segment
        active = runner.active(states)
        retire = np.flatnonzero(~active & (slot_net >= 0))
        if retire.size:
            result = concat_rows(runner.finish(chunks, states))
        for slot in retire:
            net = int(slot_net[slot])
            b = net // bs
            buffers[b][net] = {k: np.asarray(v)[slot] for k, v in result._asdict().items()}
            remaining[b] -= 1
            if remaining[b] == 0:  # the whole block is finished: write it, status last
                blk = buffers.pop(b)
                rows = [blk[i] for i in sorted(blk)]
                sink.write_block(b, {k: np.stack([r[k] for r in rows]) for k in rows[0]})
            trained += 1
            bar.update(1)
        # refill the retired slots with the next pending networks
        slot_net[retire] = -1
        chunks, states, queue = _refill(spec, runner, slot_net, retire, queue, chunks, states)
        if checkpoints is not None and since_save >= checkpoint_every \
                and (slot_net >= 0).any():
            checkpoints.save(POOL, segments, {"states": states, "slot_net": slot_net})
            since_save = 0
        # every segment shows, even before a network retires (the first minutes of a run)
        bar.set_postfix(epochs=segments * epochs_per_segment,
                        net_per_s=f"{trained / (time.perf_counter() - t0):.2f}")
    bar.close()
    if checkpoints is not None:
        checkpoints.remove(POOL)
    secs = time.perf_counter() - t0
    return {"networks": trained, "seconds": secs, "segments": segments,
            "networks_per_second": trained / secs if secs > 0 else 0.0}
