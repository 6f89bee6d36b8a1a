"""Flax modules for stored networks (``Store.to_flax``): the same functions as
``Store.network``, as ``flax.linen`` modules whose variables are the stored tensors, for
analysts who continue in flax (fine-tuning with optax, probing, composing networks).

Parameter names are the layout's PyTorch names (``gru.weight_ih_l0``, ``net.0.weight``...),
shapes as stored: ``module.apply(variables, x)`` equals ``store.network(i)(x)``.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from mlds_jax.models import apply_gru_batch, apply_mlp, gru_layout, mlp_layout
from mlds_jax.spec import IMAGE, SEQUENCE, GRUSpec, task_of


class StoredGRUNet(nn.Module):
    """The GRU network of a sequence store: ``x [batch, time, features]`` -> logits
    ``[batch, time, outputs]``."""

    model: GRUSpec

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        p = {e.name: self.param(e.name, nn.initializers.zeros_init(), e.shape, jnp.float32)
             for e in gru_layout(self.model).entries}
        return apply_gru_batch(p, x, self.model)


class StoredDenseNet(nn.Module):
    """The dense network of an image store: ``x [batch, 784]`` (pixels / 255) -> logits
    ``[batch, 10]``."""

    widths: tuple[int, ...]

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        layout = mlp_layout(self.widths)
        parts = [self.param(e.name, nn.initializers.zeros_init(), e.shape, jnp.float32)
                 for e in layout.entries]
        return apply_mlp(jnp.concatenate([q.reshape(-1) for q in parts]), x, self.widths)


# Each task's Flax module of one network.
FLAX_MODULES = {SEQUENCE: lambda spec: StoredGRUNet(spec.model),
                IMAGE: lambda spec: StoredDenseNet(tuple(spec.widths))}


def build_flax(task, spec, tensors: dict[str, np.ndarray]) -> tuple[nn.Module, dict]:
    """``(module, variables)`` for ``spec`` (of ``task``: a Task or its name) with
    ``tensors`` as its parameters."""
    module = FLAX_MODULES[task_of(task)](spec)
    return module, {"params": {k: jnp.asarray(v, jnp.float32) for k, v in tensors.items()}}
