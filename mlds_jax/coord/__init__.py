"""Coordination: plan blocks, run the pending ones, hand results to a sink."""

from mlds_jax.coord._backend import Backend, LocalBackend, RayBackend, RefillBackend
from mlds_jax.coord._blocksize import auto_block_size, block_size_for_memory, xla_block_memory
from mlds_jax.coord._devices import set_cpu_devices, usable_cores
from mlds_jax.coord._plan import block_indices, make_plan, n_blocks
from mlds_jax.coord._ray import run_blocks_ray
from mlds_jax.coord._refill import run_blocks_refill
from mlds_jax.coord._run import MemorySink, Sink, my_blocks, pending_blocks, run_blocks

__all__ = [
    "Backend",
    "LocalBackend",
    "MemorySink",
    "RayBackend",
    "RefillBackend",
    "Sink",
    "auto_block_size",
    "block_indices",
    "block_size_for_memory",
    "make_plan",
    "my_blocks",
    "n_blocks",
    "pending_blocks",
    "run_blocks",
    "run_blocks_ray",
    "run_blocks_refill",
    "set_cpu_devices",
    "usable_cores",
    "xla_block_memory",
]
