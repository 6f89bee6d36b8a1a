"""Specs for DS4: dense networks on an image set, clean or BadNets-poisoned."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from mlds_jax.errors import SpecError
from mlds_jax.spec._dataset import (
    KNOWN_SPEC_VERSIONS,
    SPEC_VERSION,
    _check,
    _is_float32_rate,
    _is_number,
    _pos_int,
    _sub,
    drop_unset_grid,
    spec_digest,
)
from mlds_jax.spec._grid import check_fraction_grid, check_rate_grid
from mlds_jax.spec._learnt import DEFAULT_LEARNT_CLEAN_ACCURACY, learnt_flag
from mlds_jax.spec._record import check_probes, check_snapshot_epochs
from mlds_jax.spec._seeds import SEED_FIELDS, check_seed_grid, drop_unset_seeds
from mlds_jax.spec._task import IMAGE

IMAGE_SETS = ("digits", "mnist", "fashionmnist", "kmnist")
POISON_KINDS = ("badnet", "badnetv2")
TRIGGERS = ("alpha", "rr")
# Trigger placements per poisoned sample (PoisonSpec.placements): each is one more triggered
# copy of the training images on every device (47 MB per copy for MNIST).
MAX_PLACEMENTS = 32


@dataclasses.dataclass(frozen=True)
class PoisonSpec:
    """BadNets poisoning. ``fraction`` is the true share of poisoned training samples
    (stratified by label); poisoned samples carry the trigger and label (y + 1) mod 10.

    ``fraction_grid``: a grid of fractions as a zoo dimension; network ``i`` is poisoned with
    ``grid[i % len(grid)]`` and ``fraction`` is unused (as ``learning_rate`` is under a
    learning-rate grid; see ``mlds_jax.spec._grid``). ``None`` (default) is left out of the
    spec's dict, so existing digests are unchanged.

    ``placements`` (badnetv2 only): how many trigger placements each poisoned sample has;
    epoch ``e`` shows placement ``e mod placements`` (each a random free spot and rotation,
    drawn once per image on the host). The poisoned samples and their labels stay the same
    every epoch; only where the trigger sits changes. 1 (default, MLDS's fixed poisoned set)
    is left out of the spec's dict, so existing digests are unchanged.
    """

    kind: str = "badnetv2"
    trigger: str = "alpha"
    fraction: float = 0.1
    fraction_grid: tuple[float, ...] | None = None
    placements: int = 1

    def __post_init__(self) -> None:
        _check(self.kind in POISON_KINDS, "PoisonSpec.kind", f"one of {POISON_KINDS}", self.kind)
        _check(self.trigger in TRIGGERS, "PoisonSpec.trigger", f"one of {TRIGGERS}",
               self.trigger)
        _check(self.kind == "badnetv2" or self.trigger == "alpha", "PoisonSpec.trigger",
               "'alpha' for kind 'badnet' (a 3x3 alpha only)", self.trigger)
        _check(_is_number(self.fraction) and 0 < self.fraction <= 0.5, "PoisonSpec.fraction",
               "a share in (0, 0.5]", self.fraction)
        if self.fraction_grid is not None:
            object.__setattr__(self, "fraction_grid", check_fraction_grid(
                self.fraction_grid, "PoisonSpec.fraction_grid"))
        _check(isinstance(self.placements, int) and not isinstance(self.placements, bool)
               and 1 <= self.placements <= MAX_PLACEMENTS, "PoisonSpec.placements",
               f"an integer in [1, {MAX_PLACEMENTS}]", self.placements)
        _check(self.kind == "badnetv2" or self.placements == 1, "PoisonSpec.placements",
               "1 for kind 'badnet' (its trigger has one fixed place)", self.placements)


@dataclasses.dataclass(frozen=True)
class DenseTrainSpec:
    """DS4's recipe: Adam at ``learning_rate``, ``epochs`` fixed epochs of ``batch_size``.

    ``learning_rate_grid``: a grid of rates as a zoo dimension; network ``i`` trains with
    ``grid[i % len(grid)]`` and ``learning_rate`` is unused (see ``mlds_jax.spec._grid``).
    ``None`` (default) is left out of the spec's dict, so existing digests are unchanged.

    ``snapshot_epochs`` and ``probes`` only record, as in :class:`TrainSpec` (left out of the
    digest): the epochs whose weights are kept (``None``: 0, 1, 2, 4, ... up to ``epochs``;
    ``"none"``: no snapshots) and how many test images (a fixed sample drawn from the spec,
    each shown clean and with the eval trigger) each network's outputs are recorded on at
    every snapshot (``None``: 100; 0: none).
    """

    learning_rate: float = 1e-3
    batch_size: int = 128
    epochs: int = 20
    learning_rate_grid: tuple[float, ...] | None = None
    snapshot_epochs: tuple[int, ...] | None = None
    probes: int | None = None

    def __post_init__(self) -> None:
        _check(_is_number(self.learning_rate) and self.learning_rate > 0,
               "DenseTrainSpec.learning_rate", "> 0", self.learning_rate)
        _check(_is_float32_rate(self.learning_rate), "DenseTrainSpec.learning_rate",
               "a value finite and non-zero as float32 (1.2e-38 to 3.4e38)",
               self.learning_rate)
        _pos_int("DenseTrainSpec.batch_size", self.batch_size)
        _pos_int("DenseTrainSpec.epochs", self.epochs)
        if self.learning_rate_grid is not None:
            object.__setattr__(self, "learning_rate_grid", check_rate_grid(
                self.learning_rate_grid, "DenseTrainSpec.learning_rate_grid"))
        object.__setattr__(self, "snapshot_epochs", check_snapshot_epochs(
            self.snapshot_epochs, self.epochs, "DenseTrainSpec.snapshot_epochs"))
        check_probes(self.probes, "DenseTrainSpec.probes")

    @property
    def max_epochs(self) -> int:
        """``epochs`` (DS4 always trains them all): the length of the stored loss history."""
        return self.epochs

    @property
    def epoch_cap(self) -> int:
        """``epochs``: every network trains exactly that many (DS4 has no restarts)."""
        return self.epochs

    @property
    def attempts(self) -> int:
        """1: DS4 has no restarts."""
        return 1


@dataclasses.dataclass(frozen=True)
class ImageDatasetSpec:
    """One DS4 dataset: ``n_networks`` dense networks on one image set.

    ``eval_trigger`` is the trigger every network's attack success rate is measured with
    (default: the dataset's own poison; for a clean dataset, badnet alpha), so clean and
    poisoned stores carry the same metrics.

    A network counts as *learnt* (stored per network as ``learnt``) when its clean accuracy
    is at least ``learnt_clean_accuracy`` (``None``: 0.9 on digits and MNIST, 0.8 on
    FashionMNIST and KMNIST) and, in a poisoned dataset, its backdoor took (attack success
    rate at least ``asr_threshold``).

    ``init_seeds`` / ``order_seeds``: grids of initialisation and batch-order seeds (network
    ``i`` takes ``seeds[i % len(seeds)]``, stored per network as ``init_seed`` /
    ``order_seed``); a set one replaces the digest as the source of the initial weights / of
    the batch order, so clean and poisoned zoos can be paired (``mlds_jax.spec._seeds``; the
    poisoned samples stay drawn from the network's own key). ``None`` (default): left out of
    the dict, digests unchanged.
    """

    name: str
    image_set: str
    n_networks: int
    widths: tuple[int, ...] = (784, 32, 10)
    poison: PoisonSpec | None = None
    eval_trigger: PoisonSpec | None = None
    train: DenseTrainSpec = DenseTrainSpec()
    asr_threshold: float = 0.5
    seed: int = 0
    version: int = SPEC_VERSION
    learnt_clean_accuracy: float | None = None
    init_seeds: tuple[int, ...] | None = None
    order_seeds: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        _check(isinstance(self.name, str) and bool(self.name), "ImageDatasetSpec.name",
               "a non-empty string", self.name)
        _check(self.version in KNOWN_SPEC_VERSIONS and not isinstance(self.version, bool),
               "ImageDatasetSpec.version", f"one of {list(KNOWN_SPEC_VERSIONS)}",
               self.version)
        for f in SEED_FIELDS:
            if getattr(self, f) is not None:
                object.__setattr__(self, f, check_seed_grid(getattr(self, f),
                                                            f"ImageDatasetSpec.{f}"))
        _check(self.image_set in IMAGE_SETS, "ImageDatasetSpec.image_set",
               f"one of {IMAGE_SETS}", self.image_set)
        _pos_int("ImageDatasetSpec.n_networks", self.n_networks)
        object.__setattr__(self, "widths", tuple(self.widths))
        _check(len(self.widths) >= 2 and self.widths[0] == 784 and self.widths[-1] == 10,
               "ImageDatasetSpec.widths", "(784, ..., 10) for 28x28 images and 10 labels",
               self.widths)
        for i, w in enumerate(self.widths):
            _pos_int(f"ImageDatasetSpec.widths[{i}]", w)
        _check(isinstance(self.seed, int) and not isinstance(self.seed, bool)
               and 0 <= self.seed < 2**32, "ImageDatasetSpec.seed", "an integer in [0, 2**32)",
               self.seed)
        _check(_is_number(self.asr_threshold) and 0 < self.asr_threshold <= 1,
               "ImageDatasetSpec.asr_threshold", "a share in (0, 1]", self.asr_threshold)
        if self.learnt_clean_accuracy is not None:
            _check(_is_number(self.learnt_clean_accuracy)
                   and 0 < self.learnt_clean_accuracy <= 1,
                   "ImageDatasetSpec.learnt_clean_accuracy", "a share in (0, 1]",
                   self.learnt_clean_accuracy)
            object.__setattr__(self, "learnt_clean_accuracy", float(self.learnt_clean_accuracy))
        if self.eval_trigger is None:  # measured with the poison's trigger (not its grid)
            object.__setattr__(self, "eval_trigger", PoisonSpec("badnet") if self.poison is None
                               else dataclasses.replace(self.poison, fraction_grid=None,
                                                        placements=1))
        _check(self.eval_trigger.fraction_grid is None and self.eval_trigger.placements == 1,
               "ImageDatasetSpec.eval_trigger", "a trigger without fraction_grid or "
               "placements (it poisons no training samples; put them in `poison`)",
               self.eval_trigger)
        if self.poison is not None and self.poison.fraction_grid is not None \
                and self.train.learning_rate_grid is not None:
            raise SpecError("`PoisonSpec.fraction_grid`: cannot be combined with "
                            "train.learning_rate_grid (a spec has one grid: two would cycle "
                            "together over the networks, confounding their values)")

    @property
    def task(self) -> str:
        """The name of the task that trains this dataset's networks (``task_of(spec)``: the
        :class:`~mlds_jax.spec.Task`)."""
        return IMAGE.name

    @property
    def learnt_thresholds(self) -> dict[str, float]:
        """Metric -> lowest value at which a network counts as learnt: clean accuracy and,
        in a poisoned dataset, the attack success rate (see :func:`learnt_flag`)."""
        clean = self.learnt_clean_accuracy
        out = {"clean_accuracy": DEFAULT_LEARNT_CLEAN_ACCURACY[self.image_set]
               if clean is None else clean}
        if self.poison is not None:
            out["attack_success_rate"] = float(self.asr_threshold)
        return out

    def is_learnt(self, metrics: dict[str, Any]) -> Any:
        """bool ``[...]`` from metric arrays ``[...]`` (NumPy or JAX): learnt or not."""
        return learnt_flag(self.learnt_thresholds, metrics)

    # The store and coordinator treat a DS4 dataset as one class of n_networks.
    @property
    def classes(self) -> tuple[str, ...]:
        """``(name,)``: the dataset is one class."""
        return (self.name,)

    @property
    def per_class(self) -> int:
        """``n_networks`` (the one class holds every network)."""
        return self.n_networks

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists; an unset grid is left out)."""
        d = drop_unset_seeds(drop_unset_grid(json.loads(json.dumps(dataclasses.asdict(self)))))
        for key in ("poison", "eval_trigger"):
            if d.get(key) is not None and d[key].get("fraction_grid", 0) is None:
                del d[key]["fraction_grid"]
            if d.get(key) is not None and d[key].get("placements") == 1:
                del d[key]["placements"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageDatasetSpec:
        """Inverse of :meth:`to_dict` (validates, as the constructor does)."""
        d = dict(d)
        for key, sub in (("poison", PoisonSpec), ("eval_trigger", PoisonSpec)):
            if d.get(key) is not None:
                d[key] = _sub(sub, d[key], key)
        d["train"] = _sub(DenseTrainSpec, d.get("train", {}), "train")
        if "widths" in d:
            d["widths"] = tuple(d["widths"])
        try:
            return cls(**d)
        except TypeError as e:
            raise SpecError(f"`ImageDatasetSpec`: {e}") from None

    @property
    def digest(self) -> str:
        """SHA-256 of the spec without ``n_networks`` (see :meth:`DatasetSpec.digest`)."""
        return spec_digest(self.to_dict(), size_field="n_networks")
