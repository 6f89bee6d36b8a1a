"""The on-disk schema of a dataset store (Zarr v3). See docs/store-format.md."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from zarr.codecs import Crc32cCodec, ZstdCodec

from mlds_jax.spec import (
    DEFAULT_TASK,
    IMAGE,
    SEQUENCE,
    SPLIT_DESCRIPTIONS,
    Task,
    task_of,
)

FORMAT = "mlds-jax-store"
# 1: the first layout; 2: adds the per-network ``learnt`` flag and the root attribute
# ``learnt_thresholds``; 3: adds DS1-DS3's per-network ``restarts`` count. Older stores still
# read, resume (in their own layout) and verify.
FORMAT_VERSION = 3
ROOT_ATTR = "mlds_jax"

# Codes of the per-network ``status`` array: not trained yet, trained, diverged (NaN/inf).
PENDING, DONE, FAILED = 0, 1, 2
# Status name -> code (the ``status`` array's ``codes`` attribute).
STATUS_CODES = {"pending": PENDING, "done": DONE, "failed": FAILED}


def cf_flags(meanings: list[str]) -> dict[str, Any]:
    """CF ``flag_values`` (0..k-1) and ``flag_meanings`` (space-separated words) for codes
    whose names are ``meanings`` in code order; blanks in a name become ``_``."""
    return {"flag_values": list(range(len(meanings))),
            "flag_meanings": " ".join(m.replace(" ", "_") for m in meanings)}


def cf_attributes(class_names: list[str]) -> dict[str, dict[str, Any]]:
    """Array name -> the CF attributes it should carry (``class_id``, ``status``)."""
    status = sorted(STATUS_CODES, key=STATUS_CODES.get)
    return {"class_id": cf_flags(list(class_names)), "status": cf_flags(status)}


@dataclasses.dataclass(frozen=True)
class ArraySchema:
    name: str
    dtype: str
    dims: tuple[str, ...]  # first is always "network"
    fill_value: float | int | bool
    description: str


# Task-specific metric arrays (name, dtype, fill, description); each is filled from the
# trainer result field of the same name.
TASK_METRICS: dict[Task, list[tuple[str, str, float | int | bool, str]]] = {
    SEQUENCE: [
        ("val_bit_accuracy", "float32", float("nan"),
         "fraction of validation output bits predicted right"),
    ],
    IMAGE: [
        ("clean_accuracy", "float32", float("nan"), "accuracy on the clean test set"),
        ("attack_success_rate", "float32", float("nan"),
         "share of triggered test images classified as (y + 1) mod 10"),
        ("backdoor_took", "bool", False, "attack_success_rate >= the spec's asr_threshold"),
        ("poisoned_samples", "int32", -1, "poisoned training samples the network saw"),
    ],
}


# Added in format version 2: filled from the trainer result field of the same name.
LEARNT = ("learnt", "bool", False,
          "met every threshold of the root attribute 'learnt_thresholds' (DS1-DS3: validation "
          "bit accuracy; DS4: clean accuracy and, when poisoned, attack success rate)")


# Added in format version 3, for the sequence task (DS1-DS3) only.
RESTARTS = ("restarts", "int32", -1,
            "times the network was re-initialised after an attempt ran to max_epochs "
            "unlearnt (spec train.max_restarts; its epochs count every attempt)")


# Per-network grid values other than ``learning_rate`` (always stored): an array of the
# grid's name exists only in a store whose root attribute ``grid`` names it (the spec
# declares that grid), so stores without one keep their layout and format version.
GRID_ARRAYS = {
    "poison_fraction": ("float32", float("nan"),
                        "DS4: the share of training samples poisoned for this network (its "
                        "value of the spec's poison.fraction_grid)"),
}


# Per-network arrays fixed before training that only some stores hold (added without a new
# format version, like GRID_ARRAYS): each network's seeds, where the spec sets
# ``init_seeds`` / ``order_seeds``, and the named splits ``splits/<name>``, where the root
# attribute ``splits`` lists them (stores written before have none: ``Store.split`` then
# computes them from the spec).
SEED_ARRAY_SCHEMA = {
    "init_seed": ("int64", -1, "the seed the network's initial weights were drawn from "
                  "(its value of the spec's init_seeds)"),
    "order_seed": ("int64", -1, "the seed the network's data order was drawn from (its value "
                   "of the spec's order_seeds)"),
}
SPLIT_PREFIX = "splits/"


def optional_planned(attrs: dict) -> tuple[str, ...]:
    """The optional planned arrays (seeds, splits) of a store with root ``attrs``."""
    spec = attrs.get("spec") or {}
    seeds = [a for f, a in (("init_seeds", "init_seed"), ("order_seeds", "order_seed"))
             if spec.get(f) is not None]
    return (*seeds, *(SPLIT_PREFIX + n for n in (attrs.get("splits") or {}).get("names", {})))


def is_planned(name: str) -> bool:
    """Whether array ``name`` is fixed before training (rewritable from the spec)."""
    return name in PLANNED or name in SEED_ARRAY_SCHEMA or name.startswith(SPLIT_PREFIX)


def task_metrics(task: Task | str, format_version: int = FORMAT_VERSION
                 ) -> list[tuple[str, str, float | int | bool, str]]:
    """The metric arrays of a ``task`` store (a :class:`~mlds_jax.spec.Task` or its name) of
    ``format_version`` (name, dtype, fill, description); the first is the task's headline
    metric."""
    task = task_of(task)
    return (TASK_METRICS[task] + ([LEARNT] if format_version >= 2 else [])
            + ([RESTARTS] if format_version >= 3 and task.restarts else []))


def headline_metric(task: Task | str) -> str:
    """The headline metric array of a ``task`` store (its first metric): ``val_bit_accuracy``
    for the sequence task, ``clean_accuracy`` for DS4's."""
    return TASK_METRICS[task_of(task)][0][0]


