"""Models: one network, one example. The model axis is added by the trainer (vmap)."""

from mlds_jax.models._fused_gru import (
    FUSED_KERNELS,
    GRU_KERNEL_MAX_DIM,
    KERNELS,
    fused_fma_gru_layer,
    fused_gru_layer,
    resolve_gru_kernel,
)
from mlds_jax.models._fused_gru_build import load_fused_gru
from mlds_jax.models._gru import (
    apply_gru,
    apply_gru_batch,
    gru_kernel_for,
    gru_layer,
    gru_layout,
    init_gru,
)
from mlds_jax.models._layout import Layout, LayoutEntry
from mlds_jax.models._mlp import apply_mlp, init_mlp, mlp_layout
from mlds_jax.models._pallas_gru import pallas_gru_layer

__all__ = [
    "FUSED_KERNELS",
    "GRU_KERNEL_MAX_DIM",
    "KERNELS",
    "Layout",
    "LayoutEntry",
    "apply_gru",
    "apply_gru_batch",
    "apply_mlp",
    "fused_fma_gru_layer",
    "fused_gru_layer",
    "gru_kernel_for",
    "gru_layer",
    "gru_layout",
    "init_gru",
    "init_mlp",
    "load_fused_gru",
    "mlp_layout",
    "pallas_gru_layer",
    "resolve_gru_kernel",
]
