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
    for name in ("params", "status", "epochs", "final_val_loss", "history/train_loss",
                 "snapshots/params", "snapshots/reached", "probe/outputs"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # resuming with Ray finds nothing to do
    _, s2 = generate(spec, tmp_path / "ray.zarr", block_size=4, progress=False, backend="ray")
    assert s2["networks"] == 0


def test_ray_runs_ds4_and_equals_a_local_run(tmp_path, local_ray):
    from mlds_jax.spec import ds4

    spec = ds4("MNISTbadnet_alpha10", 6, image_set="digits", epochs=2, widths=(784, 32, 10))
    _, s = generate(spec, tmp_path / "ray.zarr", block_size=4, progress=False, backend="ray")
    assert s["networks"] == 6
    generate(spec, tmp_path / "one.zarr", block_size=4, progress=False)
    a, b = open_store(tmp_path / "ray.zarr"), open_store(tmp_path / "one.zarr")
    for name in ("params", "status", "clean_accuracy", "attack_success_rate",
                 "snapshots/params", "snapshots/reached", "probe/outputs"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_ray_refuses_checkpoints_and_refill(tmp_path):
    from mlds_jax.errors import SpecError

    for flag in ({"checkpoint_every": 2}, {"refill_every": 2}):
        with pytest.raises(SpecError, match="does not support"):
            generate(tiny_ds1(), tmp_path / "x.zarr", backend="ray", progress=False, **flag)
    assert not (tmp_path / "x.zarr").exists()
