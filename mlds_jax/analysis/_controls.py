"""Controls that name artefacts: DS4's trigger region and the pixels dead in clean networks
(first-layer weights that never get a gradient), and the non-weight fields of a network
(training length, learning rate, final loss) that can answer a question without weights.

NumPy only; reads stores, never trains.
"""

from __future__ import annotations

import numpy as np

from mlds_jax.analysis._features import flat_weights
from mlds_jax.store import StoreView

IMAGE_SIDE = 28  # DS4 images are 28 x 28, flattened row-major into the first layer's columns
# Fixed trigger boxes by poison kind: (first row, first column, size). badnet's 3x3 alpha
# sits at rows/cols 24-26 (mlds_jax.tasks BADNET_ORIGIN); badnetv2 places its block at a
# random free spot per image, so it has no fixed region (the dead-pixel control covers it).
TRIGGER_BOXES = {"badnet": (24, 24, 3)}
NON_WEIGHT_FIELDS = ("epochs", "restarts", "learning_rate", "final_train_loss",
                     "final_val_loss")


def trigger_pixels(spec: dict) -> np.ndarray | None:
    """Flat pixel indices ``[k]`` of a poisoned store's fixed trigger box (``None``: clean,
    or a trigger without a fixed place)."""
    poison = spec.get("poison")
    if poison is None or poison.get("kind") not in TRIGGER_BOXES:
        return None
    r0, c0, size = TRIGGER_BOXES[poison["kind"]]
    rows, cols = np.meshgrid(np.arange(r0, r0 + size), np.arange(c0, c0 + size),
                             indexing="ij")
    return np.sort((rows * IMAGE_SIDE + cols).ravel())


def _first_layer(layout: list[dict]) -> dict:
    e = layout[0]
    if e["name"] != "net.0.weight" or e["shape"][1] != IMAGE_SIDE * IMAGE_SIDE:
        raise ValueError(f"expected a dense first layer net.0.weight [hidden, 784], got "
                         f"{e['name']} {e['shape']}")
    return e


def pixel_columns(layout: list[dict], pixels: np.ndarray) -> np.ndarray:
    """Flat parameter indices ``[hidden, k]`` of the first-layer weights reading ``pixels``."""
    e = _first_layer(layout)
    hidden, width = e["shape"]
    return e["offset"] + np.arange(hidden)[:, None] * width + np.asarray(pixels)[None]


def init_bound(layout: list[dict]) -> float:
    """The first layer's init bound, PyTorch's default ``1 / sqrt(fan_in)``."""
    return float(1 / np.sqrt(_first_layer(layout)["shape"][1]))


def dead_pixels(view: StoreView, idx: np.ndarray) -> np.ndarray:
    """Pixels ``[k]`` (flat indices) whose first-layer weights stay inside the init bound
    ``±1/sqrt(784)`` in every network ``idx`` of a clean store: never lit in training (or
    almost never), so their weights kept their initial values."""
    cols = pixel_columns(view.layout, np.arange(IMAGE_SIDE * IMAGE_SIDE))
    bound = init_bound(view.layout) * (1 + 1e-6)
    live = np.zeros(cols.shape[1], bool)
    for lo in range(0, len(idx), 256):
        w = flat_weights(view, idx[lo:lo + 256])[:, cols]  # [n, hidden, 784]
        live |= (np.abs(w) > bound).any((0, 1))
    return np.flatnonzero(~live)


def region_features(w: np.ndarray, layout: list[dict], pixels: np.ndarray) -> np.ndarray:
    """``[n, 2k]``: per pixel, the mean |w| and the std over hidden units of the first-layer
    weights reading it (invariant to hidden-unit order), from flat weights ``w [n, n_params]``."""
    x = w[:, pixel_columns(layout, pixels)].astype(np.float64)  # [n, hidden, k]
    return np.concatenate([np.abs(x).mean(1), x.std(1)], 1)


def zero_pixels(w: np.ndarray, layout: list[dict], pixels: np.ndarray) -> np.ndarray:
    """A copy of ``w [n, n_params]`` with the first-layer weights reading ``pixels`` set to
    0, the same in every network: features computed from it carry nothing of those pixels."""
    w = w.copy()
    w[:, pixel_columns(layout, pixels).ravel()] = 0
    return w


def non_weight_fields(view: StoreView, idx: np.ndarray, drop: tuple[str, ...] = ()
                      ) -> tuple[np.ndarray, list[str]]:
    """``([n, fields], names)``: the stored fields of networks ``idx`` that are not weights
    (epochs, restarts, learning rate, final train and validation loss), those the store
    has, less ``drop``."""
    names = [f for f in NON_WEIGHT_FIELDS if f in view.group and f not in drop]
    x = np.stack([view[f][idx].astype(np.float64) for f in names], 1)
    return np.nan_to_num(x), names
