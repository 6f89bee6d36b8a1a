"""Image sets for DS4: the embedded default and the IDX-backed MNIST family, with triggers."""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from mlds_jax.errors import DataError
from mlds_jax.spec import ImageDatasetSpec
from mlds_jax.tasks._idx import data_dir, get_source, load_image_set
from mlds_jax.tasks._triggers import triggered_copy


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
    train_trig: np.ndarray  # uint8 [n_train, 784]: triggered copies (== train_x if clean)
    train_y: np.ndarray  # int32 [n_train]
    poison_per_label: np.ndarray  # int32 [10]: poisoned samples drawn from each label
    test_x: np.ndarray  # uint8 [n_test, 784]
    test_trig: np.ndarray  # uint8 [n_test, 784]: test images with the eval trigger
    test_y: np.ndarray  # int32 [n_test]


def load_images(spec: ImageDatasetSpec, root: str | os.PathLike | None = None
                ) -> dict[str, np.ndarray]:
    if spec.image_set == "digits":
        return load_digits28(spec.seed)
    return load_image_set(get_source(spec.image_set), data_dir(root))


def prepare_images(spec: ImageDatasetSpec, arrays: dict[str, np.ndarray]) -> ImageData:
    """Builds the shared arrays: clean and triggered copies (deterministic from the spec)."""
    tr, te = arrays["train_images"], arrays["test_images"]
    y = arrays["train_labels"].astype(np.int32)
    seed = spec.seed
    if spec.poison is not None:
        trig = triggered_copy(tr, spec.poison.kind, spec.poison.trigger, seed)
        counts = np.bincount(y, minlength=10)
        per_label = np.round(counts * spec.poison.fraction).astype(np.int32)
    else:
        trig, per_label = tr, np.zeros(10, np.int32)
    ev = spec.eval_trigger
    test_trig = triggered_copy(te, ev.kind, ev.trigger, seed + 1)
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    return ImageData(flat(tr), flat(trig), y, per_label, flat(te), flat(test_trig),
                     arrays["test_labels"].astype(np.int32))
