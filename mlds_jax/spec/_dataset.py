"""Frozen, self-checking specs for RNN model-zoo datasets (DS1, DS2, DS3).

A spec is hashable and static: it closes over the compiled trainer. What varies per network
(key, learning rate, class) is built from it by :func:`mlds_jax.train.network_inputs`.
Every spec round-trips through ``to_dict``/``from_dict`` so it can live in Zarr attributes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any

from mlds_jax.errors import SpecError
from mlds_jax.spec._grid import check_rate_grid
from mlds_jax.spec._learnt import DEFAULT_LEARNT_BIT_ACCURACY, learnt_flag
from mlds_jax.spec._record import (
    RECORDING_FIELDS,
    check_probes,
    check_snapshot_epochs,
    without_recording,
)
from mlds_jax.spec._seeds import SEED_FIELDS, check_seed_grid, drop_unset_seeds
from mlds_jax.spec._task import SEQUENCE

# Version of the spec's dict form (``to_dict``), stored with every store.
SPEC_VERSION = 1
KNOWN_SPEC_VERSIONS = (1,)  # what a spec file or stored spec may say
HEAD_ACTIVATIONS = ("relu", "leaky_relu", "tanh")


def _check(cond: bool, field: str, expected: str, value: Any) -> None:
    if not cond:
        raise SpecError(f"`{field}`: expected {expected}, got {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_float32_rate(value: Any) -> bool:
    """A positive number that stays finite and non-zero once the trainer makes it float32."""
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        return False
    return 1.1754944e-38 <= float(value) <= 3.4028235e38  # float32's normal range


def _pos_int(field: str, value: Any) -> None:
    _check(isinstance(value, int) and not isinstance(value, bool) and value > 0,
           field, "a positive integer", value)


@dataclasses.dataclass(frozen=True)
class GRUSpec:
    """Shape of the DS1-style network: stacked GRU layers, then an MLP head.

    The default (input 5, four GRU layers of 12, head 27-14-8, output 1) has exactly
    4,364 parameters, the count MLDS published for DS1. ``head_activation`` sits between the
    head's linear layers; tanh by default because ReLU heads this narrow die (see
    docs/training.md).
    """

    input_size: int = 5
    hidden_size: int = 12
    num_layers: int = 4
    head: tuple[int, ...] = (27, 14, 8)
    output_size: int = 1
    head_activation: str = "tanh"

    def __post_init__(self) -> None:
        _pos_int("GRUSpec.input_size", self.input_size)
        _pos_int("GRUSpec.hidden_size", self.hidden_size)
        _pos_int("GRUSpec.num_layers", self.num_layers)
        _pos_int("GRUSpec.output_size", self.output_size)
        object.__setattr__(self, "head", tuple(self.head))
        for i, w in enumerate(self.head):
            _pos_int(f"GRUSpec.head[{i}]", w)
        _check(self.head_activation in HEAD_ACTIVATIONS, "GRUSpec.head_activation",
               f"one of {HEAD_ACTIVATIONS}", self.head_activation)


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """Training recipe shared by every network of a dataset.

    Attributes:
      learning_rate: Adam step size (per-network array in the trainer; here its default).
      batch_size: sequences per optimiser step.
      seq_len: time steps per sequence.
      n_train: training sequences per network (generated from the network's own key).
      n_val: validation sequences per network.
      max_epochs: epoch cap.
      stop_val_loss: a network stops once its validation loss falls below this.
      class_learning_rates: per-class exceptions to ``learning_rate``, as ``(class name,
        rate)`` pairs (a TOML table ``{ParityMachine = 0.003}`` also works); ``None``: every
        class uses ``learning_rate``. Each network's rate is stored with it.
      learning_rate_grid: a grid of rates as a zoo dimension: network (class c, replicate r)
        trains with ``grid[r % len(grid)]`` (see ``mlds_jax.spec._grid``); ``learning_rate``
        is then unused, and ``class_learning_rates`` must be ``None`` (refused: ambiguous).
        ``None`` (default): no grid; the field is then left out of the spec's dict, so
        digests and stores of specs without a grid are unchanged.
      class_address_curriculum: per-class training-input curriculum for the DS1 encoding's
        address (input bits 2..4), as ``(class name, cells)`` pairs (TOML:
        ``{EightBitMachine = [2, 4, 8]}``): training sequence ``j`` of such a class may
        address only cells ``0 .. cells[j % len(cells)] - 1`` (each a power of two 1..8).
        Validation sequences keep the fair distribution. ``None``: no curriculum.
      fresh_train_data: classes whose training sequences are redrawn every epoch (from the
        network's key and the epoch) instead of once; ``None``: none.
      address_curriculum_stages: an advancing curriculum: fractions ``0 < f1 < f2 < ...
        < 1`` of ``max_epochs``; from epoch ``f_i * max_epochs`` rounded half up (counted
        from 0) every class's ``class_address_curriculum`` drops its first ``i`` entries (it
        always keeps its last one), e.g. ``[2, 4, 8]`` with ``[1/3, 2/3]`` trains on
        ``[2, 4, 8]``, then ``[4, 8]``, then ``[8]``. At small caps stages may round to the
        same epoch (the stage between them is skipped) or to epoch 0; a stage that rounds to
        ``max_epochs`` would never be reached and is refused. Needs
        ``class_address_curriculum``; ``None``: the curriculum stays as it is.
      lr_schedule: ``"cosine"``: each network's rate decays along a cosine to 5% of itself
        over ``max_epochs`` epochs (every class of the dataset); ``None``: constant.
      max_restarts: random restarts: a network whose attempt runs all ``max_epochs``
        epochs without being learnt (validation bit accuracy under the learnt threshold) is
        re-initialised from a key derived from its own and the attempt number and trained
        again from scratch (new optimiser state, curriculum and schedule from their start;
        the shuffles, and the training data of fresh-data classes, follow the total epoch
        count, so they are new draws; a fixed training set stays the same),
        at most this many times. The total epoch cap is then ``max_epochs * (1 +
        max_restarts)`` (:attr:`epoch_cap`: the length of the stored histories); each
        network's count is stored (``restarts``). A network that fails (NaN/inf) is never
        restarted. ``None`` or 0: no restarts (0 is stored as ``None``).
        These five are left out of the spec's dict when ``None`` (digests unchanged).
      snapshot_epochs: the epochs after which each network's weights are kept
        (``snapshots/params`` in the store; 0: the initial weights); ``None``: 0, 1, 2, 4,
        8, ... up to :attr:`epoch_cap`; ``"none"`` or ``[]``: no snapshots. A network that
        ends before a snapshot epoch records its final weights there, flagged.
      probes: probe sequences (fair inputs drawn from the spec, the same for every network)
        whose outputs each network records at every snapshot (``probe/outputs``); ``None``:
        32; 0: none. These two only record: they are left out of the digest (every network
        is the same whatever they are) and, when ``None``, out of the spec's dict.
    """

    learning_rate: float = 1e-2
    batch_size: int = 32
    seq_len: int = 16
    n_train: int = 256
    n_val: int = 128
    max_epochs: int = 400
    stop_val_loss: float = 0.01
    class_learning_rates: tuple[tuple[str, float], ...] | None = None
    learning_rate_grid: tuple[float, ...] | None = None
    class_address_curriculum: tuple[tuple[str, tuple[int, ...]], ...] | None = None
    fresh_train_data: tuple[str, ...] | None = None
    lr_schedule: str | None = None
    address_curriculum_stages: tuple[float, ...] | None = None
    max_restarts: int | None = None
    snapshot_epochs: tuple[int, ...] | None = None
    probes: int | None = None

    def __post_init__(self) -> None:
        _check(_is_number(self.learning_rate) and self.learning_rate > 0,
               "TrainSpec.learning_rate", "> 0", self.learning_rate)
        _check(_is_float32_rate(self.learning_rate), "TrainSpec.learning_rate",
               "a value finite and non-zero as float32 (1.2e-38 to 3.4e38)",
               self.learning_rate)
        for f in ("batch_size", "seq_len", "n_train", "n_val", "max_epochs"):
            _pos_int(f"TrainSpec.{f}", getattr(self, f))
        _check(self.n_train % self.batch_size == 0, "TrainSpec.n_train",
               f"a multiple of batch_size={self.batch_size}", self.n_train)
        _check(_is_number(self.stop_val_loss) and self.stop_val_loss >= 0,
               "TrainSpec.stop_val_loss", ">= 0", self.stop_val_loss)
        object.__setattr__(self, "learning_rate", float(self.learning_rate))
        object.__setattr__(self, "stop_val_loss", float(self.stop_val_loss))
        if self.class_learning_rates is not None:
            object.__setattr__(self, "class_learning_rates",
                               _class_rates(self.class_learning_rates))
        if self.learning_rate_grid is not None:
            object.__setattr__(self, "learning_rate_grid", check_rate_grid(
                self.learning_rate_grid, "TrainSpec.learning_rate_grid"))
            if self.class_learning_rates is not None:
                raise SpecError("`TrainSpec.learning_rate_grid`: cannot be combined with "
                                "class_learning_rates (the grid sets every network's rate, so "
                                "a per-class rate is ambiguous); set only one of the two")
        if self.class_address_curriculum is not None:
            object.__setattr__(self, "class_address_curriculum",
                               _curriculum(self.class_address_curriculum))
        if self.fresh_train_data is not None:
            names = self.fresh_train_data
            _check(isinstance(names, (list, tuple)) and len(names) > 0
                   and all(isinstance(n, str) for n in names) and len(set(names)) == len(names),
                   "TrainSpec.fresh_train_data", "a non-empty list of distinct class names",
                   names)
            object.__setattr__(self, "fresh_train_data", tuple(names))
        _check(self.lr_schedule in (None, *LR_SCHEDULES), "TrainSpec.lr_schedule",
               f"one of {LR_SCHEDULES} (or unset: constant)", self.lr_schedule)
        if self.address_curriculum_stages is not None:
            object.__setattr__(self, "address_curriculum_stages",
                               _stages(self.address_curriculum_stages))
            _check(self.class_address_curriculum is not None,
                   "TrainSpec.address_curriculum_stages", "set together with "
                   "class_address_curriculum (the stages advance that curriculum)",
                   self.address_curriculum_stages)
            last = self.curriculum_stage_epochs()[-1]
            _check(last < self.max_epochs, "TrainSpec.address_curriculum_stages",
                   f"stages that start before max_epochs={self.max_epochs} (the last one "
                   f"rounds to epoch {last} and would never be reached)",
                   self.address_curriculum_stages)
        if self.max_restarts is not None:
            _check(isinstance(self.max_restarts, int) and not isinstance(self.max_restarts, bool)
                   and self.max_restarts >= 0, "TrainSpec.max_restarts",
                   "an integer >= 0 (0 or unset: no restarts)", self.max_restarts)
            if self.max_restarts == 0:  # the same spec (dict, digest, networks) as unset
                object.__setattr__(self, "max_restarts", None)
        object.__setattr__(self, "snapshot_epochs", check_snapshot_epochs(
            self.snapshot_epochs, self.epoch_cap, "TrainSpec.snapshot_epochs"))
        check_probes(self.probes, "TrainSpec.probes")

    @property
    def epoch_cap(self) -> int:
        """Most epochs a network can run over all its attempts: ``max_epochs * (1 +
        max_restarts)`` (``max_epochs`` without restarts); the stored histories' length."""
        return self.max_epochs * self.attempts

    @property
    def attempts(self) -> int:
        """Most attempts a network can make: ``1 + max_restarts``."""
        return 1 + (self.max_restarts or 0)

    def curriculum_stage_epochs(self) -> tuple[int, ...]:
        """The epochs (counted from 0) at which the address curriculum advances one stage
        (``address_curriculum_stages`` times ``max_epochs``, rounded half up); ``()`` when
        unset."""
        return tuple(int(math.floor(f * self.max_epochs + 0.5))
                     for f in self.address_curriculum_stages or ())

    @property
    def steps_per_epoch(self) -> int:
        """Optimiser steps per epoch (``n_train // batch_size``; a short last batch is dropped)."""
        return self.n_train // self.batch_size

    def learning_rate_for(self, class_name: str) -> float:
        """The Adam step of ``class_name``'s networks."""
        return dict(self.class_learning_rates or ()).get(class_name, self.learning_rate)


def _class_rates(value: Any) -> tuple[tuple[str, float], ...]:
    field = "TrainSpec.class_learning_rates"
    pairs = list(value.items()) if isinstance(value, dict) else value
    _check(isinstance(pairs, (list, tuple)) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], str) for p in pairs),
        field, "(class name, rate) pairs or a {class: rate} table", value)
    for name, rate in pairs:
        _check(_is_float32_rate(rate), f"{field}[{name!r}]",
               "a rate finite and non-zero as float32 (1.2e-38 to 3.4e38)", rate)
    names = [p[0] for p in pairs]
    _check(len(set(names)) == len(names), field, "each class at most once", value)
    return tuple((str(n), float(r)) for n, r in pairs)


