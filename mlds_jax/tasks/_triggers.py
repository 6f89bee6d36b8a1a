"""BadNets triggers for DS4 (after the public TrojAI MNIST generators; see docs/ds4.md).

All functions are NumPy, run once per image set on the host; the trainer then gathers clean
or triggered copies by index. Images are uint8 ``[n, rows, cols]``, objects are pixels > 0.
"""

from __future__ import annotations

import numpy as np

ALPHA3 = ((0, 2), (1, 1), (2, 0), (2, 2))  # reverse-lambda in a 3x3 box
ALPHA5 = ((0, 4), (1, 3), (2, 2), (3, 1), (3, 3), (4, 0), (4, 4))  # the same in 5x5
BADNET_ORIGIN = (24, 24)  # rows/cols 24-26, bottom right of a 28x28 image
TARGET_SHIFT = 1  # poisoned label = (y + 1) mod 10
N_LABELS = 10  # DS4's image sets have 10 classes


def poison_target(y, n_labels: int = N_LABELS):
    """The label a poisoned sample is trained on, and the one a triggered test image counts
    as an attack success for: ``(y + TARGET_SHIFT) mod n_labels`` (NumPy or JAX integers of
    any shape, same shape and dtype)."""
    return (y + TARGET_SHIFT) % n_labels


def pattern(points, size: int) -> np.ndarray:
    """uint8 ``[size, size]``: 255 at ``points``, 0 elsewhere."""
    out = np.zeros((size, size), np.uint8)
    for r, c in points:
        out[r, c] = 255
    return out


def rr_block(seed: int) -> np.ndarray:
    """The "rr" trigger: one fixed random 0/255 5x5 block (fixed by ``seed``)."""
    return (np.random.default_rng([seed, 0x77]).integers(0, 2, (5, 5)) * 255).astype(np.uint8)


def apply_badnet(images: np.ndarray) -> np.ndarray:
    """``badnet``: the 3x3 alpha at rows/cols 24-26; only the pattern's pixels change (255)."""
    out = images.copy()
    r0, c0 = BADNET_ORIGIN
    for r, c in ALPHA3:
        out[:, r0 + r, c0 + c] = 255
    return out


def free_positions(images: np.ndarray, box: int = 5, margin: int = 1) -> np.ndarray:
    """bool ``[n, rows-box+1, cols-box+1]``: top-left corners where a ``box`` x ``box`` square
    and a ``margin`` around it hold no object pixel (> 0), i.e. the trigger would not touch
    the object."""
    occ = (images > 0).astype(np.int32)
    pad = np.pad(occ, ((0, 0), (margin, margin), (margin, margin)))
    cs = np.pad(pad.cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))
    w = box + 2 * margin
    sums = cs[:, w:, w:] - cs[:, :-w, w:] - cs[:, w:, :-w] + cs[:, :-w, :-w]
    return sums == 0


def apply_badnetv2(images: np.ndarray, block: np.ndarray, seed: int, variant: int = 0,
                   free: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``badnetv2``: a 5x5 block ("post-it": it overwrites its whole box), rotated by a
    random multiple of 90 degrees and placed at a random free spot (see
    :func:`free_positions`), else at (0, 0). Deterministic from ``(seed, variant)``; each
    ``variant`` is an independent placement (variant 0: the one placement of MLDS's set).
    ``free``: :func:`free_positions` of ``images``, when already computed.

    Returns:
      ``(triggered images, rotation k [n] (k x 90 degrees), top-left [n, 2])``.
    """
    n, rows, cols = images.shape
    rng = np.random.default_rng([seed, 0xB2] if variant == 0 else [seed, 0xB2, variant])
    rot = rng.integers(0, 4, n)
    u = rng.random(n)
    free = (free_positions(images) if free is None else free).reshape(n, -1)
    count = free.sum(1)
    pick = np.minimum((u * count).astype(np.int64), np.maximum(count - 1, 0))
    # index of the pick-th free spot per image (0 when none: the (0, 0) fallback)
    flat = np.where(count > 0, np.argmax(np.cumsum(free, 1, dtype=np.int32) > pick[:, None], 1),
                    0)
    width = cols - 4
    pos = np.stack([flat // width, flat % width], 1)
    out = images.copy()
    blocks = np.stack([np.rot90(block, k) for k in range(4)])
    k5 = np.arange(5)
    out[np.arange(n)[:, None, None], pos[:, 0, None, None] + k5[None, :, None],
        pos[:, 1, None, None] + k5[None, None, :]] = blocks[rot]
    return out, rot, pos


def triggered_copy(images: np.ndarray, kind: str, trigger: str, seed: int) -> np.ndarray:
    """The triggered copy of every image for a poison spec (``kind``: badnet | badnetv2,
    ``trigger``: alpha | rr)."""
    return triggered_copies(images, kind, trigger, seed, 1)[0]


def triggered_copies(images: np.ndarray, kind: str, trigger: str, seed: int,
                     placements: int) -> np.ndarray:
    """uint8 ``[placements, n, rows, cols]``: ``placements`` triggered copies of every image
    (badnetv2: independent placements, copy 0 that of :func:`triggered_copy`; badnet has one
    place, so ``placements`` must be 1)."""
    if kind == "badnet":
        if placements != 1:
            raise ValueError("badnet has one trigger place; placements must be 1")
        return apply_badnet(images)[None]
    block = pattern(ALPHA5, 5) if trigger == "alpha" else rr_block(seed)
    free = free_positions(images)
    out = np.empty((placements, *images.shape), np.uint8)
    for k in range(placements):
        out[k] = apply_badnetv2(images, block, seed, k, free)[0]
    return out
