"""The catalogue of built-in datasets and their planned sizes (as MLC@Home published them)."""

from __future__ import annotations

import dataclasses

from mlds_jax.spec._dataset import AutomataSpec
from mlds_jax.spec._recipes import (
    DS1_CLASSES,
    DS2_CLASSES,
    DS4_DATASETS,
    PLANNED_SIZES,
    RECIPES,
)


@dataclasses.dataclass(frozen=True)
class CatalogueEntry:
    """One row of ``mlds-jax list``: a dataset family, its classes and planned sizes."""

    name: str
    description: str
    classes: tuple[str, ...]
    sizes: tuple[int, ...]  # planned networks per class
    available: bool  # a recipe exists in this version

    @property
    def status(self) -> str:
        """``"available"`` (a recipe exists in this version) or ``"planned"``."""
        return "available" if self.available else "planned"


# The dataset families MLDS planned, with what this version can build (``mlds-jax list``).
CATALOGUE: tuple[CatalogueEntry, ...] = (
    CatalogueEntry("ds1", "GRU networks mimicking 5 simple machines", DS1_CLASSES,
                   PLANNED_SIZES, "ds1" in RECIPES),
    CatalogueEntry("ds2", "the same networks on 5 slightly modified machines", DS2_CLASSES,
                   PLANNED_SIZES, "ds2" in RECIPES),
    CatalogueEntry("ds3", "GRU networks on 100 random automata",
                   AutomataSpec().names(), PLANNED_SIZES,
                   "ds3" in RECIPES),
    CatalogueEntry("ds4", "dense networks on MNIST/FashionMNIST/KMNIST, clean and BadNets",
                   DS4_DATASETS, (50_000,), True),
)
