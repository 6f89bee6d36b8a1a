"""Image sets for DS4: the embedded default and the IDX-backed MNIST family, with triggers."""

from __future__ import annotations

import hashlib
import os
from typing import Any, NamedTuple

import numpy as np

from mlds_jax.errors import DataError
from mlds_jax.spec import ImageDatasetSpec
from mlds_jax.tasks._idx import (
    check_image_arrays,
    data_dir,
    get_source,
    image_set_files,
    load_image_set,
    sha256_file,
)
from mlds_jax.tasks._triggers import triggered_copies, triggered_copy


def load_digits28(seed: int = 0, n_test: int = 300) -> dict[str, np.ndarray]:
    """The embedded default: scikit-learn's bundled 8x8 handwritten digits (1,797 images,
    no download), upscaled to 20x20 (nearest) and centred in a 28x28 frame like MNIST,
    values 0..16 -> 0..255. A seeded split gives ``n_test`` test images."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("the embedded 'digits' image set needs scikit-learn: "
                        "pip install 'mlds-jax[analysis]'") from None
    d = load_digits()
    idx = (np.arange(20) * 8) // 20
    small = d.images[:, idx][:, :, idx]  # [n, 20, 20]
    imgs = np.zeros((len(small), 28, 28), np.uint8)
    imgs[:, 4:24, 4:24] = np.round(small * (255 / 16)).astype(np.uint8)
    order = np.random.default_rng([seed, 0xD1]).permutation(len(imgs))
    test, train = order[:n_test], order[n_test:]
    y = d.target.astype(np.uint8)
    return {"train_images": imgs[train], "train_labels": y[train],
            "test_images": imgs[test], "test_labels": y[test]}


class ImageData(NamedTuple):
    """One image set, ready for the trainer; shared by every network (never per network)."""

    train_x: np.ndarray  # uint8 [n_train, 784]
    train_trig: np.ndarray  # uint8 [placements, n_train, 784]: triggered copies, one per
    # trigger placement (PoisonSpec.placements; [1, n_train, 784] == train_x if clean)
    train_y: np.ndarray  # int32 [n_train]
    poison_per_label: np.ndarray  # int32 [k, 10]: poisoned samples drawn from each label,
    # per value of the spec's poison fraction grid (k = 1 without one: the fraction's counts)
    test_x: np.ndarray  # uint8 [n_test, 784]
    test_trig: np.ndarray  # uint8 [n_test, 784]: test images with the eval trigger
    test_y: np.ndarray  # int32 [n_test]


def load_images(spec: ImageDatasetSpec, root: str | os.PathLike | None = None
                ) -> dict[str, np.ndarray]:
    """The spec's image set, checked (uint8 28x28 images, labels 0..9, non-empty splits)."""
    if spec.image_set == "digits":
        arrays = load_digits28(spec.seed)
        check_image_arrays(arrays, {k: f"digits (embedded): {k}" for k in arrays})
        return arrays
    return load_image_set(get_source(spec.image_set), data_dir(root))


def data_files(spec: ImageDatasetSpec, root: str | os.PathLike | None = None,
               arrays: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, str]]:
    """The identity of the data a store is trained from, for its provenance: per file key,
    the file's name and SHA-256 (the embedded digits: the SHA-256 of each array's bytes)."""
    if spec.image_set == "digits":
        arrays = arrays if arrays is not None else load_digits28(spec.seed)
        return {k: {"file": f"digits (embedded): {k}",
                    "sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()}
                for k, a in sorted(arrays.items())}
    files = image_set_files(get_source(spec.image_set), data_dir(root))
    return {k: {"file": str(p), "sha256": sha256_file(p)} for k, p in sorted(files.items())}


def check_same_data(store: str, stored: dict[str, Any] | None,
                    current: dict[str, dict[str, str]]) -> None:
    """Refuses to resume a store with data other than the files it was trained from.

    ``stored`` is the store's ``data_files`` record (None for stores written before it
    existed: nothing to compare). Raises :class:`DataError` naming the first differing file.
    """
    if not stored:
        return
    for key in sorted(set(stored) | set(current)):
        old, new = stored.get(key, {}), current.get(key, {})
        if old.get("sha256") != new.get("sha256"):
            raise DataError(
                f"{new.get('file', key)}: SHA-256 {str(new.get('sha256'))[:12]}... differs from "
                f"the {old.get('file', key)} ({str(old.get('sha256'))[:12]}...) that {store} "
                "was trained from; resuming would mix two data sets in one store (use the "
                "original files, a new `out`, or `allow_data_change`)")


def prepare_test_images(spec: ImageDatasetSpec, arrays: dict[str, np.ndarray]
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The test split as the trainer scores it: clean images uint8 ``[n_test, 784]``, the
    same with the spec's eval trigger ``[n_test, 784]``, labels int32 ``[n_test]``."""
    te, ev = arrays["test_images"], spec.eval_trigger
    test_trig = triggered_copy(te, ev.kind, ev.trigger, spec.seed + 1)
    return (te.reshape(len(te), -1), test_trig.reshape(len(te), -1),
            arrays["test_labels"].astype(np.int32))


def prepare_images(spec: ImageDatasetSpec, arrays: dict[str, np.ndarray]) -> ImageData:
    """Builds the shared arrays: clean and triggered copies (deterministic from the spec)."""
    tr = arrays["train_images"]
    y = arrays["train_labels"].astype(np.int32)
    if spec.poison is not None:
        trig = triggered_copies(tr, spec.poison.kind, spec.poison.trigger, spec.seed,
                                spec.poison.placements)
        counts = np.bincount(y, minlength=10)
        fractions = spec.poison.fraction_grid or (spec.poison.fraction,)
        per_label = np.round(counts[None, :] * np.asarray(fractions)[:, None]).astype(np.int32)
    else:
        trig, per_label = tr[None], np.zeros((1, 10), np.int32)
    return ImageData(tr.reshape(len(tr), -1), trig.reshape(len(trig), len(tr), -1), y,
                     per_label, *prepare_test_images(spec, arrays))