ADDRESS_CELLS = (1, 2, 4, 8)
LR_SCHEDULES = ("cosine",)


def _curriculum(value: Any) -> tuple[tuple[str, tuple[int, ...]], ...]:
    field = "TrainSpec.class_address_curriculum"
    pairs = list(value.items()) if isinstance(value, dict) else value
    _check(isinstance(pairs, (list, tuple)) and len(pairs) > 0 and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], str) for p in pairs),
        field, "(class name, cells) pairs or a {class: [cells, ...]} table", value)
    for name, cells in pairs:
        _check(isinstance(cells, (list, tuple)) and len(cells) > 0 and all(
            c in ADDRESS_CELLS and not isinstance(c, bool) for c in cells),
            f"{field}[{name!r}]", f"a non-empty list of cell counts from {ADDRESS_CELLS}", cells)
    names = [p[0] for p in pairs]
    _check(len(set(names)) == len(names), field, "each class at most once", value)
    return tuple((str(n), tuple(int(c) for c in cells)) for n, cells in pairs)


def _stages(value: Any) -> tuple[float, ...]:
    ok = isinstance(value, (list, tuple)) and len(value) > 0 and all(
        _is_number(f) and 0 < f < 1 for f in value)
    ok = ok and all(a < b for a, b in zip(value, value[1:]))
    _check(ok, "TrainSpec.address_curriculum_stages",
           "a non-empty, increasing list of fractions of max_epochs in (0, 1)", value)
    return tuple(float(f) for f in value)


