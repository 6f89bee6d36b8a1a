"""Built-in dataset recipes: name -> function(per_class, **overrides) -> DatasetSpec."""

from __future__ import annotations

import dataclasses
from typing import Any

from mlds_jax.errors import SpecError, UnknownDatasetError
from mlds_jax.spec._dataset import AutomataSpec, DatasetSpec, GRUSpec, TrainSpec

# DS1's five machines, in class order (the class lists have this one source).
DS1_CLASSES = (
    "ParityMachine",
    "EightBitMachine",
    "SimpleXORMachine",
    "SingleDirectMachine",
    "SingleInvertMachine",
)
# DS2's five modified machines, in the order of their DS1 originals.
DS2_CLASSES = (
    "ParityModified",
    "EightBitModified",
    "SimpleXORModified",
    "SingleDirectModified",
    "SingleInvertModified",
)
# Networks per class of MLDS's planned DS1-DS3 sizes.
PLANNED_SIZES = (100, 500, 1000, 5000, 10000)
# Every DS4 dataset name (``ds4(name)``): 3 clean, 12 backdoored.
DS4_DATASETS = (
    "FashionMNISTclean", "KMNISTclean", "MNISTclean",
    *(f"MNISTbadnet_alpha{f:02d}" for f in (5, 10, 15, 20)),
    *(f"MNISTbadnetv2_alpha{f:02d}" for f in (5, 10, 15, 20)),
    *(f"MNISTbadnetv2_rr{f:02d}" for f in (5, 10, 15, 20)),
)


# DS1/DS2's recipe (docs/machines.md, "Learnt share at the default recipe"; 32 networks per
# machine): Adam 0.01, but 0.003 for the Parity machine (at 0.01 over a third of Parity
# networks die at loss 0.69 or stall; 0.003 leaves the DS2 one-bit machines' rare trigger
# unlearnt in half their networks). 1,024 training sequences instead of 256: DS2's trigger
# symbol is seen 4x as often.
#
# EightBit (docs/machines.md, "EightBit: diagnosis, and a recipe that learns it"): at a fixed
# training set and constant step every network stops at the memoryless predictor (0%
# learnt). Its training sequences follow an address curriculum (a third each use only 2, 4
# or all 8 cells) that advances to [4, 8] at 1/12 of the cap and to [8] at 1/6; every
# class's sequences are redrawn every epoch, and every rate decays along a cosine over the
# 600-epoch cap. Measured (32 per machine): EightBitMachine 84%, SimpleXORModified 88%, the
# other eight machines 97-100%; all but EightBit stop within ~25 epochs, where the decay has
# barely begun. With up to two restarts of a network unlearnt at the cap: every machine 100%
# (32/32; 10 of 320 networks restarted).
PARITY_LEARNING_RATE = 3e-3
EIGHTBIT_CURRICULUM = (2, 4, 8)
# The curriculum advances: [2, 4, 8] for the first 1/12 of the cap, [4, 8] until 1/6, then
# [8] (docs/machines.md, "An advancing curriculum (the recipe)": earlier stages learnt more).
EIGHTBIT_STAGES = (1 / 12, 1 / 6)
RECIPE_MAX_EPOCHS = 600
# Random restarts: what the recipe above leaves unlearnt is stuck runs (every failure ran to
# the cap at 0.96-0.99 accuracy with train loss = val loss); such a network is re-initialised
# and trained again, at most twice (docs/machines.md, "Restarts").
RECIPE_MAX_RESTARTS = 2


def _recipe_train(classes: tuple[str, ...], overrides: dict[str, Any]) -> TrainSpec:
    parity_class, eightbit_class = classes[0], classes[1]
    base = TrainSpec(n_train=1024, max_epochs=RECIPE_MAX_EPOCHS,
                     class_learning_rates=((parity_class, PARITY_LEARNING_RATE),),
                     class_address_curriculum=((eightbit_class, EIGHTBIT_CURRICULUM),),
                     fresh_train_data=classes, lr_schedule="cosine",
                     address_curriculum_stages=EIGHTBIT_STAGES,
                     max_restarts=RECIPE_MAX_RESTARTS)
    if overrides.get("learning_rate_grid") is not None:  # a grid replaces the Parity rate
        overrides = {"class_learning_rates": None, **overrides}
    if "class_address_curriculum" in overrides and overrides["class_address_curriculum"] is None:
        overrides = {"address_curriculum_stages": None, **overrides}  # no curriculum to advance
    return dataclasses.replace(base, **overrides)


def ds1(per_class: int, *, seed: int = 0, **train_overrides: Any) -> DatasetSpec:
    """DS1: GRU networks mimicking the five simple machines.

    ``train_overrides`` replace fields of the recipe's :class:`TrainSpec` (e.g.
    ``max_epochs=40``; ``learning_rate`` changes every class but ParityMachine, whose rate is
    in ``class_learning_rates``).
    """
    train = _recipe_train(DS1_CLASSES, train_overrides)
    return DatasetSpec(name="ds1", classes=DS1_CLASSES, per_class=per_class, seed=seed,
                       train=train)


