"""Size checks made before anything is allocated or written.

A block is padded to ``block_size`` networks, so ``--block-size 1000000000`` asks for a
billion networks' parameters, gradients and optimiser moments at once: it is refused here,
with the largest block that fits, instead of failing (or writing a store that can never be
resumed, since a store keeps its block size) later.
"""

from __future__ import annotations

import os

from mlds_jax.errors import SpecError

# Per network, at the least: parameters, gradient, two Adam moments, the best parameters
# and the stored copy (float32), plus two loss histories.
_PARAM_COPIES = 6
_PLANNED_BYTES = 64  # per network: class, replicate, key, learning rate, status, indices


def host_memory() -> int:
    """Physical memory of this machine in bytes (16 GiB where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def _fmt(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PB"


def bytes_per_network(spec) -> int:
    """A lower bound on the memory one network of ``spec`` needs while it trains."""
    from mlds_jax.models import gru_layout, mlp_layout
    from mlds_jax.spec import ImageDatasetSpec

    if isinstance(spec, ImageDatasetSpec):
        n_params = mlp_layout(spec.widths).n_params
    else:
        n_params = gru_layout(spec.model).n_params
    return 4 * (_PARAM_COPIES * n_params + 2 * spec.train.epoch_cap)


def check_sizes(spec, block_size: int, available: int | None = None) -> None:
    """Refuses a block size or dataset size whose lower-bound memory exceeds ``available``
    (default: this machine's physical memory)."""
    available = available or host_memory()
    per = bytes_per_network(spec)
    if block_size * per > available:
        fits = max(1, available // per)
        raise SpecError(
            f"--block-size {block_size}: a block needs at least {_fmt(block_size * per)} "
            f"({_fmt(per)} per network), more than this machine's {_fmt(available)}; use "
            f"--block-size auto or at most {1 << (fits.bit_length() - 1)}")
    if spec.n_networks * _PLANNED_BYTES > available:
        raise SpecError(
            f"--per-class {spec.per_class}: {spec.n_networks} networks need at least "
            f"{_fmt(spec.n_networks * _PLANNED_BYTES)} of memory just to plan, more than this "
            f"machine's {_fmt(available)}; use a smaller --per-class")
