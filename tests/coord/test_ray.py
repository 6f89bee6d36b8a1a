"""Ray backend on a local Ray cluster: the store equals a single-process run."""

import numpy as np
import pytest
from helpers import tiny_ds1

from mlds_jax.pipeline import generate
from mlds_jax.store import open_store, verify

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
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


def test_ray_tasks_train_on_the_drivers_gru_kernel(tmp_path, local_ray, monkeypatch):
    """The cluster started without MLDS_JAX_GRU_KERNEL (as one started elsewhere would be);
    the driver then chooses the XLA GRU: its tasks train on it, as the store records, and
    their floats are the local XLA run's (the fused kernel's differ in the last bits)."""
    spec = tiny_ds1(per_class=1, max_epochs=2, snapshot_epochs="none")
    monkeypatch.setenv("MLDS_JAX_GRU_KERNEL", "xla")
    generate(spec, tmp_path / "ray.zarr", block_size=8, progress=False, backend="ray")
    generate(spec, tmp_path / "one.zarr", block_size=8, progress=False)
    a, b = open_store(tmp_path / "ray.zarr"), open_store(tmp_path / "one.zarr")
    assert a.attrs["gru_kernel"] == "xla"
    np.testing.assert_array_equal(a["params"], b["params"])


def test_ray_refuses_checkpoints_and_refill(tmp_path):
    from mlds_jax.errors import SpecError

    for flag in ({"checkpoint_every": 2}, {"refill_every": 2}):
        with pytest.raises(SpecError, match="does not support"):
            generate(tiny_ds1(), tmp_path / "x.zarr", backend="ray", progress=False, **flag)
    assert not (tmp_path / "x.zarr").exists()


def test_ray_backend_passes_the_backend_contract(tmp_path, local_ray):
    """tests/coord/test_backend.py's contract on this file's cluster: split over two
    processes and resumed, the Ray backend's tasks write each missing block once, into the
    local backend's bits."""
    import functools

    import zarr

    from mlds_jax.coord import LocalBackend, MemorySink, RayBackend
    from mlds_jax.pipeline import planned_arrays, prepare_task
    from mlds_jax.store import StoreWriter, block_results
    from mlds_jax.train import make_block_trainer, make_runner

    spec, bs = tiny_ds1(per_class=1, max_epochs=2, snapshot_epochs="none"), 2  # 3 blocks
    runner = make_runner(spec)
    reference = MemorySink(bs)
    LocalBackend(runner).run(spec, reference, progress=False)
    prepared, path = prepare_task(spec), tmp_path / "s.zarr"
    sink = StoreWriter.open_or_create(path, spec, block_size=bs, layout=prepared.layout,
                                      planned=planned_arrays(spec), provenance={},
                                      tables=prepared.tables)
    sink.write_block(1, reference.blocks[1])  # a resumed run: block 1 is there
    backend = RayBackend(functools.partial(StoreWriter, path, spec, bs),
                         functools.partial(make_block_trainer, spec, None, runner.width))
    first = backend.run(spec, sink, progress=False, process_index=0, process_count=2)
    second = backend.run(spec, sink, progress=False, process_index=1, process_count=2)
    assert (first["networks"], second["networks"]) == (3, 0)
    assert sink.completed_blocks() == {0, 1, 2}
    g = zarr.open_group(str(path), mode="r")
    for b, rows in reference.blocks.items():
        lo, hi = b * bs, min((b + 1) * bs, spec.n_networks)
        for name, field in block_results(g.attrs["mlds_jax"]).items():
            np.testing.assert_array_equal(g[name][lo:hi], rows[field], err_msg=f"{b} {name}")
