"""Analysis of stores: reads stores only, never imports the trainer or JAX training code.

Needs scikit-learn and matplotlib for the questions and plots (``mlds-jax[analysis]``).
"""

from mlds_jax.analysis._canonical import canonical_vector, canonicalize
from mlds_jax.analysis._controls import dead_pixels, non_weight_fields, trigger_pixels
from mlds_jax.analysis._dataset import NetworkDataset, random_permutation
from mlds_jax.analysis._export import export_parquet, network_table
from mlds_jax.analysis._features import (
    canonical_weights,
    carry_forward,
    flat_weights,
    layer_stats,
    loss_curve_summary,
    loss_features,
    read_rows,
    select,
    to_xarray,
)
from mlds_jax.analysis._html import band, html_report, learnt_shares
from mlds_jax.analysis._hub import export_hf, export_tables
from mlds_jax.analysis._questions import auroc, classify, regress
from mlds_jax.analysis._report import AnalysisError, analyze
from mlds_jax.analysis._separate import learnt_share, separate_pairs
from mlds_jax.analysis._stats import bootstrap_ci, fit_score, own_split

__all__ = [
    "AnalysisError",
    "NetworkDataset",
    "analyze",
    "auroc",
    "band",
    "bootstrap_ci",
    "canonical_vector",
    "canonical_weights",
    "canonicalize",
    "carry_forward",
    "classify",
    "dead_pixels",
    "export_hf",
    "export_parquet",
    "export_tables",
    "fit_score",
    "flat_weights",
    "html_report",
    "layer_stats",
    "learnt_share",
    "learnt_shares",
    "loss_curve_summary",
    "loss_features",
    "network_table",
    "non_weight_fields",
    "own_split",
    "random_permutation",
    "regress",
    "read_rows",
    "select",
    "separate_pairs",
    "to_xarray",
    "trigger_pixels",
]
