"""Planning: a dataset becomes fixed-size blocks of consecutive networks."""

from __future__ import annotations

import numpy as np


def n_blocks(n_networks: int, block_size: int) -> int:
    """Blocks of ``block_size`` networks needed for ``n_networks`` (the last may be short)."""
    return -(-n_networks // block_size)


def block_indices(block: int, n_networks: int, block_size: int) -> tuple[np.ndarray, int]:
    """Network indices of one block, padded to ``block_size`` by repeating the last network.

    Padding keeps every block the same shape (one compiled program); padded rows duplicate a
    real network, so they never lengthen the block's epoch loop, and are dropped on write.

    Returns:
      ``(indices [block_size], n_real)``.
    """
    lo = block * block_size
    hi = min(lo + block_size, n_networks)
    if lo >= hi:
        raise IndexError(f"block {block} is past the end ({n_networks} networks)")
    idx = np.arange(lo, lo + block_size)
    return np.minimum(idx, hi - 1), hi - lo


def make_plan(n_networks: int, block_size: int, n_devices: int = 1, process_count: int = 1
              ) -> dict:
    """The shard plan: a pure function of the dataset size, block size, local device count
    and process count. Blocks are the store's chunks along ``network`` (one writer each);
    process ``i`` owns blocks ``b % process_count == i``; each block is split over the
    devices of its process."""
    blocks = n_blocks(n_networks, block_size)
    per_process = [len(range(i, blocks, process_count)) for i in range(process_count)]
    return {
        "networks": n_networks,
        "block_size": block_size,
        "blocks": blocks,
        "padded_networks": blocks * block_size - n_networks,
        "devices_per_process": n_devices,
        "networks_per_device_per_block": round(block_size / n_devices, 2),
        "processes": process_count,
        "blocks_per_process": per_process,
    }
