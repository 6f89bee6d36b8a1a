"""Specs: frozen, validated descriptions of datasets and training recipes."""

from mlds_jax.spec._dataset import SPEC_VERSION, DatasetSpec, GRUSpec, TrainSpec
from mlds_jax.spec._recipes import DS1_CLASSES, PLANNED_SIZES, RECIPES, ds1, get_recipe

__all__ = [
    "DS1_CLASSES",
    "PLANNED_SIZES",
    "RECIPES",
    "SPEC_VERSION",
    "DatasetSpec",
    "GRUSpec",
    "TrainSpec",
    "ds1",
    "get_recipe",
]
