"""Analysis of stores (reads stores only; never imports the trainer)."""

from mlds_jax.analysis._separate import learnt_share, separate_pairs

__all__ = ["learnt_share", "separate_pairs"]
