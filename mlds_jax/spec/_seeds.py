"""Seeds as a zoo dimension: an initialisation seed and a data-order seed per network.

A spec may set ``init_seeds`` and/or ``order_seeds`` (top-level fields of
:class:`~mlds_jax.spec.DatasetSpec` and :class:`~mlds_jax.spec.ImageDatasetSpec`), each a
grid of seeds. Network ``(class c, replicate r)`` takes ``init_seeds[r % len(init_seeds)]``
and ``order_seeds[r % len(order_seeds)]`` (the grids cycle over the replicates like the
learning-rate grid, ``mlds_jax.spec._grid``; every class of a zoo has the same seeds at the
same replicate).

With a seed set, the network's key for that use comes from the seed alone, not from the
spec's digest:

* the init seed gives the initial weights (and the weights of each restart);
* the order seed gives the order of the training batches, and for DS1-DS3 the training and
  validation sequences' inputs (DS4's poisoned samples stay drawn from the network's own key).

So two networks with one init seed start from equal weights, two with one order seed see the
same batches, also across datasets: network ``i`` of an ``MNISTclean`` and an
``MNISTbadnet_alpha10`` zoo with the same seeds differ only by the poison (DS1 and DS2:
only by the machine modification). Lists as long as ``per_class`` give every replicate its
own seeds; ``init_seeds = [7]`` with ``order_seeds = [0, 1, 2, 3]`` trains one
initialisation on four data orders; to cross ``a`` init seeds with ``b`` order seeds, list
each init seed ``b`` times in a row and the order seeds ``a`` times over (lists of
``a * b``). ``None`` (default): the key comes from the digest as before, and the field is
left out of the spec's dict, so digests and stores of specs without seeds are unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlds_jax.errors import SpecError

# The spec fields, in the order the trainer's keys use them.
SEED_FIELDS = ("init_seeds", "order_seeds")
# Stored per-network array of each field.
SEED_ARRAYS = {"init_seeds": "init_seed", "order_seeds": "order_seed"}


def check_seed_grid(value: Any, field: str) -> tuple[int, ...]:
    """``value`` as a non-empty tuple of integers in ``[0, 2**32)`` (repeats allowed), or a
    one-line :class:`SpecError` naming ``field``."""
    if isinstance(value, range):
        value = list(value)
    if not isinstance(value, (list, tuple)) or not value:
        raise SpecError(f"`{field}`: expected a non-empty list of seeds (integers in "
                        f"[0, 2**32)), got {value!r}")
    for i, s in enumerate(value):
        if not (isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                and 0 <= int(s) < 2**32):
            raise SpecError(f"`{field}[{i}]`: expected an integer in [0, 2**32), got {s!r}")
    return tuple(int(s) for s in value)


def network_seeds(spec, replicate) -> dict[str, np.ndarray]:
    """The seeds the spec sets for networks of replicate ``replicate[i]``: stored array name
    (``init_seed``, ``order_seed``) -> int64 ``[n]`` (``grid[replicate % len(grid)]``); only
    the fields the spec sets appear."""
    rep = np.asarray(replicate, np.int64)
    out = {}
    for field, name in SEED_ARRAYS.items():
        grid = getattr(spec, field, None)
        if grid:
            out[name] = np.asarray(grid, np.int64)[rep % len(grid)]
    return out


def drop_unset_seeds(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` (a spec dict) without seed fields that are ``None``: specs written before the
    fields existed keep their dict and digest."""
    for f in SEED_FIELDS:
        if f in d and d[f] is None:
            del d[f]
    return d


def parse_seeds(text: str, option: str) -> tuple[int, ...]:
    """A command line's seed grid: ``A:B`` (the seeds ``A .. B-1``) or ``s1,s2,...``; a
    one-line :class:`SpecError` naming ``option`` otherwise."""
    try:
        if ":" in text:
            lo, hi = (int(x) for x in text.split(":"))
            seeds = list(range(lo, hi))
        else:
            seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise SpecError(f"{option}: expected A:B (seeds A to B-1) or s1,s2,..., got "
                        f"{text!r}") from None
    return check_seed_grid(seeds, option)


def with_seeds(spec, init_seeds=None, order_seeds=None):
    """``spec`` with the seed grids that are not ``None`` replaced (validated)."""
    import dataclasses

    changes = {f: v for f, v in (("init_seeds", init_seeds), ("order_seeds", order_seeds))
               if v is not None}
    return dataclasses.replace(spec, **changes) if changes else spec
