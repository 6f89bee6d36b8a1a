"""The GRU layer's backward math, shared by the XLA layer (:func:`~mlds_jax.models.gru_layer`)
and the Pallas kernels (:func:`~mlds_jax.models.pallas_gru_layer`): one step's gate gradients
and, after the reverse time loop, the weight, bias and input gradients as one product each
over all time steps. Elementwise ``jnp`` code only, so it traces inside a Pallas kernel too.

Gates follow PyTorch: ``r = σ(a_r)``, ``z = σ(a_z)``, ``n = tanh(a_n)`` with
``a_n = W_in x + b_in + r * (W_hn h + b_hn)``, and ``h' = (1 - z) * n + z * h``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def step_gate_grads(dh: jax.Array, h_prev: jax.Array, r: jax.Array, z: jax.Array,
                    n: jax.Array, gh_n: jax.Array) -> tuple[jax.Array, ...]:
    """One step's pre-activation gradients from ``dh`` (the gradient of ``h'``), the
    previous state ``h_prev`` and the step's gates (``gh_n = W_hn h + b_hn``), all of one
    shape (``[batch, hidden]``, or ``[hidden_p, tile]`` in the Pallas kernel).

    Returns:
      ``d a_r, d a_z, d a_n, d(W_hn h + b_hn)``, each of ``dh``'s shape.
    """
    da_n = dh * (1.0 - z) * (1.0 - n * n)  # through n = tanh(a_n)
    da_z = dh * (h_prev - n) * z * (1.0 - z)
    da_r = da_n * gh_n * r * (1.0 - r)
    dgh_n = da_n * r
    return da_r, da_z, da_n, dgh_n


def previous_states(hs: jax.Array) -> jax.Array:
    """``hs [time, batch, hidden]`` -> each step's incoming state ``[time, batch, hidden]``
    (zeros, then ``hs[:-1]``)."""
    return jnp.concatenate([jnp.zeros_like(hs[:1]), hs[:-1]], 0)


def layer_grads(w_ih: jax.Array, xs: jax.Array, h_prev: jax.Array, da_r: jax.Array,
                da_z: jax.Array, da_n: jax.Array, dgh_n: jax.Array) -> tuple[jax.Array, ...]:
    """The layer's gradients from every step's gate gradients (each ``[time, batch,
    hidden]``), the inputs ``xs [time, batch, in]`` and ``h_prev`` (:func:`previous_states`).

    Returns:
      gradients of ``w_ih [3*hidden, in]``, ``w_hh [3*hidden, hidden]``, ``b_ih``, ``b_hh``
      (``[3*hidden]``) and ``xs [time, batch, in]``.
    """
    d_gi = jnp.concatenate([da_r, da_z, da_n], -1)  # [time, batch, 3*hidden]
    d_gh = jnp.concatenate([da_r, da_z, dgh_n], -1)
    return (jnp.einsum("tbg,tbi->gi", d_gi, xs), jnp.einsum("tbg,tbh->gh", d_gh, h_prev),
            d_gi.sum((0, 1)), d_gh.sum((0, 1)), jnp.einsum("tbg,gi->tbi", d_gi, w_ih))
