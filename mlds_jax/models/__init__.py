"""Models: one network, one example. The model axis is added by the trainer (vmap)."""

from mlds_jax.models._gru import apply_gru, apply_gru_batch, gru_layer, gru_layout, init_gru
from mlds_jax.models._layout import Layout, LayoutEntry
from mlds_jax.models._mlp import apply_mlp, init_mlp, mlp_layout

__all__ = [
    "Layout",
    "LayoutEntry",
    "apply_gru",
    "apply_gru_batch",
    "apply_mlp",
    "gru_layer",
    "gru_layout",
    "init_gru",
    "init_mlp",
    "mlp_layout",
]
