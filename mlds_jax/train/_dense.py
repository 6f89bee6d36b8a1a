"""Bulk SGD for dense networks on one shared image set, each network with its own data order.

The image set lives once on the device as uint8 ``[n_images, features]``; each network's
mini-batches are gathered by index (``[n_models, steps, batch]`` int32), so a block never
copies the images per network.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from mlds_jax.models import apply_mlp
from mlds_jax.train._chunk import chunked_vmap, resolve_chunk


def dense_loss(params: jax.Array, x: jax.Array, y: jax.Array, widths: tuple[int, ...]):
    """Mean softmax cross-entropy of one network: x ``[batch, in]`` float, y ``[batch]`` int."""
    logits = apply_mlp(params, x, widths)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def make_dense_block_steps(widths: tuple[int, ...], chunk: int | None | str = "auto"):
    """Returns ``(run, optimiser)``; ``run(params, opt_state, lr, images, labels, batches)``
    returns ``(params, opt_state, losses)``.

    Shapes: params ``[n_models, n_params]``, lr ``[n_models]``, images uint8 ``[n, in]``
    (shared), labels int32 ``[n]`` (shared), batches int32 ``[n_models, steps, batch]``;
    losses ``[n_models, steps]``. ``params`` and ``opt_state`` are donated. ``chunk``:
    networks evaluated together (:func:`~mlds_jax.train._chunk.chunked_vmap`); ``"auto"``
    is :func:`~mlds_jax.train._chunk.default_chunk`.
    """
    return _make(widths, resolve_chunk(chunk))


@functools.lru_cache(maxsize=8)
def _make(widths: tuple[int, ...], chunk: int | None):
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)
    grad = jax.value_and_grad(dense_loss)

    def one(params, opt_state, lr, images, labels, batches):
        opt_state.hyperparams["learning_rate"] = lr

        def step(c, idx):
            p, s = c
            x = images[idx].astype(jnp.float32) * (1.0 / 255.0)
            loss, g = grad(p, x, labels[idx], widths)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), batches)
        return params, opt_state, losses

    run = chunked_vmap(one, in_axes=(0, 0, 0, None, None, 0), chunk=chunk)
    return jax.jit(run, donate_argnums=(0, 1)), opt
