"""The DS4-style dense network for one example: Linear layers with ReLU between them.

Names follow ``torch.nn.Sequential(Linear, ReLU, Linear, ...)``: ``net.0.weight`` ``[out, in]``,
``net.0.bias``, ``net.2.weight``... so a stored network loads into PyTorch unchanged.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mlds_jax.models._layout import Layout
from mlds_jax.models._linear import linear


def mlp_layout(widths: tuple[int, ...]) -> Layout:
    """Layout for layer widths ``(in, hidden..., out)``, e.g. ``(784, 32, 10)``."""
    shapes: list[tuple[str, tuple[int, ...]]] = []
    for j, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        shapes += [(f"net.{2 * j}.weight", (b, a)), (f"net.{2 * j}.bias", (b,))]
    return Layout.from_shapes(shapes)


def init_mlp(key: jax.Array, widths: tuple[int, ...]) -> jax.Array:
    """PyTorch's default Linear init (U(±1/sqrt(fan_in)) for weight and bias): ``[n_params]``."""
    layout = mlp_layout(widths)
    keys = jax.random.split(key, len(layout.entries))
    parts = []
    for k, e in zip(keys, layout.entries):
        j = int(e.name.split(".")[1]) // 2
        bound = widths[j] ** -0.5
        parts.append(jax.random.uniform(k, (e.size,), jnp.float32, -bound, bound))
    return jnp.concatenate(parts)


def apply_mlp(flat: jax.Array, x: jax.Array, widths: tuple[int, ...]) -> jax.Array:
    """Forward pass of one network: ``x [batch, in]`` -> logits ``[batch, out]``."""
    p = mlp_layout(widths).unflatten(flat)
    h = x
    n = len(widths) - 1
    for j in range(n):
        h = linear(h, p[f"net.{2 * j}.weight"], p[f"net.{2 * j}.bias"])
        if j < n - 1:
            h = jax.nn.relu(h)
    return h
