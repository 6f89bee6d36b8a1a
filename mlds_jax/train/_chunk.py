"""Vmapping a block of networks in sequential chunks.

On a CPU the per-network arrays of a whole block (e.g. 256 networks x a 128 x 784 float
batch = 100 MB per step) stream through main memory at every operation; in chunks of a few
networks they stay in cache. Measured on a 2-core CPU, the dense 784-32-10 step runs about
1.4x faster in chunks of 8 than vmapped over 256 networks at once. On a GPU the opposite
holds: the whole block at once fills the device. Results do not depend on the chunking:
each network's computation is the same, only the order in which networks run changes.
"""

from __future__ import annotations

from collections.abc import Callable

import jax

CPU_CHUNK = 8


def default_chunk() -> int | None:
    """Networks per chunk for the default backend: 8 on a single CPU device, else None
    (vmap the whole block at once)."""
    if jax.default_backend() == "cpu" and jax.device_count() == 1:
        return CPU_CHUNK
    return None


def resolve_chunk(chunk: int | None | str) -> int | None:
    """``"auto"`` -> :func:`default_chunk`; an int or None is returned as given."""
    return default_chunk() if chunk == "auto" else chunk


def _divisor_at_most(n: int, k: int) -> int:
    return max(d for d in range(1, min(n, k) + 1) if n % d == 0)


def chunked_vmap(fn: Callable, in_axes=0, chunk: int | None = None) -> Callable:
    """Like ``jax.vmap(fn, in_axes)`` over a leading ``[n_models]`` axis, but evaluated as a
    sequential ``lax.map`` over chunks of at most ``chunk`` networks (the largest divisor of
    ``n_models`` not above ``chunk``). ``chunk=None`` is plain ``vmap``.

    ``in_axes`` follows ``vmap``: per positional argument, ``0`` (batched over networks) or
    ``None`` (shared by every network).
    """
    vfn = jax.vmap(fn, in_axes=in_axes)
    if chunk is None:
        return vfn
    if chunk < 1:
        raise ValueError(f"chunk must be a positive number of networks, got {chunk}")

    def run(*args):
        axes = in_axes if isinstance(in_axes, (tuple, list)) else (in_axes,) * len(args)
        mapped = [i for i, a in enumerate(axes) if a == 0]
        if not mapped:
            raise ValueError("chunked_vmap needs at least one argument batched over networks")
        n = jax.tree_util.tree_leaves(args[mapped[0]])[0].shape[0]
        c = _divisor_at_most(n, chunk)
        if c == n:
            return vfn(*args)
        split = jax.tree_util.tree_map(lambda a: a.reshape(n // c, c, *a.shape[1:]),
                                       tuple(args[i] for i in mapped))

        def one_chunk(chunk_args):
            full = list(args)
            for i, a in zip(mapped, chunk_args):
                full[i] = a
            return vfn(*full)

        out = jax.lax.map(one_chunk, split)
        return jax.tree_util.tree_map(lambda a: a.reshape(n, *a.shape[2:]), out)

    return run