@dataclasses.dataclass(frozen=True)
class AutomataSpec:
    """Parameters of DS3's seeded random-automaton generator.

    Each automaton is a Mealy machine with ``min_states..max_states`` states over
    ``2**input_bits`` input symbols and ``2**output_bits`` output symbols; the generator
    keeps only automata whose states are all reachable from state 0, that are minimal (no two
    states equivalent), and that differ from every automaton drawn before.
    """

    n_automata: int = 100
    min_states: int = 3
    max_states: int = 6
    input_bits: int = 2
    output_bits: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        for f in ("n_automata", "min_states", "max_states", "input_bits", "output_bits"):
            _pos_int(f"AutomataSpec.{f}", getattr(self, f))
        _check(2 <= self.min_states <= self.max_states, "AutomataSpec.min_states",
               f"2 <= min_states <= max_states={self.max_states}", self.min_states)
        _check(isinstance(self.seed, int) and not isinstance(self.seed, bool)
               and self.seed >= 0, "AutomataSpec.seed", "an integer >= 0", self.seed)

    def names(self) -> tuple[str, ...]:
        """The class names, ``Automaton000`` to ``Automaton{n_automata-1}``."""
        return tuple(f"Automaton{i:03d}" for i in range(self.n_automata))


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A whole model-zoo dataset: which machines, how many networks each, how they are trained.

    Networks are numbered class-major: network ``i`` has class ``i // per_class`` and
    replicate ``i % per_class``. A network's random key depends on :attr:`digest` (every field
    but ``per_class``), its class and its replicate, so a 100-per-class dataset is exactly the
    first 100 replicates of the 500-per-class one.

    ``learnt_bit_accuracy``: the validation bit accuracy at which a network counts as having
    learnt its machine (stored per network as ``learnt``); ``None``: 0.99.

    ``init_seeds`` / ``order_seeds``: grids of initialisation and data-order seeds (replicate
    ``r`` takes ``seeds[r % len(seeds)]``, stored per network as ``init_seed`` /
    ``order_seed``); a set one replaces the digest as the source of the network's initial
    weights / of its training data and batch order, so zoos can be paired (see
    ``mlds_jax.spec._seeds``). ``None`` (default): left out of the dict, digests unchanged.
    """

    name: str
    classes: tuple[str, ...]
    per_class: int
    seed: int = 0
    model: GRUSpec = GRUSpec()
    train: TrainSpec = TrainSpec()
    automata: AutomataSpec | None = None
    version: int = SPEC_VERSION
    learnt_bit_accuracy: float | None = None
    init_seeds: tuple[int, ...] | None = None
    order_seeds: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        _check(isinstance(self.name, str) and bool(self.name), "DatasetSpec.name",
               "a non-empty string", self.name)
        _check(self.version in KNOWN_SPEC_VERSIONS and not isinstance(self.version, bool),
               "DatasetSpec.version", f"one of {list(KNOWN_SPEC_VERSIONS)}", self.version)
        object.__setattr__(self, "classes", tuple(self.classes))
        _check(len(self.classes) > 0, "DatasetSpec.classes", "at least one class", self.classes)
        _check(len(set(self.classes)) == len(self.classes), "DatasetSpec.classes",
               "distinct names", self.classes)
        _pos_int("DatasetSpec.per_class", self.per_class)
        _check(isinstance(self.seed, int) and not isinstance(self.seed, bool)
               and 0 <= self.seed < 2**32, "DatasetSpec.seed",
               "an integer in [0, 2**32)", self.seed)
        _check(isinstance(self.model, GRUSpec), "DatasetSpec.model", "a GRUSpec", self.model)
        for f in SEED_FIELDS:
            if getattr(self, f) is not None:
                object.__setattr__(self, f, check_seed_grid(getattr(self, f),
                                                            f"DatasetSpec.{f}"))
        _check(isinstance(self.train, TrainSpec), "DatasetSpec.train", "a TrainSpec", self.train)
        unknown = [n for n, _ in self.train.class_learning_rates or () if n not in self.classes]
        _check(not unknown, "TrainSpec.class_learning_rates", "names among the dataset's "
               f"classes {list(self.classes)}", unknown)
        for f in ("class_address_curriculum", "fresh_train_data"):
            entries = getattr(self.train, f) or ()
            unknown = [e if isinstance(e, str) else e[0] for e in entries]
            unknown = [n for n in unknown if n not in self.classes]
            _check(not unknown, f"TrainSpec.{f}",
                   f"names among the dataset's classes {list(self.classes)}", unknown)
        if self.train.class_address_curriculum is not None:
            _check(self.automata is None and self.model.input_size == 5,
                   "TrainSpec.class_address_curriculum", "the DS1 input encoding (5 input "
                   "bits, address in bits 2..4; not DS3 automata)", self.model.input_size)
        if self.learnt_bit_accuracy is not None:
            _check(_is_number(self.learnt_bit_accuracy) and 0 < self.learnt_bit_accuracy <= 1,
                   "DatasetSpec.learnt_bit_accuracy", "a share in (0, 1]",
                   self.learnt_bit_accuracy)
            object.__setattr__(self, "learnt_bit_accuracy", float(self.learnt_bit_accuracy))
        if self.automata is not None:
            _check(isinstance(self.automata, AutomataSpec), "DatasetSpec.automata",
                   "an AutomataSpec", self.automata)
            last = self.automata.n_automata - 1
            _check(self.classes == self.automata.names(), "DatasetSpec.classes",
                   f"the generator's names Automaton000..Automaton{last:03d}", self.classes[:3])

    @property
    def n_networks(self) -> int:
        """Networks in the dataset: ``len(classes) * per_class``."""
        return len(self.classes) * self.per_class

    @property
    def task(self) -> str:
        """The name of the task that trains this dataset's networks (``task_of(spec)``: the
        :class:`~mlds_jax.spec.Task`)."""
        return SEQUENCE.name

    @property
    def learnt_thresholds(self) -> dict[str, float]:
        """Metric -> lowest value at which a network counts as learnt (see
        :func:`learnt_flag`)."""
        t = self.learnt_bit_accuracy
        return {"val_bit_accuracy": DEFAULT_LEARNT_BIT_ACCURACY if t is None else t}

    def is_learnt(self, metrics: dict[str, Any]) -> Any:
        """bool ``[...]`` from metric arrays ``[...]`` (NumPy or JAX): learnt or not."""
        return learnt_flag(self.learnt_thresholds, metrics)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists; an unset grid or seeds are left out)."""
        return drop_unset_seeds(drop_unset_grid(json.loads(json.dumps(
            dataclasses.asdict(self)))))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetSpec:
        """Inverse of :meth:`to_dict`; unknown or missing fields raise :class:`SpecError`."""
        d = dict(d)
        model = _sub(GRUSpec, d.pop("model", {}), "model")
        train = _sub(TrainSpec, d.pop("train", {}), "train")
        automata = d.pop("automata", None)
        if automata is not None:
            automata = _sub(AutomataSpec, automata, "automata")
            d.setdefault("classes", list(automata.names()))
        return _sub(cls, {**d, "model": model, "train": train, "automata": automata}, "")

    @property
    def digest(self) -> str:
        """SHA-256 of the spec without ``per_class``: the root of every network's key.

        Fields left at ``None`` are skipped, so adding an optional field to the spec in a
        later version does not change the networks of existing datasets.
        """
        return spec_digest(self.to_dict(), size_field="per_class")