def ds2(per_class: int, *, seed: int = 0, **train_overrides: Any) -> DatasetSpec:
    """DS2: the same network and recipe as DS1, on the five *modified* machines.

    Same seed, same recipe (ParityModified gets ParityMachine's rate): network (class c,
    replicate r) starts from the same key material as its DS1 twin except for the dataset
    name, so DS1 and DS2 stores compare directly.
    """
    train = _recipe_train(DS2_CLASSES, train_overrides)
    return DatasetSpec(name="ds2", classes=DS2_CLASSES, per_class=per_class, seed=seed,
                       train=train)


# DS3's "wide" network: 2 GRU layers of 24 over the 2-bit input, head 24 -> 16 -> 1.
DS3_MODEL = GRUSpec(input_size=2, hidden_size=24, num_layers=2, head=(16,), output_size=1)


def ds3(per_class: int, *, seed: int = 0, automata_seed: int = 0,
        **train_overrides: Any) -> DatasetSpec:
    """DS3: a wider GRU on 100 random automata from a seeded generator.

    The recipe is :class:`TrainSpec`'s defaults except that every automaton's training
    sequences are redrawn every epoch (``fresh_train_data``; docs/machines.md, "Learnt share
    at the DS3 recipe": 100% of 200 networks learnt, against 56% on a fixed training set).
    """
    automata = AutomataSpec(seed=automata_seed)
    train = dataclasses.replace(TrainSpec(fresh_train_data=automata.names()),
                                **train_overrides)
    return DatasetSpec(name="ds3", classes=automata.names(), per_class=per_class, seed=seed,
                       model=DS3_MODEL, train=train, automata=automata)


# DS4's network (docs/ds4.md, "The network"): three hidden ReLU layers of 128 (134,794
# parameters). MLDS said only "Dense"; a single hidden layer of 32 (25,450 parameters, the
# class default) carried badnetv2's rotated, randomly placed trigger at a median attack
# success of 0.57 at 5% poison on real MNIST images, three layers of 128 at 0.81.
DS4_WIDTHS = (784, 128, 128, 128, 10)
"""DS4's dense network: 784 -> 128 -> 128 -> 128 -> 10 with ReLU (docs/ds4.md)."""
# badnetv2's recipe shows each poisoned sample's trigger at a fresh placement every epoch
# (PoisonSpec.placements = epochs): a dense net learns the trigger separately at every spot,
# and on full MNIST one fixed placement per sample left badnetv2_alpha05's median attack
# success at 0.76; 4 placements gave 0.84, one per epoch (20) 0.88 at the same clean
# accuracy (docs/ds4.md, "Trigger placements").


def ds4(name: str, n_networks: int, *, image_set: str | None = None, seed: int = 0,
        poison_fraction_grid: tuple[float, ...] | None = None,
        widths: tuple[int, ...] = DS4_WIDTHS, placements: int | None = None,
        **train_overrides: Any):
    """One of DS4's 15 datasets by its MLDS name, e.g. ``"MNISTbadnetv2_rr10"``.

    ``widths``: the dense network's layer widths (default :data:`DS4_WIDTHS`; e.g.
    ``(784, 32, 10)`` for the one-hidden-layer net of earlier mlds-jax versions).

    ``image_set`` replaces the dataset's images (e.g. ``"digits"``, the embedded default that
    needs no download) while keeping its poison recipe. ``poison_fraction_grid`` poisons
    network ``i`` with ``grid[i % len(grid)]`` instead of the name's fraction
    (:class:`PoisonSpec` ``fraction_grid``; badnet datasets only).

    ``placements`` (badnetv2 datasets): trigger placements per poisoned sample (``None``: the
    recipe's one per epoch, at most 32; 1: MLDS's fixed poisoned set, accepted by every
    dataset; see :class:`PoisonSpec`).
    """
    from mlds_jax.spec._image import MAX_PLACEMENTS, DenseTrainSpec, ImageDatasetSpec, PoisonSpec

    if name not in DS4_DATASETS:
        raise UnknownDatasetError(f"unknown DS4 dataset {name!r}; known: "
                                  f"{', '.join(DS4_DATASETS)}")
    base = name.split("clean")[0].split("badnet")[0].lower()
    train = dataclasses.replace(DenseTrainSpec(), **train_overrides)
    poison = None
    if "badnet" in name:
        kind = "badnetv2" if "badnetv2" in name else "badnet"
        trigger = "rr" if "_rr" in name else "alpha"
        if placements is None:  # badnetv2's recipe: a fresh placement every epoch
            placements = min(train.epochs, MAX_PLACEMENTS) if kind == "badnetv2" else 1
        poison = PoisonSpec(kind, trigger, int(name[-2:]) / 100, poison_fraction_grid,
                            placements)
    elif poison_fraction_grid is not None or placements not in (None, 1):
        what = "poison_fraction_grid" if poison_fraction_grid is not None else "placements"
        raise SpecError(f"`{what}`: {name} is a clean dataset (nothing is "
                        "poisoned); give a badnet dataset such as MNISTbadnet_alpha10")
    return ImageDatasetSpec(name=name, image_set=image_set or base, n_networks=n_networks,
                            widths=widths, poison=poison, train=train, seed=seed)


RECIPES = {"ds1": ds1, "ds2": ds2, "ds3": ds3}  # DS4 datasets go by name through ds4()


def get_recipe(name: str):
    """Returns the recipe function for dataset ``name`` (case-insensitive)."""
    try:
        return RECIPES[name.lower()]
    except KeyError:
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(RECIPES))}, "
            "or a DS4 name such as MNISTbadnet_alpha10 (see `mlds-jax list`)"
        ) from None
