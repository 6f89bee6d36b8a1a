"""The contract every GRU layer path keeps (XLA, the fused CPU kernel, Pallas interpreted):
forward and gradients equal autodiff's to float32 rounding, a network's floats do not depend
on the other networks of its call, and the trainer's pattern (vmap of grad through
``apply_gru_batch``) agrees with the XLA path. Path-specific checks stay in test_gru.py,
test_fused_gru.py and test_pallas_gru.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import gru_layer_inputs, kernel_or_skip

from mlds_jax.models import (
    apply_gru_batch,
    fused_fma_gru_layer,
    fused_gru_layer,
    gru_layer,
    gru_layout,
    pallas_gru_layer,
)
from mlds_jax.models._gru import _gru_forward
from mlds_jax.spec import GRUSpec

T, B = 6, 3  # time, batch
# 10 networks: a full tile of 8 and a padded one for the fused kernel, two full tiles of 4
# and a padded one for Pallas (tile=4 keeps the interpreter quick)
N = 10


def _pallas(w_ih, w_hh, b_ih, b_hh, xs):
    return pallas_gru_layer(w_ih, w_hh, b_ih, b_hh, xs, interpret=True, tile=4)


LAYERS = {"xla": gru_layer, "fused": fused_gru_layer, "fused_fma": fused_fma_gru_layer,
          "pallas": _pallas}


@pytest.fixture(params=list(LAYERS))
def kernel(request) -> str:
    if request.param.startswith("fused"):
        kernel_or_skip(request.param)  # fails where a compiler exists and it does not build
    return request.param


@pytest.fixture(params=["xla", "fused", "fused_fma", "pallas"])
def path(request) -> str:
    """The paths ``apply_gru_batch`` takes."""
    if request.param.startswith("fused"):
        kernel_or_skip(request.param)
    return request.param


def _layers(n: int, inp: int, hidden: int, seed: int = 0):
    """:func:`helpers.gru_layer_inputs` at this file's time and batch."""
    return gru_layer_inputs(n, inp, hidden, T, B, seed)


def _autodiff_layer(w_ih, w_hh, b_ih, b_hh, xs):
    return _gru_forward(w_ih, w_hh, b_ih, b_hh, xs)[0]  # plain lax.scan, no custom_vjp


@jax.jit(static_argnums=0)
def _value_and_grads(layer, args, d_hs):
    """``vmap(layer)(*args)`` and the gradients of ``sum(out * d_hs)`` (one compile)."""
    out, vjp = jax.vjp(jax.vmap(layer), *args)
    return out, vjp(d_hs)


# (12, 5) and (12, 12) are DS1's shapes (compiled into the fused kernel); (7, 3) runs its
# generic code and pads Pallas' tiles
@pytest.mark.parametrize("hidden,inp", [(12, 5), (12, 12), (7, 3)])
def test_forward_and_gradients_match_autodiff(kernel, hidden, inp):
    args, d_hs = _layers(N, inp, hidden)
    ref, want = _value_and_grads(_autodiff_layer, args, d_hs)
    out, got = _value_and_grads(LAYERS[kernel], args, d_hs)
    # Each gate from the same <= 25 products summed in another order, tanh / sigmoid by
    # other float32 formulas (a few ulp); h stays in [-1, 1] and a step shrinks earlier
    # errors (|dh'/dh| <= 1 here): a few ulp of 1 per step, 2e-6 over 6 steps (measured:
    # fused 1.8e-7 over 16, Pallas 1.2e-7 over 8).
    np.testing.assert_allclose(out, ref, rtol=0, atol=2e-6)
    for g, w in zip(got, want):
        # sums over batch x time of products of O(1) terms: relative rounding of ~1e-6 of
        # the largest entry
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5 * float(jnp.abs(w).max()))


def test_a_network_does_not_depend_on_the_other_networks_of_its_call(kernel):
    # Network 9 in the last (padded) tile, then rolled by one to lane 0 of the first tile,
    # beside other networks: bit for bit the same (the same program; no path mixes networks).
    args, d_hs = _layers(N, 5, 12, seed=3)
    h_a, g_a = _value_and_grads(LAYERS[kernel], args, d_hs)
    rolled = tuple(jnp.asarray(np.roll(np.asarray(a), 1, 0)) for a in args)
    h_b, g_b = _value_and_grads(LAYERS[kernel], rolled,
                                jnp.asarray(np.roll(np.asarray(d_hs), 1, 0)))
    np.testing.assert_array_equal(h_a[N - 1], h_b[0])
    for a, b in zip(g_a, g_b):
        np.testing.assert_array_equal(a[N - 1], b[0])


@jax.jit(static_argnums=(0, 1))
def _loss_and_grad(kernel, spec, flat, x):
    def loss(p, xb):
        return jnp.mean(apply_gru_batch(p, xb, spec, kernel=kernel) ** 2)

    return jax.vmap(jax.value_and_grad(loss))(flat, x)


def test_apply_gru_batch_agrees_with_xla_under_vmap_of_grad(path):
    # the trainer's pattern: vmap over networks of a per-network loss and its gradient
    spec = GRUSpec(5, 12, 2, (8,), 1)
    rng = np.random.default_rng(1)
    flat = jnp.asarray(rng.uniform(-0.3, 0.3, (3, gru_layout(spec).n_params)), jnp.float32)
    x = jnp.asarray(rng.integers(0, 2, (3, B, T, 5)), jnp.float32)
    (l_k, g_k), (l_x, g_x) = (_loss_and_grad(path, spec, flat, x),
                              _loss_and_grad("xla", spec, flat, x))
    # two layers and a head: the per-gate rounding of the first test, carried through; the
    # gradient is a sum over batch x time of O(1) products
    np.testing.assert_allclose(l_k, l_x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g_k, g_x, rtol=1e-4, atol=1e-5 * float(jnp.abs(g_x).max()))
