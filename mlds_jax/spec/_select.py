"""Choosing a spec the way the command line does: a built-in recipe by name, a DS4 dataset
by name, or a TOML spec file, with recipe overrides."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from mlds_jax.errors import SpecError
from mlds_jax.spec._dataset import DatasetSpec
from mlds_jax.spec._file import load_spec_file
from mlds_jax.spec._image import ImageDatasetSpec
from mlds_jax.spec._overrides import check_overrides
from mlds_jax.spec._recipes import DS4_DATASETS, ds4, get_recipe
from mlds_jax.spec._task import task_of


def with_overrides(spec: DatasetSpec | ImageDatasetSpec,
                   **overrides: Any) -> DatasetSpec | ImageDatasetSpec:
    """``spec`` with the overrides of :data:`SPEC_OVERRIDES` given (by field, e.g.
    ``max_epochs=50``; ``None``: keep) replaced and validated: its recipe's epoch cap,
    learning rate, learning-rate grid, restart limit or poison fraction grid. For a dense
    (image) recipe
    ``max_epochs`` sets its fixed ``epochs``; ``max_restarts`` (0: none) applies to sequence
    recipes only (refused for DS4, which trains a fixed number of epochs).

    A grid replaces every network's rate, so it is refused together with ``learning_rate``;
    it also replaces a built-in recipe's per-class rates (DS1/DS2's Parity rate). A poison
    fraction grid (DS4 badnet datasets only) replaces the poison's fraction; a spec has one
    grid, so it is refused together with a learning-rate grid. ``widths`` replaces a DS4
    dataset's layer widths (refused for sequence datasets). ``placements`` replaces a
    poisoned DS4 dataset's trigger placements per poisoned sample (badnetv2; badnet has 1).
    ``snapshot_epochs`` (``"none"``: no snapshots) and ``probes`` set what the store records
    along training (they never change a network).
    """
    overrides = check_overrides(overrides)
    placements = overrides.get("placements")
    learning_rate, learning_rate_grid = (overrides.get("learning_rate"),
                                         overrides.get("learning_rate_grid"))
    if placements is not None:
        if getattr(spec, "poison", None) is None:
            raise SpecError(f"`placements`: {spec.name} poisons nothing; trigger placements "
                            "are for poisoned DS4 datasets such as MNISTbadnetv2_alpha05")
        spec = dataclasses.replace(spec, poison=dataclasses.replace(spec.poison,
                                                                    placements=placements))
    task = task_of(spec)
    if (widths := overrides.get("widths")) is not None:
        if not task.images:
            raise SpecError(f"`widths`: {spec.name} is a {task.kind} dataset; layer widths are "
                            "for DS4 (dense) datasets, a GRU's shape is in its spec's [model]")
        spec = dataclasses.replace(spec, widths=tuple(widths))
    if (poison_fraction_grid := overrides.get("poison_fraction_grid")) is not None:
        spec = _with_poison_grid(spec, poison_fraction_grid, learning_rate_grid)
    changes = {k: v for k, v in {task.epochs_field: overrides.get("max_epochs"),
                                 "learning_rate": learning_rate}.items() if v is not None}
    if learning_rate_grid is not None:
        if learning_rate is not None:
            raise SpecError("`learning_rate_grid`: cannot be combined with `learning_rate` "
                            "(the grid sets every network's rate); give only one")
        changes["learning_rate_grid"] = learning_rate_grid
        if getattr(spec.train, "class_learning_rates", None) is not None:
            changes["class_learning_rates"] = None
    if (max_restarts := overrides.get("max_restarts")) is not None:
        if not task.restarts:
            raise SpecError(f"`max_restarts`: {spec.name} is a {task.kind} dataset, whose "
                            "networks train a fixed number of epochs; restarts are for "
                            "sequence datasets")
        if not isinstance(max_restarts, int) or max_restarts < 0:
            raise SpecError(f"`max_restarts`: expected an integer >= 0, got {max_restarts!r}")
        changes["max_restarts"] = max_restarts or None
    for field in ("snapshot_epochs", "probes"):  # recording only
        if field in overrides:
            changes[field] = overrides[field]
    if not changes:
        return spec
    return dataclasses.replace(spec, train=dataclasses.replace(spec.train, **changes))


def _with_poison_grid(spec, grid, learning_rate_grid):
    if not task_of(spec).images:
        raise SpecError(f"`poison_fraction_grid`: {spec.name} is a {task_of(spec).kind} "
                        "dataset; poison fractions are for DS4 badnet datasets (e.g. "
                        "MNISTbadnet_alpha10)")
    if spec.poison is None:
        raise SpecError(f"`poison_fraction_grid`: {spec.name} is a clean dataset (nothing is "
                        "poisoned); give a badnet dataset such as MNISTbadnet_alpha10")
    if learning_rate_grid is not None or spec.train.learning_rate_grid is not None:
        raise SpecError("`poison_fraction_grid`: cannot be combined with a learning-rate grid "
                        "(a spec has one grid); give only one")
    return dataclasses.replace(spec, poison=dataclasses.replace(spec.poison,
                                                                fraction_grid=grid))


def select_spec(dataset: str | None = None, per_class: int | None = None, *,
                spec_file: str | os.PathLike | None = None, image_set: str | None = None,
                seed: int | None = None, **overrides: Any) -> DatasetSpec | ImageDatasetSpec:
    """The spec named by ``dataset`` (``ds1``... or a DS4 name such as
    ``MNISTbadnet_alpha10``; ``per_class`` networks per class, or in all for DS4) or read
    from ``spec_file``, with ``overrides`` (:func:`with_overrides`). Errors say which
    argument is missing or extra."""
    overrides = check_overrides(overrides)
    max_epochs = overrides.get("max_epochs")
    if dataset in DS4_DATASETS:
        if not per_class:
            raise SpecError(f"{dataset}: give the number of networks with `per_class`")
        # the epoch cap goes in here, where the recipe sizes what depends on it (badnetv2's
        # one trigger placement per epoch)
        spec = ds4(dataset, per_class, image_set=image_set, seed=seed or 0,
                   **({} if max_epochs is None else {"epochs": max_epochs}))
    elif spec_file:
        if dataset or per_class:
            raise SpecError("give either a dataset name with `per_class`, or `spec_file`")
        spec = load_spec_file(spec_file)
        if "learning_rate_grid" in overrides and getattr(spec.train, "class_learning_rates",
                                                      None) is not None:
            raise SpecError(f"`learning_rate_grid`: {spec_file} sets "
                            "train.class_learning_rates, which a grid would override; put "
                            "the grid in the file instead of one of the two")
        if seed is not None:
            spec = dataclasses.replace(spec, seed=seed)
        if image_set is not None and task_of(spec).images:
            spec = dataclasses.replace(spec, image_set=image_set)
    elif not dataset or not per_class:
        raise SpecError("give a dataset name and `per_class` (or `spec_file`)")
    else:
        spec = get_recipe(dataset)(per_class, seed=seed or 0)
    if image_set is not None and not task_of(spec).images:
        raise SpecError(f"`image_set`: only DS4 (image) datasets train on images; {spec.name} "
                        f"is a {task_of(spec).kind} dataset")
    return with_overrides(spec, **overrides)
