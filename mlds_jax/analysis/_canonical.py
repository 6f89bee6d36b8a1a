"""Canonical weights: hidden units sign-fixed and reordered by a canonical key.

Two symmetries leave a network's function unchanged, so one function has many weight
vectors; the canonical form picks one of them, so every copy of a network maps to the same
vector:

- **Permutation.** Permuting the hidden units of a layer (and, with them, the columns of the
  next layer that read them).
- **Sign.** Negating a GRU hidden unit ``j``: its candidate-gate (``n``) rows — row ``2H + j``
  of ``weight_ih_lk``, ``weight_hh_lk``, ``bias_ih_lk`` and ``bias_hh_lk`` — and column
  ``j`` of ``weight_hh_lk`` (all three gates) and of whatever reads the layer (the next
  layer's ``weight_ih``, or the head's first linear weight). With ``h0 = 0`` and ``tanh``
  odd, the unit's state is exactly negated at every step and everything that reads it sees
  the same products. A dense hidden unit of an odd activation (``tanh``) has the same
  symmetry (row ``j`` and bias ``j``, column ``j`` of the next weight); a ReLU unit does not,
  so dense units are sign-fixed only when asked (``odd_head``).

Per layer, in order from the input: each unit's sign is chosen so that a sign-odd key of its
own incoming weights is positive (:func:`_sign_of`), then units are sorted by a sign- and
permutation-invariant key (the L2 norm of what the unit owns on the input side, ties broken
by its bias). The previous layer is canonical by then, so the incoming weights' columns are
in a fixed order with fixed signs.

GRU layer ``k`` (PyTorch layout, gates r, z, n stacked in rows): unit ``j`` owns rows
``j``, ``H + j`` and ``2H + j`` of ``weight_ih_lk``, ``weight_hh_lk``, ``bias_ih_lk``,
``bias_hh_lk``, column ``j`` of ``weight_hh_lk``, and column ``j`` of the next layer's input
weights (``weight_ih_l{k+1}``, or the head's first linear layer). Dense hidden layers: row
``j`` of ``W`` and entry ``j`` of ``b``, column ``j`` of the next ``W``.

Works on NumPy dicts of named tensors (one network, or ``[n, ...]`` for the batch form), as
rebuilt from a store's layout.
"""

from __future__ import annotations

import re

import numpy as np


def _sign_of(feats: np.ndarray) -> np.ndarray:
    """``[..., units]`` signs (+1 or -1, float64) that make each unit's sign-odd key
    positive. ``feats`` ``[..., units, f]``: values that all change sign when the unit is
    negated (its candidate-gate input weights and biases; a dense unit's row and bias).

    The key is their sum (in float64; an exact negation of the features negates it exactly);
    where the sum is exactly 0, the first non-zero feature; a unit whose features are all 0
    keeps its sign.
    """
    f = np.ascontiguousarray(feats, np.float64)
    total = f.sum(-1)
    first = np.take_along_axis(f, (f != 0).argmax(-1)[..., None], -1)[..., 0]
    key = np.where(total != 0, total, first)
    return np.where(key < 0, -1.0, 1.0)


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


def _gru_reader(t: dict[str, np.ndarray], layer: int) -> str:
    """The tensor whose columns read GRU layer ``layer``'s units."""
    return (f"gru.weight_ih_l{layer + 1}" if layer + 1 < _gru_layers(t)
            else f"{_head(t, 'fc')[0]}.weight")


def permute_gru_units(t: dict[str, np.ndarray], layer: int, perm: np.ndarray
                      ) -> dict[str, np.ndarray]:
    """Returns a copy with GRU layer ``layer``'s hidden units reordered by ``perm``."""
    t = {k: v.copy() for k, v in t.items()}
    h = t[f"gru.weight_hh_l{layer}"].shape[1]
    rows = np.concatenate([perm + g * h for g in range(3)])
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        t[f"gru.{name}_l{layer}"] = t[f"gru.{name}_l{layer}"][rows]
    t[f"gru.weight_hh_l{layer}"] = t[f"gru.weight_hh_l{layer}"][:, perm]
    nxt = _gru_reader(t, layer)
    t[nxt] = t[nxt][:, perm]
    return t


def flip_gru_units(t: dict[str, np.ndarray], layer: int, sign: np.ndarray
                   ) -> dict[str, np.ndarray]:
    """Returns a copy with GRU layer ``layer``'s units negated where ``sign`` ``[hidden]``
    is -1 (+1 keeps a unit): their candidate-gate rows of ``weight_ih``, ``weight_hh``,
    ``bias_ih`` and ``bias_hh``, their columns of ``weight_hh`` and of the reader. The same
    function (multiplying by -1 is exact)."""
    t = {k: v.copy() for k, v in t.items()}
    h = t[f"gru.weight_hh_l{layer}"].shape[1]
    s = np.asarray(sign)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        a = t[f"gru.{name}_l{layer}"]
        a[2 * h:] = a[2 * h:] * (s[:, None] if a.ndim == 2 else s).astype(a.dtype)
    w_hh = t[f"gru.weight_hh_l{layer}"]
    t[f"gru.weight_hh_l{layer}"] = w_hh * s[None, :].astype(w_hh.dtype)
    nxt = _gru_reader(t, layer)
    t[nxt] = t[nxt] * s[None, :].astype(t[nxt].dtype)
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


