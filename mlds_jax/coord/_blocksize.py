"""Choosing networks per block: ``--block-size auto``.

On a CPU the best block is small (64: the DS1 GRU's rate per network falls with larger
blocks, docs/benchmarks.md). On an accelerator the block should be as large as memory
allows: the GRU trainer's memory is measured from XLA's own estimate for two probe sizes
(a linear model: fixed bytes + bytes per network) and the block is the largest power of two
that fits in half the device's memory, at most 16,384 networks per device (where the H100
measurements stop gaining). DS4 blocks on an accelerator are 4,096 per device (measured on
an H100: the gathered batches of 4,096 networks take about 2 GB).
"""

from __future__ import annotations

import math

import jax
import numpy as np

from mlds_jax.spec import DEFAULT_BLOCK_SIZE, DatasetSpec, ImageDatasetSpec, task_of

CPU_BLOCK = DEFAULT_BLOCK_SIZE
IMAGE_BLOCK_ACCEL = 4096
MAX_PER_DEVICE = 16384
PROBES = (64, 128)


def block_size_for_memory(bytes_fixed: float, bytes_per_network: float,
                          bytes_available: float, n_networks: int, n_devices: int = 1,
                          fraction: float = 0.5, cap: int = MAX_PER_DEVICE) -> int:
    """Largest power-of-two block per device whose estimated memory fits in ``fraction`` of
    ``bytes_available`` (capped at ``cap``), times ``n_devices``, and no larger than the
    dataset needs (rounded up to a multiple of ``n_devices``)."""
    if bytes_per_network <= 0 or bytes_available <= 0:
        raise ValueError("memory sizes must be positive")
    fits = max(1, int((fraction * bytes_available - bytes_fixed) // bytes_per_network))
    per_device = min(1 << (fits.bit_length() - 1), cap)
    needed = math.ceil(n_networks / n_devices)
    return min(per_device, needed) * n_devices


def xla_block_memory(spec: DatasetSpec, n: int):
    """XLA's memory analysis of the sequence task's ``segment`` program compiled for a chunk
    of ``n`` networks (None where the backend reports none)."""
    from mlds_jax.train import make_runner, network_inputs

    inputs = network_inputs(spec, np.arange(n) % spec.n_networks)
    return make_runner(spec, width=n).lower_segment(inputs).memory_analysis()


def _xla_bytes(spec: DatasetSpec, n: int) -> int:
    m = xla_block_memory(spec, n)
    return int(m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes)


def auto_block_size(spec: DatasetSpec | ImageDatasetSpec, devices=None) -> int:
    """Networks per block for ``spec`` on ``devices`` (default: the local devices).

    On a CPU 64 per device, never more than the dataset: a block larger than the dataset
    would only add padding, and on a small dataset it could cross the fused GRU's width
    threshold (``fused_gru_width``), so the device count would change the floats."""
    devices = list(devices or jax.local_devices())
    n_dev = len(devices)
    needed = math.ceil(spec.n_networks / n_dev)
    if devices[0].platform == "cpu":
        return min(CPU_BLOCK * n_dev, spec.n_networks)
    if task_of(spec).images:
        return min(IMAGE_BLOCK_ACCEL, needed) * n_dev
    a, b = (_xla_bytes(spec, n) for n in PROBES)
    per_network = max((b - a) / (PROBES[1] - PROBES[0]), 1.0)
    fixed = max(a - PROBES[0] * per_network, 0.0)
    stats = devices[0].memory_stats() or {}
    available = stats.get("bytes_limit", 16 * 2**30)
    return block_size_for_memory(fixed, per_network, available, spec.n_networks, n_dev)
