"""The canonical form's two symmetries: permuting hidden units and negating them.

A GRU hidden unit ``j`` is negated by negating its candidate-gate (n) rows of ``weight_ih``,
``weight_hh``, ``bias_ih`` and ``bias_hh``, its column of ``weight_hh`` and the column of
whatever reads the layer. The outputs are then equal bit for bit, not just close: every
product that meets the negated unit is either exactly negated (``x * -w == -(x * w)``: IEEE
rounding is symmetric) or unchanged (``-w * -h == w * h``), each sum adds exactly negated
terms in the same order, the r and z gates see unchanged inputs, and ``tanh`` is computed
odd (``tanh(-a) == -tanh(a)``, which the equality checks too). A dense tanh unit likewise.
"""

import numpy as np
import pytest
from helpers import tiny_ds1
from reference_numpy import torch_style_forward

from mlds_jax.analysis import canonical_vector, canonicalize
from mlds_jax.analysis._canonical import (
    canonicalize_batch,
    flip_dense_units,
    flip_gru_units,
    permute_dense_units,
    permute_gru_units,
)
from mlds_jax.analysis._features import odd_head
from mlds_jax.models import gru_layout, mlp_layout

HEAD = (27, 14, 8)  # tiny_ds1's head widths; 4 GRU layers of 12


def _network(seed, dtype=np.float64):
    layout = gru_layout(tiny_ds1().model)
    flat = np.random.default_rng(seed).normal(0, 0.5, layout.n_params).astype(dtype)
    return layout, layout.unflatten(flat)


def _signs(rng, n):
    return rng.choice([-1.0, 1.0], n)


def _scramble(t, rng, head_signs: bool):
    """A copy of ``t`` with every GRU layer's units (and the head's) randomly negated and
    reordered: the same function."""
    for k in range(4):
        t = flip_gru_units(t, k, _signs(rng, 12))
        t = permute_gru_units(t, k, rng.permutation(12))
    for j, width in enumerate(HEAD):
        if head_signs:
            t = flip_dense_units(t, "fc", j, _signs(rng, width))
        t = permute_dense_units(t, "fc", j, rng.permutation(width))
    return t


def _flat(t, order):
    return np.concatenate([t[n].ravel() for n in order])


def test_negated_units_compute_the_same_outputs_bit_for_bit():
    layout, t = _network(0)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, (3, 16, 5)).astype(np.float64)
    p = t
    for k in range(4):
        p = flip_gru_units(p, k, _signs(rng, 12))
    assert not np.array_equal(p["gru.weight_hh_l0"], t["gru.weight_hh_l0"])
    want = torch_style_forward(t, x, 4)
    np.testing.assert_array_equal(torch_style_forward(p, x, 4), want)  # float64 oracle
    q = p
    for j, width in enumerate(HEAD):  # the tanh head's units too
        q = flip_dense_units(q, "fc", j, _signs(rng, width))
    np.testing.assert_array_equal(torch_style_forward(q, x, 4), want)

    # the trainer's own forward pass (plain-JAX kernel), float32 as stored
    import jax.numpy as jnp

    from mlds_jax.models import apply_gru_batch

    spec, order = tiny_ds1().model, [e.name for e in layout.entries]

    def run(net):
        flat = jnp.asarray(_flat(net, order).astype(np.float32))
        return np.asarray(apply_gru_batch(flat, jnp.asarray(x, jnp.float32), spec, "xla"))

    np.testing.assert_array_equal(run(q), run(t))


@pytest.mark.parametrize("head_signs", [False, True], ids=["gru-signs", "gru-and-head-signs"])
def test_every_permuted_and_negated_copy_maps_to_one_canonical_vector(head_signs):
    layout, t = _network(2)
    order = [e.name for e in layout.entries]
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, (3, 6, 5)).astype(np.float64)
    want = canonical_vector(t, order, odd_head=head_signs)
    for _ in range(5):
        p = _scramble(t, rng, head_signs)
        assert not np.array_equal(_flat(p, order), _flat(t, order))
        np.testing.assert_array_equal(canonical_vector(p, order, odd_head=head_signs), want)
    # the canonical network computes the same function (reordered sums: equal to rounding)
    np.testing.assert_allclose(torch_style_forward(canonicalize(t, odd_head=head_signs), x, 4),
                               torch_style_forward(t, x, 4), rtol=1e-10, atol=1e-12)
    # every GRU unit's sign key (the candidate-gate input weights and biases) is positive
    c = canonicalize(t, odd_head=head_signs)
    for k in range(4):
        key = (c[f"gru.weight_ih_l{k}"][24:].sum(1) + c[f"gru.bias_ih_l{k}"][24:]
               + c[f"gru.bias_hh_l{k}"][24:])
        assert np.all(key > 0)


