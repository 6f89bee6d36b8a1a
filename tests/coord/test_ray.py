"""Ray backend on a local Ray cluster: the store equals a single-process run."""

import numpy as np
import pytest
from helpers import tiny_ds1

from mlds_jax.pipeline import generate
from mlds_jax.store import open_store, verify

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_store_equals_single_process(tmp_path, local_ray):
    spec = tiny_ds1(per_class=3)  # 15 networks, 4 blocks of 4
    _, s = generate(spec, tmp_path / "ray.zarr", block_size=4, progress=False, backend="ray")
    assert s["networks"] == 15
    assert verify(tmp_path / "ray.zarr") == []
    generate(spec, tmp_path / "one.zarr", block_size=4, progress=False)
    a, b = open_store(tmp_path / "ray.zarr"), open_store(tmp_path / "one.zarr")
    for name in ("params", "status", "epochs", "final_val_loss", "history/train_loss"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # resuming with Ray finds nothing to do
    _, s2 = generate(spec, tmp_path / "ray.zarr", block_size=4, progress=False, backend="ray")
    assert s2["networks"] == 0
