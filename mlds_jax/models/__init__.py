"""Models: one network, one example. The model axis is added by the trainer (vmap)."""

from mlds_jax.models._gru import apply_gru, gru_layout, init_gru
from mlds_jax.models._layout import Layout, LayoutEntry

__all__ = ["Layout", "LayoutEntry", "apply_gru", "gru_layout", "init_gru"]
