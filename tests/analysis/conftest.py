"""Fixtures shared by the analysis tests."""

import pytest
from helpers import synthetic_store


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Two synthetic DS1 stores of 4 networks per class: ``a`` complete, ``b`` with 12
    finished networks (the rest pending)."""
    d = tmp_path_factory.mktemp("two")
    a = synthetic_store(d / "a.zarr", 1.0, per_class=4)
    b = synthetic_store(d / "b.zarr", 0.5, per_class=4, complete=False, seed=1)  # 12 done
    return a, b
