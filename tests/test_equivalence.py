"""One pipeline, equal bits: for DS1 and DS4 a plain run, a retire-and-refill run with
checkpoints, a 2-process run and runs with other block sizes give stores that are equal bit
for bit (same machine and backend; every path trains through the same fixed-width chunk
programs). A Ray run's equality is tests/coord/test_ray.py's."""

import numpy as np
import pytest
from helpers import tiny_ds1

from mlds_jax.pipeline import generate
from mlds_jax.spec import DatasetSpec, ds4
from mlds_jax.store import open_store, verify

ARRAYS = ("status", "epochs", "stopped_early", "params", "final_train_loss",
          "final_val_loss", "history/train_loss", "history/val_loss",
          # snapshots along training and probe outputs (the default recording)
          "snapshots/params", "snapshots/reached", "probe/outputs")


def _seq_spec():
    base = tiny_ds1(per_class=4, max_epochs=12, stop_val_loss=0.64, n_train=32,
                    max_restarts=1)
    # mixed stopping times: easy machines stop early, hard ones run to the cap, restart
    # (max_restarts) and run to it again
    return DatasetSpec(name="mix", classes=("SingleDirectMachine", "ParityMachine",
                                            "EightBitMachine"), per_class=4, train=base.train)


def _image_spec():
    return ds4("MNISTbadnet_alpha10", 12, image_set="digits", epochs=3, widths=(784, 32, 10))


def _assert_same(a_path, b_path, extra):
    a, b = open_store(a_path), open_store(b_path)
    for name in ARRAYS + extra:
        np.testing.assert_array_equal(a[name], b[name], err_msg=f"{name}: {a_path.name}")


@pytest.mark.parametrize("make_spec,extra", [
    (_seq_spec, ("val_bit_accuracy", "restarts")),
    (_image_spec, ("clean_accuracy", "attack_success_rate", "poisoned_samples")),
], ids=["ds1", "ds4"])
def test_every_path_gives_the_same_store(tmp_path, make_spec, extra):
    spec = make_spec()
    run = dict(progress=False, chunk_width=4)
    generate(spec, tmp_path / "plain.zarr", block_size=8, **run)
    generate(spec, tmp_path / "small.zarr", block_size=4, **run)
    _, s = generate(spec, tmp_path / "refill.zarr", block_size=8, refill_every=2,
                    checkpoint_every=2, **run)
    assert s["networks"] == spec.n_networks and s["segments"] > 1
    for i in (1, 0):  # two workers, one after the other, on one store
        generate(spec, tmp_path / "two.zarr", block_size=8, process_index=i,
                 process_count=2, **run)
    for name in ("small", "refill", "two"):
        assert verify(tmp_path / f"{name}.zarr") == []
        _assert_same(tmp_path / "plain.zarr", tmp_path / f"{name}.zarr", extra)
    if spec.task == "sequence":  # networks really stopped at different epochs and restarted
        plain = open_store(tmp_path / "plain.zarr")
        assert len(set(plain["epochs"].tolist())) > 1
        assert set(plain["restarts"].tolist()) == {0, 1}
        assert plain["history/val_loss"].shape == (spec.n_networks, 24)
        from mlds_jax.summary import metrics_table
        rows = metrics_table(tmp_path / "plain.zarr").splitlines()
        assert rows[0].split("|")[-1].strip() == "restarted"
        cls, rs = plain["class_id"], plain["restarts"]
        for k, row in enumerate(rows[2:]):  # the share of each class's networks restarted
            assert row.split("|")[-1].strip() == f"{100 * np.mean(rs[cls == k] > 0):.1f}%"


def test_resume_refuses_another_chunk_width_or_gru_kernel(tmp_path):
    import zarr

    from mlds_jax.errors import SpecError
    from mlds_jax.models import resolve_gru_kernel

    spec = tiny_ds1(per_class=1, max_epochs=1)
    out = tmp_path / "s.zarr"
    generate(spec, out, block_size=4, chunk_width=4, progress=False)
    assert open_store(out).attrs["chunk_width"] == 4
    with pytest.raises(SpecError, match="trained in chunks of 4"):
        generate(spec, out, block_size=4, chunk_width=8, progress=False)
    g = zarr.open_group(str(out), mode="r+")
    attrs = dict(g.attrs["mlds_jax"])
    other = "xla" if resolve_gru_kernel() == "fused" else "fused"
    g.attrs["mlds_jax"] = {**attrs, "gru_kernel": other}
    with pytest.raises(SpecError, match=f"MLDS_JAX_GRU_KERNEL={other}"):
        generate(spec, out, block_size=4, progress=False)


class _Killed(Exception):
    pass


def test_refill_pool_killed_after_a_block_write_resumes_to_equal_bits(tmp_path, monkeypatch):
    from mlds_jax.store import StoreWriter

    spec = _seq_spec()
    run = dict(block_size=4, chunk_width=4, progress=False)
    generate(spec, tmp_path / "plain.zarr", **run)
    real = StoreWriter.write_block
    writes = []

    def write_then_die(self, block, results):
        real(self, block, results)
        writes.append(block)
        if len(writes) == 2:  # a block written after the pool's last checkpoint, then killed
            raise _Killed

    monkeypatch.setattr(StoreWriter, "write_block", write_then_die)
    with pytest.raises(_Killed):
        generate(spec, tmp_path / "r.zarr", refill_every=2, checkpoint_every=2, **run)
    monkeypatch.setattr(StoreWriter, "write_block", real)
    _, s = generate(spec, tmp_path / "r.zarr", refill_every=2, checkpoint_every=2, **run)
    assert 0 < s["networks"] < spec.n_networks
    assert verify(tmp_path / "r.zarr") == []
    _assert_same(tmp_path / "plain.zarr", tmp_path / "r.zarr", ("val_bit_accuracy", "restarts"))
    assert not list((tmp_path / "r.zarr.ckpt").rglob("block-*"))  # removed when done