def per_network_arrays(n_params: int, max_epochs: int, task: Task | str = DEFAULT_TASK,
                       format_version: int = FORMAT_VERSION, grids: Sequence[str] = (),
                       optional: Sequence[str] = ()) -> list[tuple[ArraySchema, tuple]]:
    """Every array of a store and its trailing shape (after the ``network`` axis).
    ``grids``: the names of the store's grids (its root attribute ``grid``), which add the
    :data:`GRID_ARRAYS` they name; ``optional``: its seed and split arrays
    (:func:`optional_planned`)."""
    nan = float("nan")
    metrics = [(ArraySchema(n, dt, ("network",), fill, desc), ())
               for n, dt, fill, desc in task_metrics(task, format_version)]
    metrics += [(ArraySchema(n, dt, ("network",), fill, desc), ())
                for n, (dt, fill, desc) in GRID_ARRAYS.items() if n in grids]
    metrics += [(ArraySchema(n, SEED_ARRAY_SCHEMA[n][0], ("network",), SEED_ARRAY_SCHEMA[n][1],
                             SEED_ARRAY_SCHEMA[n][2]), ())
                for n in optional if n in SEED_ARRAY_SCHEMA]
    metrics += [(ArraySchema(n, "int8", ("network",), -1, "split code (attribute 'codes': "
                             "0 train, 1 val, 2 test, 3 ood): " + SPLIT_DESCRIPTIONS.get(
                                 n.removeprefix(SPLIT_PREFIX), "")), ())
                for n in optional if n.startswith(SPLIT_PREFIX)]
    return [
        (ArraySchema("params", "float32", ("network", "parameter"), nan,
                     "flat parameters; split with the 'layout' attribute"), (n_params,)),
        (ArraySchema("class_id", "int32", ("network",), -1,
                     "class index into the 'class_names' attribute"), ()),
        (ArraySchema("replicate", "int32", ("network",), -1,
                     "index of the network within its class"), ()),
        (ArraySchema("key", "uint32", ("network", "key_word"), 0,
                     "raw JAX PRNG key data (threefry) the network was trained from"), (2,)),
        (ArraySchema("learning_rate", "float32", ("network",), nan, "Adam step size"), ()),
        (ArraySchema("status", "uint8", ("network",), PENDING,
                     "0 pending, 1 done, 2 failed; written after the block's data"), ()),
        (ArraySchema("epochs", "int32", ("network",), -1, "epochs run (every attempt)"), ()),
        (ArraySchema("stopped_early", "bool", ("network",), False,
                     "validation loss fell under the threshold before the epoch cap"), ()),
        (ArraySchema("final_train_loss", "float32", ("network",), nan,
                     "mean train loss of the last epoch run"), ()),
        (ArraySchema("final_val_loss", "float32", ("network",), nan,
                     "validation loss of the final parameters"), ()),
        (ArraySchema("history/train_loss", "float32", ("network", "epoch"), nan,
                     "mean train loss per epoch; NaN after the last epoch run"), (max_epochs,)),
        (ArraySchema("history/val_loss", "float32", ("network", "epoch"), nan,
                     "validation loss after each epoch; NaN after the last epoch run"),
         (max_epochs,)),
    ] + metrics


