"""Retire-and-refill: a fixed pool of slots trains networks in segments of K epochs; after
each segment, networks that stopped (or failed, or hit the cap) retire and the next pending
networks take their slots, so long-tailed runs keep the device busy.

Each network's computation is elementwise along the pool axis, so its result does not
depend on which slot or with which neighbours it trained (up to float32 rounding of batched
kernels, as for any block size). Results are buffered until every network of a store block
is finished, then the block is written whole — one writer per chunk, status last.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from mlds_jax.coord._plan import block_indices
from mlds_jax.coord._run import Sink, pending_blocks
from mlds_jax.spec import DatasetSpec
from mlds_jax.train import is_active, make_block_parts, network_inputs


def _put_rows(tree, rows: np.ndarray, new):
    """``tree`` with rows ``rows`` of every leaf replaced by the rows of ``new``."""
    idx = jnp.asarray(rows)
    return jax.tree_util.tree_map(lambda a, b: a.at[idx].set(b[idx]), tree, new)


def run_blocks_refill(spec: DatasetSpec, sink: Sink, *, pool_size: int,
                      epochs_per_segment: int, progress: bool = True,
                      process_index: int = 0, process_count: int = 1) -> dict[str, float]:
    bs, n = sink.block_size, spec.n_networks
    _, todo = pending_blocks(sink, n, process_index, process_count)
    remaining = {b: block_indices(b, n, bs)[1] for b in todo}  # networks left per block
    queue = [b * bs + k for b in todo for k in range(remaining[b])]
    buffers: dict[int, dict[int, dict]] = {b: {} for b in todo}
    parts = make_block_parts(spec, epochs_per_segment)
    bar = tqdm(total=len(queue), unit="net", desc=f"{spec.name} networks (refill)",
               disable=not progress, smoothing=0.0)
    t0, trained, segments = time.perf_counter(), 0, 0
    if not queue:
        bar.close()
        return {"networks": 0, "seconds": 0.0, "networks_per_second": 0.0, "segments": 0}

    # Fill the pool (repeat the first network into spare slots when the queue is short;
    # those slots are marked idle and never reported).
    first = queue[: pool_size]
    queue = queue[len(first):]
    slot_net = np.array(first + [-1] * (pool_size - len(first)))
    inputs = network_inputs(spec, np.where(slot_net >= 0, slot_net, first[0]))
    state = parts.init(inputs)
    while (slot_net >= 0).any():
        state = parts.segment(inputs, state)
        segments += 1
        active = np.asarray(is_active(state, spec))
        retire = np.flatnonzero(~active & (slot_net >= 0))
        if retire.size == 0:
            continue
        result = jax.device_get(parts.finish(inputs, state))
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
        new_nets = queue[: retire.size]
        queue = queue[len(new_nets):]
        fill, idle = retire[: len(new_nets)], retire[len(new_nets):]
        slot_net[idle] = -1
        if len(fill):
            slot_net[fill] = new_nets
            fresh_inputs = network_inputs(spec, np.where(slot_net >= 0, slot_net,
                                                         slot_net[fill[0]]))
            inputs = _put_rows(inputs, fill, fresh_inputs)
            state = _put_rows(state, fill, parts.init(inputs))
        bar.set_postfix(net_per_s=f"{trained / (time.perf_counter() - t0):.2f}")
    bar.close()
    secs = time.perf_counter() - t0
    return {"networks": trained, "seconds": secs, "segments": segments,
            "networks_per_second": trained / secs if secs > 0 else 0.0}
