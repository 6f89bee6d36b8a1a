"""Coordination: plan blocks, run the pending ones, hand results to a sink."""

from mlds_jax.coord._blocksize import auto_block_size, block_size_for_memory
from mlds_jax.coord._mesh import block_shardings, models_mesh
from mlds_jax.coord._plan import block_indices, make_plan, n_blocks
from mlds_jax.coord._run import Sink, my_blocks, run_blocks

__all__ = [
    "Sink",
    "auto_block_size",
    "block_indices",
    "block_shardings",
    "block_size_for_memory",
    "make_plan",
    "models_mesh",
    "my_blocks",
    "n_blocks",
    "run_blocks",
]