# Arrays filled from the plan when the store is created (before any training).
PLANNED = ("class_id", "replicate", "key", "learning_rate", *GRID_ARRAYS)
# Arrays written per block by the trainer ("status" is always written last), mapped to the
# field of the trainer's result that fills them.
RESULTS = {
    "params": "params",
    "epochs": "epochs",
    "stopped_early": "stopped_early",
    "final_train_loss": "final_train_loss",
    "final_val_loss": "final_val_loss",
    "history/train_loss": "train_loss",
    "history/val_loss": "val_loss",
}


def results_map(task: Task | str, format_version: int = FORMAT_VERSION) -> dict[str, str]:
    """Store array -> trainer result field, for every array written per block."""
    return {**RESULTS, **{n: n for n, *_ in task_metrics(task, format_version)}}


# Recording along training (spec train.snapshot_epochs / probes): present only in a store
# whose root attribute ``recording`` says so (stores made before, or with snapshots "none",
# have neither the attribute nor the arrays, and keep their format version).
RECORDING_ATTR = "recording"
# Per-network recorded arrays -> the trainer result field that fills them.
RECORDING_ARRAYS = {
    "snapshots/params": "snapshot_params",
    "snapshots/reached": "snapshot_reached",
    "probe/outputs": "probe_outputs",
}


def recording_of(attrs: dict) -> dict | None:
    """A store's root attribute ``recording`` (``snapshot_epochs``, ``probes``,
    ``probe_output_shape``), or ``None`` when it keeps no snapshots."""
    rec = attrs.get(RECORDING_ATTR)
    return rec if isinstance(rec, dict) and rec.get("snapshot_epochs") else None


def recorded_results(recording: dict | None) -> dict[str, str]:
    """The recorded arrays a block writes (store array -> trainer result field): none
    without ``recording``; no ``probe/outputs`` when the store keeps no probes."""
    if not recording:
        return {}
    probes = int(recording["probe_output_shape"][0]) > 0
    return {k: v for k, v in RECORDING_ARRAYS.items() if probes or k != "probe/outputs"}


def block_results(attrs: dict) -> dict[str, str]:
    """Store array -> trainer result field, for every array a block of the store with root
    ``attrs`` writes (its task's, in its format version, and its recording; ``status`` aside)."""
    return {**results_map(task_of(attrs), int(attrs.get("format_version", 1))),
            **recorded_results(recording_of(attrs))}


def recorded_arrays(n_params: int, recording: dict | None
                    ) -> list[tuple[ArraySchema, tuple]]:
    """The per-network recorded arrays of a store with root attribute ``recording`` and
    their trailing shapes (none when it is ``None``)."""
    if not recording:
        return []
    n_snap = len(recording["snapshot_epochs"])
    out_shape = tuple(int(s) for s in recording["probe_output_shape"])
    return [
        (ArraySchema("snapshots/params", "float32", ("network", "snapshot", "parameter"),
                     float("nan"), "flat parameters after each epoch of snapshots/epoch "
                     "(0: the initial weights); where snapshots/reached is False, the final "
                     "weights"), (n_snap, n_params)),
        (ArraySchema("snapshots/reached", "bool", ("network", "snapshot"), False,
                     "the network trained to this snapshot's epoch (False: it stopped, failed "
                     "or ran out of epochs before it; the slot holds its final weights)"),
         (n_snap,)),
        (ArraySchema("probe/outputs", "float32",
                     ("network", "snapshot", "probe", *(("time", "output") if len(out_shape)
                                                        == 3 else ("logit",))),
                     float("nan"), "logits on the probe inputs (probe/inputs) at each "
                     "snapshot"), (n_snap, *out_shape)),
    ][: 3 if out_shape[0] > 0 else 2]


def chunk_compressors() -> list:
    """The codecs after ``bytes`` for every chunk: zstd with its content checksum, then a
    CRC32C of the stored bytes. A damaged chunk then fails to decode ("Stored and computed
    checksum do not match") instead of reading as wrong numbers. The chain is recorded in each
    array's metadata, so stores written before (zstd without checksums) read unchanged."""
    return [ZstdCodec(level=0, checksum=True), Crc32cCodec()]
