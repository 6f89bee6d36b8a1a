"""What a store records along training besides final weights: snapshot epochs and probes.

Both fields (``snapshot_epochs`` and ``probes`` of :class:`~mlds_jax.spec.TrainSpec` and
:class:`~mlds_jax.spec.DenseTrainSpec`) only RECORD: they never change a network. They are
left out of the spec digest (:func:`~mlds_jax.spec._dataset.spec_digest`), so every network
has the same key and floats whatever they are, and out of the spec's dict when unset.
"""

from __future__ import annotations

from typing import Any

from mlds_jax.errors import SpecError
from mlds_jax.spec._task import task_of

# Train fields that only record (left out of the digest and of the spec comparison on a
# resume: a store keeps the recording it was begun with).
RECORDING_FIELDS = ("snapshot_epochs", "probes")
# Probe inputs when ``probes`` is unset: DS1-DS3 sequences, DS4 test images (each shown clean
# and triggered, so twice as many probe inputs).
DEFAULT_SEQUENCE_PROBES = 32
DEFAULT_IMAGE_PROBES = 100


def default_snapshot_epochs(epoch_cap: int) -> tuple[int, ...]:
    """0, 1, 2, 4, 8, ... (powers of two below ``epoch_cap``), then ``epoch_cap`` itself.

    >>> default_snapshot_epochs(20)
    (0, 1, 2, 4, 8, 16, 20)
    """
    out, e = [0], 1
    while e < epoch_cap:
        out.append(e)
        e *= 2
    return (*out, epoch_cap)


def check_snapshot_epochs(value: Any, epoch_cap: int, field: str) -> tuple[int, ...] | None:
    """``value`` validated: ``None`` (the default schedule), ``()`` (``"none"`` or ``[]``: no
    snapshots) or strictly increasing epochs in ``[0, epoch_cap]``."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() != "none":
            raise SpecError(f"`{field}`: expected a list of epochs or 'none', got {value!r}")
        return ()
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(e, int) and not isinstance(e, bool) for e in value)
    ok = ok and all(0 <= e <= epoch_cap for e in value) and all(
        a < b for a, b in zip(value, value[1:]))
    if not ok:
        raise SpecError(f"`{field}`: expected strictly increasing epochs in [0, {epoch_cap}] "
                        f"(the epoch cap), or 'none', got {value!r}")
    return tuple(int(e) for e in value)


def check_probes(value: Any, field: str) -> int | None:
    """``value`` validated: ``None`` (the task's default) or an integer >= 0 (0: none)."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                              or value < 0):
        raise SpecError(f"`{field}`: expected an integer >= 0 (0: no probes), got {value!r}")
    return value


def snapshot_schedule(train) -> tuple[int, ...]:
    """The epochs at which ``train`` (a ``TrainSpec`` or ``DenseTrainSpec``) keeps each
    network's weights: its ``snapshot_epochs``, or :func:`default_snapshot_epochs` of its
    epoch cap when unset."""
    given = train.snapshot_epochs
    return default_snapshot_epochs(train.epoch_cap) if given is None else tuple(given)


def probe_count(spec) -> int:
    """Probe sequences (DS1-DS3) or test images (DS4, each also shown triggered) of
    ``spec``; 0 when the spec keeps no snapshots (outputs are recorded at snapshots)."""
    if not snapshot_schedule(spec.train):
        return 0
    given = spec.train.probes
    if given is not None:
        return given
    return DEFAULT_IMAGE_PROBES if task_of(spec).images else DEFAULT_SEQUENCE_PROBES


def without_recording(d: dict[str, Any]) -> dict[str, Any]:
    """A spec dict without its :data:`RECORDING_FIELDS` (what decides its networks)."""
    train = d.get("train")
    if not isinstance(train, dict) or not any(f in train for f in RECORDING_FIELDS):
        return d
    return {**d, "train": {k: v for k, v in train.items() if k not in RECORDING_FIELDS}}
