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
    return 4 * (_PARAM_COPIES * _n_params(spec) + 2 * spec.train.epoch_cap)


def _n_params(spec) -> int:
    from mlds_jax.train import task_layout

    return task_layout(spec).n_params


def _pow2_at_most(n: int) -> int:
    return 1 << (max(1, n).bit_length() - 1)


def size_problem(spec, block_size: int, chunk_width: int | None = None,
                 available: int | None = None) -> tuple[str, str] | None:
    """``(field, problem)`` when a block of ``block_size`` networks trained in compiled chunks
    of ``chunk_width`` cannot run here (a lower bound on memory above ``available``, default
    this machine's memory; or one chunk's parameters past XLA's 2**31 - 1 elements); else
    None. A chunk is padded to its full width however few networks its block holds."""
    available = available or host_memory()
    per = bytes_per_network(spec)
    if block_size * per > available:
        return "block_size", (
            f"a block needs at least {_fmt(block_size * per)} "
            f"({_fmt(per)} per network), more than this machine's {_fmt(available)}")
    if chunk_width:
        elements = chunk_width * _n_params(spec)
        if chunk_width * per > available or elements >= 2**31:
            return "chunk_width", (
                f"a compiled chunk holds {chunk_width} networks (a block is padded to whole "
                f"chunks) and needs at least {_fmt(chunk_width * per)} and {elements:,} "
                f"parameters in one array, more than this machine's {_fmt(available)} or "
                "XLA's 2**31 - 1 elements")
    return None


def check_sizes(spec, block_size: int, available: int | None = None,
                chunk_width: int | None = None) -> None:
    """Refuses a block size, chunk width (its padding included) or dataset size whose
    lower-bound memory exceeds ``available`` (default: this machine's physical memory).
    Messages name the field (``block_size``, ``chunk_width``, ``per_class``)."""
    available = available or host_memory()
    per = bytes_per_network(spec)
    problem = size_problem(spec, block_size, chunk_width, available)
    if problem and problem[0] == "block_size":
        raise SpecError(
            f"`block_size` {block_size}: {problem[1]}; use `block_size` auto or at most "
            f"{_pow2_at_most(available // per)}")
    if problem:
        fits = min(available // per, (2**31 - 1) // _n_params(spec))
        raise SpecError(f"`chunk_width` {chunk_width}: {problem[1]}; use a `chunk_width` "
                        f"of at most {_pow2_at_most(fits)} (or leave it to the default)")
    if spec.n_networks * _PLANNED_BYTES > available:
        raise SpecError(
            f"`per_class` {spec.per_class}: {spec.n_networks} networks need at least "
            f"{_fmt(spec.n_networks * _PLANNED_BYTES)} of memory just to plan, more than this "
            f"machine's {_fmt(available)}; use a smaller `per_class`")
