"""Coordination: plan blocks, run the pending ones, hand results to a sink."""

from mlds_jax.coord._mesh import block_shardings, models_mesh
from mlds_jax.coord._plan import block_indices, make_plan, n_blocks
from mlds_jax.coord._run import Sink, my_blocks, run_blocks

__all__ = [
    "Sink",
    "block_indices",
    "block_shardings",
    "make_plan",
    "models_mesh",
    "my_blocks",
    "n_blocks",
    "run_blocks",
]