# Optional training fields added after stores existed: left out of the dict when unset.
UNSET_TRAIN_FIELDS = ("learning_rate_grid", "class_address_curriculum", "fresh_train_data",
                      "lr_schedule", "address_curriculum_stages", "max_restarts",
                      *RECORDING_FIELDS)


def stored_attempts(spec_dict: dict[str, Any]) -> int:
    """A stored spec's most attempts per network, ``1 + max_restarts``, from its dict alone
    (no validation, so a damaged store's spec can still be read; ``TrainSpec.attempts``)."""
    return 1 + int(spec_dict.get("train", {}).get("max_restarts") or 0)


def stored_epoch_cap(spec_dict: dict[str, Any]) -> int:
    """A stored spec's history length from its dict alone: epochs per attempt
    (``max_epochs``, DS4 ``epochs``) times :func:`stored_attempts` (``TrainSpec.epoch_cap``)."""
    train = spec_dict.get("train", {})
    return int(train.get("max_epochs", train.get("epochs", 0))) * stored_attempts(spec_dict)


def drop_unset_grid(d: dict[str, Any]) -> dict[str, Any]:
    """``d`` without the :data:`UNSET_TRAIN_FIELDS` of ``train`` that are ``None``: specs
    (and stores) written before those fields existed keep their dict, digest and keys."""
    for f in UNSET_TRAIN_FIELDS:
        if d.get("train", {}).get(f, 0) is None:
            del d["train"][f]
    return d


