"""Specs: frozen, validated descriptions of datasets and training recipes."""

from mlds_jax.spec._catalogue import CATALOGUE, CatalogueEntry
from mlds_jax.spec._dataset import (
    SPEC_VERSION,
    AutomataSpec,
    DatasetSpec,
    GRUSpec,
    TrainSpec,
    stored_attempts,
    stored_epoch_cap,
)
from mlds_jax.spec._defaults import DEFAULT_BLOCK_SIZE
from mlds_jax.spec._file import load_spec_file, spec_from_dict
from mlds_jax.spec._grid import (
    grid_labels,
    grid_text,
    network_grid_index,
    network_learning_rates,
    network_poison_fractions,
    spec_grids,
    stored_grids,
)
from mlds_jax.spec._image import DenseTrainSpec, ImageDatasetSpec, PoisonSpec
from mlds_jax.spec._learnt import (
    DEFAULT_LEARNT_BIT_ACCURACY,
    DEFAULT_LEARNT_CLEAN_ACCURACY,
    learnt_flag,
)
from mlds_jax.spec._overrides import SPEC_OVERRIDES, Override
from mlds_jax.spec._recipes import (
    DS1_CLASSES,
    DS2_CLASSES,
    DS4_DATASETS,
    DS4_WIDTHS,
    PLANNED_SIZES,
    RECIPES,
    ds1,
    ds2,
    ds3,
    ds4,
    get_recipe,
)
from mlds_jax.spec._record import (
    RECORDING_FIELDS,
    default_snapshot_epochs,
    probe_count,
    snapshot_schedule,
    without_recording,
)
from mlds_jax.spec._seeds import (
    SEED_ARRAYS,
    SEED_FIELDS,
    network_seeds,
    parse_seeds,
    with_seeds,
)
from mlds_jax.spec._select import select_spec, with_overrides
from mlds_jax.spec._splits import (
    SPLIT_CODES,
    SPLIT_DESCRIPTIONS,
    network_split,
    network_splits,
    split_names,
)
from mlds_jax.spec._task import DEFAULT_TASK, IMAGE, SEQUENCE, TASKS, Task, task_of

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_LEARNT_BIT_ACCURACY",
    "DEFAULT_LEARNT_CLEAN_ACCURACY",
    "CATALOGUE",
    "DS1_CLASSES",
    "DS2_CLASSES",
    "DS4_DATASETS",
    "DS4_WIDTHS",
    "PLANNED_SIZES",
    "RECORDING_FIELDS",
    "RECIPES",
    "SEED_ARRAYS",
    "SEED_FIELDS",
    "SPEC_OVERRIDES",
    "SPLIT_CODES",
    "SPLIT_DESCRIPTIONS",
    "SPEC_VERSION",
    "AutomataSpec",
    "CatalogueEntry",
    "DEFAULT_TASK",
    "IMAGE",
    "SEQUENCE",
    "TASKS",
    "Task",
    "DatasetSpec",
    "GRUSpec",
    "Override",
    "TrainSpec",
    "ds1",
    "ds2",
    "ds3",
    "ds4",
    "default_snapshot_epochs",
    "DenseTrainSpec",
    "ImageDatasetSpec",
    "PoisonSpec",
    "get_recipe",
    "grid_labels",
    "grid_text",
    "network_grid_index",
    "network_learning_rates",
    "network_poison_fractions",
    "network_seeds",
    "parse_seeds",
    "with_seeds",
    "network_split",
    "network_splits",
    "probe_count",
    "snapshot_schedule",
    "spec_grids",
    "stored_attempts",
    "stored_epoch_cap",
    "stored_grids",
    "task_of",
    "learnt_flag",
    "load_spec_file",
    "select_spec",
    "spec_from_dict",
    "split_names",
    "with_overrides",
    "without_recording",
]
