"""Permutation-canonical weights: hidden units reordered by a canonical key.

Permuting the hidden units of a layer (and, with them, the columns of the next layer that
read them) leaves a network's function unchanged. The canonical form sorts each layer's
hidden units by a key computed from that unit's own weights, so every permuted copy of a
network maps to the same vector.

GRU layer ``k`` (PyTorch layout, gates r, z, n stacked in rows): unit ``j`` owns rows
``j``, ``H + j`` and ``2H + j`` of ``weight_ih_lk``, ``weight_hh_lk``, ``bias_ih_lk``,
``bias_hh_lk``, column ``j`` of ``weight_hh_lk``, and column ``j`` of the next layer's input
weights (``weight_ih_l{k+1}``, or the head's first linear layer). Dense hidden layers: row
``j`` of ``W`` and entry ``j`` of ``b``, column ``j`` of the next ``W``.

Works on NumPy dicts of named tensors (one network), as rebuilt from a store's layout.
"""

from __future__ import annotations

import re

import numpy as np


def _key(rows: list[np.ndarray]) -> np.ndarray:
    """Sort order of units from their incoming weights (rows of ``[units, ...]`` arrays).

    Primary key: the L2 norm of everything the unit owns on the input side; ties broken by
    the incoming bias values, which are distinct in practice.
    """
    feats = np.concatenate([r.reshape(len(r), -1) for r in rows], axis=1)
    return np.lexsort((feats[:, -1], np.linalg.norm(feats, axis=1)))


def _gru_layers(t: dict[str, np.ndarray]) -> int:
    return len([k for k in t if re.fullmatch(r"gru\.weight_ih_l\d+", k)])


def _head(t: dict[str, np.ndarray], prefix: str) -> list[str]:
    idx = sorted({int(k.split(".")[1]) for k in t if k.startswith(prefix + ".")})
    return [f"{prefix}.{i}" for i in idx]


def permute_gru_units(t: dict[str, np.ndarray], layer: int, perm: np.ndarray
                      ) -> dict[str, np.ndarray]:
    """Returns a copy with GRU layer ``layer``'s hidden units reordered by ``perm``."""
    t = {k: v.copy() for k, v in t.items()}
    h = t[f"gru.weight_hh_l{layer}"].shape[1]
    rows = np.concatenate([perm + g * h for g in range(3)])
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        t[f"gru.{name}_l{layer}"] = t[f"gru.{name}_l{layer}"][rows]
    t[f"gru.weight_hh_l{layer}"] = t[f"gru.weight_hh_l{layer}"][:, perm]
    nxt = (f"gru.weight_ih_l{layer + 1}" if layer + 1 < _gru_layers(t)
           else f"{_head(t, 'fc')[0]}.weight")
    t[nxt] = t[nxt][:, perm]
    return t


def permute_dense_units(t: dict[str, np.ndarray], prefix: str, layer: int,
                        perm: np.ndarray) -> dict[str, np.ndarray]:
    """Reorders hidden units of dense layer ``layer`` (0-based, not the output layer)."""
    t = {k: v.copy() for k, v in t.items()}
    names = _head(t, prefix)
    cur, nxt = names[layer], names[layer + 1]
    t[f"{cur}.weight"] = t[f"{cur}.weight"][perm]
    t[f"{cur}.bias"] = t[f"{cur}.bias"][perm]
    t[f"{nxt}.weight"] = t[f"{nxt}.weight"][:, perm]
    return t


def canonicalize(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The canonical form of one network's named tensors (GRU + ``fc`` head, or ``net``
    dense stack)."""
    for k in range(_gru_layers(t)):
        h = t[f"gru.weight_hh_l{k}"].shape[1]
        own = [np.stack([t[f"gru.{n}_l{k}"][g * h:(g + 1) * h] for g in range(3)], 1)
               for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        # weight_hh's columns move with the permutation too, so the key uses only what is
        # invariant: the unit's own rows, with its incoming recurrent weights row-sorted.
        own[1] = np.sort(own[1], axis=-1)
        t = permute_gru_units(t, k, _key([own[0], own[1], own[3], own[2]]))
    for prefix in ("fc", "net"):
        names = _head(t, prefix)
        for j in range(len(names) - 1):
            w, b = t[f"{names[j]}.weight"], t[f"{names[j]}.bias"]
            t = permute_dense_units(t, prefix, j, _key([w, b[:, None]]))
    return t


def canonical_vector(t: dict[str, np.ndarray], order: list[str]) -> np.ndarray:
    """Flattened canonical form, tensors in ``order`` (the store's layout order)."""
    c = canonicalize(t)
    return np.concatenate([c[n].reshape(-1) for n in order])


# -- vectorised over networks: every tensor has a leading [n] axis ---------------------------
def _key_batch(feats: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """``[n, units]`` sort orders, as :func:`_key` per network: L2 norm of ``feats`` ``[n,
    units, f]``, ties broken by ``tie`` ``[n, units]``."""
    return np.lexsort((tie, np.linalg.norm(feats, axis=-1)), axis=-1)


def _take(a: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    """``a [n, ...]`` gathered along ``axis`` by per-network indices ``idx [n, k]``."""
    shape = [1] * a.ndim
    shape[0], shape[axis] = idx.shape
    return np.take_along_axis(a, idx.reshape(shape), axis=axis)


def canonicalize_batch(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """:func:`canonicalize` for many networks at once: ``{name: [n, *shape]}`` in and out,
    the same result as canonicalising each network alone."""
    t = dict(t)
    n_gru = _gru_layers(t)
    for k in range(n_gru):
        h = t[f"gru.weight_hh_l{k}"].shape[-1]
        n = t[f"gru.weight_hh_l{k}"].shape[0]

        def own(name: str) -> np.ndarray:  # [n, h, 3, ...]: unit j's rows of the 3 gates
            a = t[f"gru.{name}_l{k}"]  # noqa: B023 - used at once
            return np.stack([a[:, g * h:(g + 1) * h] for g in range(3)], 2)  # noqa: B023

        parts = [own("weight_ih"), np.sort(own("weight_hh"), axis=-1), own("bias_hh"),
                 own("bias_ih")]
        feats = np.concatenate([p.reshape(n, h, -1) for p in parts], -1)
        perm = _key_batch(feats, feats[..., -1])
        rows = np.concatenate([perm + g * h for g in range(3)], 1)  # [n, 3h]
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            t[f"gru.{name}_l{k}"] = _take(t[f"gru.{name}_l{k}"], rows, 1)
        t[f"gru.weight_hh_l{k}"] = _take(t[f"gru.weight_hh_l{k}"], perm, 2)
        nxt = (f"gru.weight_ih_l{k + 1}" if k + 1 < n_gru else f"{_head(t, 'fc')[0]}.weight")
        t[nxt] = _take(t[nxt], perm, 2)
    for prefix in ("fc", "net"):
        names = _head(t, prefix)
        for j in range(len(names) - 1):
            w, b = t[f"{names[j]}.weight"], t[f"{names[j]}.bias"]
            perm = _key_batch(np.concatenate([w, b[..., None]], -1), b)
            t[f"{names[j]}.weight"] = _take(w, perm, 1)
            t[f"{names[j]}.bias"] = _take(b, perm, 1)
            t[f"{names[j + 1]}.weight"] = _take(t[f"{names[j + 1]}.weight"], perm, 2)
    return t
