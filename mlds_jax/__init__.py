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
    "open_store",
]


def __getattr__(name: str):
    # ``mlds_jax.open_store`` without importing zarr and the store package on ``import mlds_jax``
    if name == "open_store":
        from mlds_jax.store import open_store

        return open_store
    raise AttributeError(f"module 'mlds_jax' has no attribute {name!r}")
