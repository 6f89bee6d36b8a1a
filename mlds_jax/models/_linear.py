"""``linear(x, w, b) = x @ w.T + b`` (PyTorch ``nn.Linear``) with a hand-written backward pass.

The forward pass is the plain expression. The backward pass computes the weight gradient as
``dz.T @ x`` with ``dz.T`` laid out in memory first: XLA:CPU then runs one well-shaped
matrix product (measured on a 2-core CPU, a dense 784-32-10 step over a block of networks
runs 1.3-1.4x faster than with JAX's own transpose rule, which contracts over a
transposed operand). The gradients are the same sums, so they agree with autodiff up to
float32 rounding (``tests/models/test_linear.py``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


@jax.custom_vjp
def linear(x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
    """``x [batch, in]``, ``w [out, in]``, ``b [out]`` -> ``[batch, out]``."""
    return x @ w.T + b[None, :]


def _fwd(x, w, b):
    return linear(x, w, b), (x, w)


def _bwd(res, dz):
    x, w = res
    # Materialise dz.T ([out, batch]) so the weight gradient is a plain [out, batch] @ [batch,
    # in] product; without the barrier XLA folds the transpose back into the dot.
    dz_t = jax.lax.optimization_barrier(jnp.transpose(dz))
    return dz @ w, dz_t @ x, dz.sum(0)


linear.defvjp(_fwd, _bwd)