def flip_dense_units(t: dict[str, np.ndarray], prefix: str, layer: int, sign: np.ndarray
                     ) -> dict[str, np.ndarray]:
    """Negates hidden units of dense layer ``layer`` where ``sign`` is -1: row and bias,
    and the next layer's column. The same function only for an odd activation (tanh)."""
    t = {k: v.copy() for k, v in t.items()}
    names = _head(t, prefix)
    cur, nxt = names[layer], names[layer + 1]
    s = np.asarray(sign)
    t[f"{cur}.weight"] = t[f"{cur}.weight"] * s[:, None].astype(t[f"{cur}.weight"].dtype)
    t[f"{cur}.bias"] = t[f"{cur}.bias"] * s.astype(t[f"{cur}.bias"].dtype)
    t[f"{nxt}.weight"] = t[f"{nxt}.weight"] * s[None, :].astype(t[f"{nxt}.weight"].dtype)
    return t


def _gru_sign_feats(w_ih: np.ndarray, b_ih: np.ndarray, b_hh: np.ndarray, h: int
                    ) -> np.ndarray:
    """``[..., h, in + 2]``: each unit's candidate-gate input weights and its two
    candidate-gate biases (``w_ih [..., 3h, in]``, biases ``[..., 3h]``) — the sign-odd
    features of :func:`_sign_of`."""
    return np.concatenate([w_ih[..., 2 * h:, :], b_ih[..., 2 * h:, None],
                           b_hh[..., 2 * h:, None]], -1)


def canonicalize(t: dict[str, np.ndarray], odd_head: bool = False) -> dict[str, np.ndarray]:
    """The canonical form of one network's named tensors (GRU + ``fc`` head, or ``net``
    dense stack): GRU units sign-fixed and sorted, dense units sorted, and sign-fixed too
    when ``odd_head`` (the head's activation is odd, e.g. tanh)."""
    for k in range(_gru_layers(t)):
        h = t[f"gru.weight_hh_l{k}"].shape[1]
        t = flip_gru_units(t, k, _sign_of(_gru_sign_feats(
            t[f"gru.weight_ih_l{k}"], t[f"gru.bias_ih_l{k}"], t[f"gru.bias_hh_l{k}"], h)))
        own = [np.stack([t[f"gru.{n}_l{k}"][g * h:(g + 1) * h] for g in range(3)], 1)
               for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        # weight_hh's columns move with the permutation too, so the key uses only what is
        # invariant: the unit's own rows, with its incoming recurrent weights row-sorted.
        own[1] = np.sort(own[1], axis=-1)
        t = permute_gru_units(t, k, _key([own[0], own[1], own[3], own[2]]))
    for prefix in ("fc", "net"):
        names = _head(t, prefix)
        for j in range(len(names) - 1):
            if odd_head:
                w, b = t[f"{names[j]}.weight"], t[f"{names[j]}.bias"]
                t = flip_dense_units(t, prefix, j,
                                     _sign_of(np.concatenate([w, b[:, None]], -1)))
            w, b = t[f"{names[j]}.weight"], t[f"{names[j]}.bias"]
            t = permute_dense_units(t, prefix, j, _key([w, b[:, None]]))
    return t


def canonical_vector(t: dict[str, np.ndarray], order: list[str], odd_head: bool = False
                     ) -> np.ndarray:
    """Flattened canonical form, tensors in ``order`` (the store's layout order)."""
    c = canonicalize(t, odd_head)
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


def _scale(a: np.ndarray, s: np.ndarray, axis: int) -> np.ndarray:
    """``a [n, ...]`` times per-network signs ``s [n, k]`` along ``axis``."""
    shape = [1] * a.ndim
    shape[0], shape[axis] = s.shape
    return a * s.reshape(shape).astype(a.dtype)


def canonicalize_batch(t: dict[str, np.ndarray], odd_head: bool = False
                       ) -> dict[str, np.ndarray]:
    """:func:`canonicalize` for many networks at once: ``{name: [n, *shape]}`` in and out,
    the same result as canonicalising each network alone."""
    t = dict(t)
    n_gru = _gru_layers(t)
    for k in range(n_gru):
        h = t[f"gru.weight_hh_l{k}"].shape[-1]
        n = t[f"gru.weight_hh_l{k}"].shape[0]
        nxt = (f"gru.weight_ih_l{k + 1}" if k + 1 < n_gru else f"{_head(t, 'fc')[0]}.weight")
        s = _sign_of(_gru_sign_feats(t[f"gru.weight_ih_l{k}"], t[f"gru.bias_ih_l{k}"],
                                     t[f"gru.bias_hh_l{k}"], h))  # [n, h]
        rows = np.concatenate([np.ones_like(s), np.ones_like(s), s], 1)  # [n, 3h]
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            t[f"gru.{name}_l{k}"] = _scale(t[f"gru.{name}_l{k}"], rows, 1)
        t[f"gru.weight_hh_l{k}"] = _scale(t[f"gru.weight_hh_l{k}"], s, 2)
        t[nxt] = _scale(t[nxt], s, 2)

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
        t[nxt] = _take(t[nxt], perm, 2)
    for prefix in ("fc", "net"):
        names = _head(t, prefix)
        for j in range(len(names) - 1):
            cur, nxt = f"{names[j]}", f"{names[j + 1]}"
            if odd_head:
                w, b = t[f"{cur}.weight"], t[f"{cur}.bias"]
                s = _sign_of(np.concatenate([w, b[..., None]], -1))  # [n, units]
                t[f"{cur}.weight"] = _scale(w, s, 1)
                t[f"{cur}.bias"] = _scale(b, s, 1)
                t[f"{nxt}.weight"] = _scale(t[f"{nxt}.weight"], s, 2)
            w, b = t[f"{cur}.weight"], t[f"{cur}.bias"]
            perm = _key_batch(np.concatenate([w, b[..., None]], -1), b)
            t[f"{cur}.weight"] = _take(w, perm, 1)
            t[f"{cur}.bias"] = _take(b, perm, 1)
            t[f"{nxt}.weight"] = _take(t[f"{nxt}.weight"], perm, 2)
    return t
