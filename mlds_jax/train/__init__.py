"""Training: one pure ``train(inputs)`` per network, vmapped into blocks."""

from mlds_jax.train._bulk import (
    TrainResult,
    bit_accuracy,
    make_block_trainer,
    make_train,
    sequence_loss,
)
from mlds_jax.train._keys import NetworkInputs, network_index_parts, network_inputs, network_keys

__all__ = [
    "NetworkInputs",
    "TrainResult",
    "bit_accuracy",
    "make_block_trainer",
    "make_train",
    "network_index_parts",
    "network_inputs",
    "network_keys",
    "sequence_loss",
]