# Fields that judge trained networks without changing them: left out of the digest, so
# networks (and their keys) are the same whatever the thresholds.
JUDGING_FIELDS = ("learnt_bit_accuracy", "learnt_clean_accuracy")


def spec_digest(d: dict[str, Any], size_field: str) -> str:
    """SHA-256 of a spec dict without its size field, the fields that only judge networks
    (:data:`JUDGING_FIELDS`) or record them (``train``'s ``snapshot_epochs`` and ``probes``,
    :data:`~mlds_jax.spec._record.RECORDING_FIELDS`) and ``None`` values."""
    d = {k: v for k, v in without_recording(d).items()
         if k != size_field and k not in JUDGING_FIELDS and v is not None}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def _sub(cls, d: dict[str, Any], where: str):
    if not isinstance(d, dict):
        raise SpecError(f"`{where or cls.__name__}`: expected a table/dict, got {d!r}")
    fields = dataclasses.fields(cls)
    names = {f.name for f in fields}
    unknown = sorted(set(d) - names)
    if unknown:
        raise SpecError(f"`{cls.__name__}.{unknown[0]}`: unknown field; known: {sorted(names)}")
    missing = [f.name for f in fields if f.name not in d
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise SpecError(f"`{cls.__name__}.{missing[0]}`: missing (required)")
    if "head" in d:
        _check(isinstance(d["head"], (list, tuple)), "GRUSpec.head", "a list of widths",
               d["head"])
        d = {**d, "head": tuple(d["head"])}
    if "classes" in d:
        _check(isinstance(d["classes"], (list, tuple))
               and all(isinstance(c, str) for c in d["classes"]),
               "DatasetSpec.classes", "a list of machine names", d["classes"])
    return cls(**d)
