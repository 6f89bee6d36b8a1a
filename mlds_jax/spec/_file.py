"""User-defined datasets from a TOML spec file.

Example (``my-zoo.toml``)::

    name = "direct-vs-invert"
    classes = ["SingleDirectMachine", "SingleInvertMachine"]
    per_class = 50
    seed = 3

    [model]              # optional; defaults are the DS1 network (GRUSpec)
    hidden_size = 12

    [train]              # optional; defaults are TrainSpec's, NOT the DS1 recipe:
    max_epochs = 200     # 256 training sequences, 400 epochs, a constant rate 0.01, no
    learning_rate = 0.01 # cosine, no restarts, no curriculum, no per-class (Parity) rate

A dense-network (DS4-style) zoo names its task::

    task = "image"
    name = "my-badnets"
    image_set = "digits"   # or mnist, fashionmnist, kmnist (see `mlds-jax data`)
    n_networks = 64
    widths = [784, 64, 10] # default 784-32-10 (not the DS4 recipe's 784-128-128-128-10)

    [poison]             # optional; omit for a clean zoo
    kind = "badnetv2"
    trigger = "alpha"
    fraction = 0.1

    [train]              # defaults are DenseTrainSpec's: Adam 0.001, batch 128, 20 epochs
    epochs = 20

Either kind may make seeds a zoo dimension (top-level keys, before any table; omit them for
keys drawn from the spec's digest, as before). Replicate ``r`` takes ``init_seeds[r % len]``
and ``order_seeds[r % len]``; a network's initial weights come from its init seed alone, its
data order (DS1-DS3: also its sequences) from its order seed alone, so zoos with the same
seeds are paired network by network (``mlds_jax.spec._seeds``; stored as ``init_seed`` and
``order_seed``)::

    init_seeds = [0, 0, 0, 0, 1, 1, 1, 1]   # two initialisations, each ...
    order_seeds = [0, 1, 2, 3]              # ... trained on four data orders
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from mlds_jax.errors import SpecError
from mlds_jax.spec._dataset import DatasetSpec
from mlds_jax.spec._image import ImageDatasetSpec
from mlds_jax.spec._task import DEFAULT_TASK, IMAGE, SEQUENCE, task_of

# The spec class of each task.
SPEC_CLASSES = {SEQUENCE: DatasetSpec, IMAGE: ImageDatasetSpec}


def spec_from_dict(data: dict, task=DEFAULT_TASK) -> DatasetSpec | ImageDatasetSpec:
    """The spec of ``task`` (a :class:`~mlds_jax.spec.Task`, its name or a store's root
    attributes) from its ``to_dict()`` form, e.g. a store's root attribute ``spec``."""
    return SPEC_CLASSES[task_of(task)].from_dict(data)


def load_spec_file(path: str | os.PathLike) -> DatasetSpec | ImageDatasetSpec:
    """Reads and validates a TOML spec file; errors name the file and the field."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise SpecError(f"{p}: no such spec file") from None
    except UnicodeDecodeError:
        raise SpecError(f"{p}: not a text (UTF-8) file; give a TOML spec file") from None
    except IsADirectoryError:
        raise SpecError(f"{p}: is a directory; give a TOML spec file") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{p}: not valid TOML ({e})") from None
    try:
        task = task_of(data.pop("task", DEFAULT_TASK.name))
    except SpecError as e:
        raise SpecError(f"{p}: {e}") from None
    try:
        return SPEC_CLASSES[task].from_dict(data)
    except SpecError as e:
        raise SpecError(f"{p}: {e}") from None
