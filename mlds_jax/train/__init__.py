"""Training: one pure run per network (a task's :class:`TaskParts`), trained in blocks of
fixed-width chunks by :class:`ChunkRunner` (so a network's floats never depend on its block).
"""

from mlds_jax.train._bulk import (
    TrainParts,
    TrainResult,
    bit_accuracy,
    curriculum_stage,
    fresh_data_classes,
    is_active,
    make_sequence_parts,
    make_train,
    make_train_parts,
    sequence_loss,
    training_address_cells,
)
from mlds_jax.train._image_train import ImageTrainResult, make_image_parts, poison_mask
from mlds_jax.train._keys import (
    INIT,
    RESTART,
    SHUFFLE,
    TRAIN_DATA,
    VAL_DATA,
    NetworkInputs,
    init_key,
    network_index_parts,
    network_inputs,
    network_keys,
)
from mlds_jax.train._runner import (
    ACCEL_WIDTH,
    CPU_WIDTH,
    ChunkRunner,
    TaskParts,
    concat_rows,
    default_width,
    pad_rows,
)
from mlds_jax.train._step import epoch_guard, unguarded_update
from mlds_jax.train._task import (
    TASKS,
    BlockTrainer,
    make_block_trainer,
    make_runner,
    task_parts,
)

__all__ = [
    "INIT",
    "RESTART",
    "SHUFFLE",
    "TRAIN_DATA",
    "VAL_DATA",
    "ACCEL_WIDTH",
    "CPU_WIDTH",
    "TASKS",
    "BlockTrainer",
    "ChunkRunner",
    "ImageTrainResult",
    "NetworkInputs",
    "TaskParts",
    "TrainParts",
    "TrainResult",
    "bit_accuracy",
    "curriculum_stage",
    "concat_rows",
    "default_width",
    "epoch_guard",
    "fresh_data_classes",
    "init_key",
    "is_active",
    "make_block_trainer",
    "make_image_parts",
    "make_runner",
    "make_sequence_parts",
    "make_train",
    "make_train_parts",
    "network_index_parts",
    "network_inputs",
    "network_keys",
    "pad_rows",
    "poison_mask",
    "sequence_loss",
    "task_parts",
    "training_address_cells",
    "unguarded_update",
]
