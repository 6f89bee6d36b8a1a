"""Storage layout along ``network``: one shard per trainer block, small inner chunks.

A block is written whole by exactly one writer, so a shard (one file) per block keeps the
crash-safety rule "one writer per file". Inside the shard, arrays with a trailing axis
(``params``, ``history/*``) are split into inner chunks of a few networks, so reading one
network decompresses one inner chunk (tens of kilobytes) instead of the whole block.
"""

from __future__ import annotations

import math

import numpy as np

# Target size of one inner chunk (uncompressed): a few networks.
INNER_CHUNK_BYTES = 128 * 1024


def inner_networks(block: int, row_bytes: int, target: int = INNER_CHUNK_BYTES) -> int:
    """Networks per inner chunk: the largest divisor of ``block`` whose chunk stays within
    ``target`` bytes (at least 1). Zarr needs the shard shape to be a multiple of the inner
    chunk shape, hence a divisor."""
    want = max(1, target // max(row_bytes, 1))
    return max(d for d in range(1, min(block, want) + 1) if block % d == 0)


def storage_chunks(dtype: str, block: int, trailing: tuple[int, ...]) -> dict[str, tuple]:
    """``create_array`` keyword arguments for an array ``[network, *trailing]``.

    Returns ``{"chunks": (block, *trailing)}`` for per-network scalars and small rows, or
    ``{"shards": (block, *trailing), "chunks": (inner, *trailing)}`` when a block's rows are
    worth splitting (``params``, ``history/*``).
    """
    row_bytes = math.prod(trailing) * np.dtype(dtype).itemsize
    inner = inner_networks(block, row_bytes) if trailing else block
    if inner >= block:
        return {"chunks": (block, *trailing)}
    return {"shards": (block, *trailing), "chunks": (inner, *trailing)}
