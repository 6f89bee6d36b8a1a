"""Canonical splits of a zoo's networks: pure functions of (spec, network index).

Analysts of weight-space models need the same train / validation / test split of networks to
compare numbers across papers. Every split here is a deterministic function of the spec and
the network's index (in practice of its replicate, class and seeds), never of the block size,
process count or the order networks were trained in, and is the same for a zoo of any size
(network ``(class c, replicate r)`` has the same code in a 100- and a 500-per-class zoo).

Codes (:data:`SPLIT_CODES`, int8): 0 train, 1 val, 2 test, 3 ood (held out of distribution).

* ``canonical`` (every zoo): replicates are cut in blocks of 10 (0-9, 10-19, ...); in each
  block the replicates ranked 0-7 by a fixed hash of (block, position) are train, rank 8 val,
  rank 9 test, so every full block of 10 is exactly 8 / 1 / 1. A replicate has one code in
  every class (the split is stratified by class) and in every dataset, so the networks of
  paired zoos (``init_seeds`` / ``order_seeds``) fall in the same split.
* Out-of-distribution splits, by generating factor: the networks of one held-out value of a
  factor get code 3, the others keep their canonical code.

  * ``held_out_replicates`` (every zoo): held-out initialisations. With ``init_seeds``, the
    networks whose init seed ``s`` has ``hash(s) < 0.2`` (a property of the seed's value, so
    it holds across zoos); without, two replicates of each block of 10 (by another fixed
    hash), in every class.
  * ``held_out_automata`` (DS3, a spec with ``automata``): automata cut in blocks of 10 by
    index, two of each block (by a fixed hash) held out with all their networks.
  * ``held_out_poison_fraction`` (DS4 with a ``poison.fraction_grid`` of two or more values):
    the networks poisoned with the middle value of the sorted grid (the upper of the two
    middle ones for an even count), an interpolation test.

Small zoos can leave a code empty (a zoo of 4 replicates per class may have no val or test
network); the hashes are SHA-256, so the splits never change with a library's version.
"""

from __future__ import annotations

import hashlib

import numpy as np

from mlds_jax.errors import SpecError
from mlds_jax.spec._grid import network_poison_fractions
from mlds_jax.spec._seeds import network_seeds

TRAIN, VAL, TEST, OOD = 0, 1, 2, 3
# Code name -> code (the ``codes`` attribute of each stored split array).
SPLIT_CODES = {"train": TRAIN, "val": VAL, "test": TEST, "ood": OOD}
BLOCK = 10  # replicates (or automata) per block of the block-wise splits
HELD_OUT_SHARE = 0.2  # init seeds held out by held_out_replicates (by hash)

# Split name -> what it holds out (the ``description`` attribute of each stored split).
SPLIT_DESCRIPTIONS = {
    "canonical": "train/val/test by replicate: 8/1/1 of every block of 10 replicates, the "
                 "same replicates in every class and dataset",
    "held_out_replicates": "ood: networks of held-out initialisations (init seeds with "
                           "hash < 0.2; without init_seeds 2 replicates of every 10); "
                           "others as canonical",
    "held_out_automata": "ood: every network of 2 of every 10 automata (DS3); others as "
                         "canonical",
    "held_out_poison_fraction": "ood: networks of the middle value of the poison fraction "
                                "grid (DS4); others as canonical",
}


def _unit(salt: str, *ints: int) -> float:
    """A fixed pseudo-random number in [0, 1) from ``salt`` and ``ints`` (SHA-256)."""
    h = hashlib.sha256(f"mlds-jax split {salt} {' '.join(map(str, ints))}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2.0**64


def _block_ranks(salt: str, index: np.ndarray) -> np.ndarray:
    """int ``[n]``: each index's rank (0-9) within its block of :data:`BLOCK` consecutive
    indices, ordered by a fixed hash of (block, position)."""
    index = np.asarray(index, np.int64)
    blocks, inverse = np.unique(index // BLOCK, return_inverse=True)
    ranks = np.empty((len(blocks), BLOCK), np.int64)  # block -> position -> rank
    for j, b in enumerate(blocks):
        order = np.argsort([_unit(salt, int(b), p) for p in range(BLOCK)], kind="stable")
        ranks[j, order] = np.arange(BLOCK)
    return ranks[inverse.reshape(index.shape), index % BLOCK]


def split_names(spec) -> tuple[str, ...]:
    """The named splits ``spec``'s zoo has (``canonical`` first)."""
    names = ["canonical", "held_out_replicates"]
    if getattr(spec, "automata", None) is not None:
        names.append("held_out_automata")
    poison = getattr(spec, "poison", None)
    if poison is not None and poison.fraction_grid is not None \
            and len(poison.fraction_grid) >= 2:
        names.append("held_out_poison_fraction")
    return tuple(names)


def _parts(spec, indices) -> tuple[np.ndarray, np.ndarray]:
    idx = np.asarray(indices, np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= spec.n_networks):
        raise IndexError(f"network indices must lie in [0, {spec.n_networks}); got {idx}")
    return idx // spec.per_class, idx % spec.per_class


def network_split(spec, name: str, indices) -> np.ndarray:
    """int8 ``[n]``: split ``name``'s code (:data:`SPLIT_CODES`) of networks ``indices``.

    Raises :class:`SpecError` naming the splits the spec has when ``name`` is not one."""
    names = split_names(spec)
    if name not in names:
        raise SpecError(f"split {name!r}: expected one of {list(names)} for {spec.name}")
    cls, rep = _parts(spec, indices)
    rank = _block_ranks("canonical", rep)
    codes = np.where(rank < 8, TRAIN, np.where(rank == 8, VAL, TEST)).astype(np.int8)
    if name == "canonical":
        return codes
    if name == "held_out_replicates":
        seeds = network_seeds(spec, rep)
        if "init_seed" in seeds:
            out = np.asarray([_unit("init seed", int(s)) < HELD_OUT_SHARE
                              for s in seeds["init_seed"]], bool).reshape(rep.shape)
        else:
            out = _block_ranks("replicates", rep) >= BLOCK - 2
    elif name == "held_out_automata":
        out = _block_ranks("automata", cls) >= BLOCK - 2
    else:  # held_out_poison_fraction
        grid = np.sort(np.asarray(spec.poison.fraction_grid, np.float32))
        out = network_poison_fractions(spec, rep) == grid[len(grid) // 2]
    return np.where(out, OOD, codes).astype(np.int8)


def network_splits(spec, indices) -> dict[str, np.ndarray]:
    """Every split of ``spec``'s zoo for networks ``indices``: name -> int8 codes ``[n]``."""
    return {name: network_split(spec, name, indices) for name in split_names(spec)}
