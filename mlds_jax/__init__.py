"""mlds-jax: datasets of trained neural networks (MLDS model zoos), trained in bulk with JAX."""

from mlds_jax._version import __version__
from mlds_jax.errors import MLDSError, SpecError, StoreError, UnknownDatasetError
from mlds_jax.spec import DatasetSpec, GRUSpec, TrainSpec, ds1, get_recipe

__all__ = [
    "DatasetSpec",
    "GRUSpec",
    "MLDSError",
    "SpecError",
    "StoreError",
    "TrainSpec",
    "UnknownDatasetError",
    "__version__",
    "ds1",
    "get_recipe",
]
