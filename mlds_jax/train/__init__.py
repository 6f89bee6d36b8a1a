"""Training: one pure ``train(inputs)`` per network, vmapped into blocks."""

from mlds_jax.train._bulk import (
    TrainParts,
    TrainResult,
    bit_accuracy,
    is_active,
    make_block_parts,
    make_block_trainer,
    make_train,
    make_train_parts,
    sequence_loss,
)
from mlds_jax.train._keys import NetworkInputs, network_index_parts, network_inputs, network_keys

__all__ = [
    "NetworkInputs",
    "TrainParts",
    "TrainResult",
    "bit_accuracy",
    "is_active",
    "make_block_parts",
    "make_block_trainer",
    "make_train_parts",
    "make_train",
    "network_index_parts",
    "network_inputs",
    "network_keys",
    "sequence_loss",
]