def test_without_head_signs_a_negated_head_unit_is_a_different_vector():
    """The head is sign-fixed only when its activation is odd (``odd_head``): a ReLU unit
    has no such symmetry, so the default leaves dense units' signs as they are."""
    layout, t = _network(4)
    order = [e.name for e in layout.entries]
    p = flip_dense_units(t, "fc", 0, np.r_[-1.0, np.ones(26)])
    assert not np.array_equal(canonical_vector(p, order), canonical_vector(t, order))
    np.testing.assert_array_equal(canonical_vector(p, order, odd_head=True),
                                  canonical_vector(t, order, odd_head=True))


def test_an_inverted_twin_differs_only_in_the_output_layers_sign():
    """SingleDirect vs SingleInvert in miniature: a network and its twin with the output
    negated (logit -> -logit), each copy with its own random unit signs and order. Their
    raw weights share no sign pattern; their canonical forms are equal up to the output
    layer, which is exactly negated."""
    layout, t = _network(5)
    inv = dict(t, **{"fc.6.weight": -t["fc.6.weight"], "fc.6.bias": -t["fc.6.bias"]})
    rng = np.random.default_rng(6)
    a = canonicalize(_scramble(t, rng, True), odd_head=True)
    b = canonicalize(_scramble(inv, rng, True), odd_head=True)
    for name in a:
        want = -a[name] if name.startswith("fc.6.") else a[name]
        np.testing.assert_array_equal(b[name], want, err_msg=name)


def test_a_zero_sign_key_falls_back_to_the_first_non_zero_weight():
    layout, t = _network(7)
    order = [e.name for e in layout.entries]
    t["gru.weight_ih_l1"][24] = [0.0, 0.5, -0.25, 0.0, -0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    t["gru.bias_ih_l1"][24] = t["gru.bias_hh_l1"][24] = 0.0  # unit 0 of layer 1: sum 0
    want = canonical_vector(t, order, odd_head=True)
    rng = np.random.default_rng(8)
    for _ in range(3):
        p = flip_gru_units(t, 1, np.r_[-1.0, _signs(rng, 11)])
        np.testing.assert_array_equal(canonical_vector(p, order, odd_head=True), want)


@pytest.mark.parametrize("layout", [gru_layout(tiny_ds1().model), mlp_layout((784, 16, 8, 10))],
                         ids=["gru", "dense"])
def test_batched_sign_canonical_form_equals_one_network_at_a_time(layout):
    """(Without head signs: tests/analysis/test_scale.py.)"""
    odd = True
    order = [e.name for e in layout.entries]
    flat = np.random.default_rng(9).normal(0, 0.5, (7, layout.n_params)).astype(np.float32)
    c = canonicalize_batch(layout.unflatten(flat), odd_head=odd)
    got = np.concatenate([c[n].reshape(7, -1) for n in order], 1)
    want = np.stack([canonical_vector(layout.unflatten(row), order, odd_head=odd)
                     for row in flat])
    np.testing.assert_array_equal(got, want)


class _View:  # what odd_head reads of a store
    def __init__(self, spec):
        self.attrs = {"spec": spec}


def test_head_signs_follow_the_stored_specs_head_activation():
    model = tiny_ds1().to_dict()["model"]
    assert odd_head(_View({"model": model}))  # tanh, the default
    assert not odd_head(_View({"model": {**model, "head_activation": "relu"}}))
    assert not odd_head(_View({"name": "MNISTclean"}))  # a DS4 MLP (ReLU): no model entry
