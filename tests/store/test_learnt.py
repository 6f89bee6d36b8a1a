"""The per-network ``learnt`` flag: stored by the trainer by the spec's rule, recorded
thresholds, and stores written before the flag existed (format version 1)."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import zarr

from mlds_jax.errors import SpecError
from mlds_jax.pipeline import generate
from mlds_jax.spec import DatasetSpec, ImageDatasetSpec, ds4, learnt_flag
from mlds_jax.store import open_store, verify
from mlds_jax.store._writer import _spec_diff
from mlds_jax.summary import metrics_table, status_record, status_table
from tests.helpers import tiny_ds1


def _spec():
    # a low bar, so that a 4-epoch zoo has networks on both sides of it
    return dataclasses.replace(tiny_ds1(per_class=4), learnt_bit_accuracy=0.6)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("learnt") / "s.zarr"
    generate(_spec(), path, block_size=4, progress=False)
    return path


def test_stored_flag_is_the_spec_rule_on_the_stored_metric(store):
    s = open_store(store)
    acc, learnt = s["val_bit_accuracy"], s["learnt"]
    assert s.attrs["learnt_thresholds"] == {"val_bit_accuracy": 0.6}
    np.testing.assert_array_equal(learnt, acc >= np.float32(0.6))
    assert learnt.any() and not learnt.all()  # both sides, so the test can fail
    np.testing.assert_array_equal(s.learnt(), learnt)
    shares = s.learnt_share()
    cls = s["class_id"]
    for k, name in enumerate(s.class_names):
        assert shares[name] == np.mean(learnt[cls == k])


def test_status_reports_the_learnt_share(store):
    rec = status_record(str(store))
    learnt = open_store(store)["learnt"]
    assert [r["learnt"] for r in rec["classes"]] == [int(learnt[4 * k:4 * k + 4].sum())
                                                     for k in range(5)]
    assert rec["overall"]["learnt"] == int(learnt.sum())
    assert rec["learnt_thresholds"] == {"val_bit_accuracy": 0.6}
    text = status_table(str(store))
    assert "val_bit_accuracy >= 0.6" in text
    assert f"{int(learnt.sum())}/20" in text


def _as_format(src, dst, version):
    """A copy of ``src`` as an older version wrote it: version 2 has no ``restarts`` array;
    version 1 also no ``learnt`` array and no thresholds."""
    shutil.copytree(src, dst)
    shutil.rmtree(dst / "restarts")
    g = zarr.open_group(str(dst), mode="r+")
    a = dict(g.attrs["mlds_jax"])
    a["format_version"] = version
    if version == 1:
        shutil.rmtree(dst / "learnt")
        del a["learnt_thresholds"]
    g.attrs["mlds_jax"] = a


@pytest.mark.parametrize("version,missing", [(1, ("learnt", "restarts")), (2, ("restarts",))])
def test_older_format_store_reads_verifies_and_resumes(store, tmp_path, version, missing):
    old = tmp_path / "old.zarr"
    _as_format(store, old, version)
    s = open_store(old)
    # the flag is computed by the same rule from the spec's threshold (version 1) or read
    np.testing.assert_array_equal(s.learnt(), open_store(store)["learnt"])
    assert verify(old) == []
    # resume it: the last block is retrained and written in the store's own layout
    g = zarr.open_group(str(old), mode="r+")
    g["status"][16:20] = np.zeros(4, np.uint8)
    _, summary = generate(_spec(), old, block_size=4, progress=False)
    assert summary["networks"] == 4
    for name in missing:
        assert name not in zarr.open_group(str(old), mode="r")
    assert verify(old) == []
    np.testing.assert_array_equal(open_store(old)["params"], open_store(store)["params"])
    assert "restarted" not in metrics_table(str(old))


def test_store_of_a_spec_without_the_field_still_resumes(tmp_path):
    # stores written before `learnt_bit_accuracy` existed lack it in their recorded spec
    spec = tiny_ds1(per_class=1)
    d = {k: v for k, v in spec.to_dict().items() if k != "learnt_bit_accuracy"}
    assert _spec_diff(d, spec.to_dict()) == []
    assert _spec_diff(d, _spec().to_dict()) == [
        "learnt_bit_accuracy: store has <missing>, requested 0.6",
        "per_class: store has 1, requested 4"]


def test_threshold_is_validated_and_round_trips():
    for bad in (0, 1.5, "0.9", float("nan"), True):
        with pytest.raises(SpecError, match="learnt_bit_accuracy"):
            dataclasses.replace(tiny_ds1(), learnt_bit_accuracy=bad)
        with pytest.raises(SpecError, match="learnt_clean_accuracy"):
            dataclasses.replace(ds4("MNISTclean", 4), learnt_clean_accuracy=bad)
    spec = _spec()
    assert DatasetSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    # the threshold judges networks; it never changes them (nor their keys) when unset
    assert spec.digest == tiny_ds1(4).digest
    img = dataclasses.replace(ds4("MNISTbadnetv2_rr10", 4), learnt_clean_accuracy=0.95)
    assert ImageDatasetSpec.from_dict(img.to_dict()) == img
    assert img.learnt_thresholds == {"clean_accuracy": 0.95, "attack_success_rate": 0.5}
    assert ds4("MNISTclean", 4).learnt_thresholds == {"clean_accuracy": 0.9}
    assert ds4("FashionMNISTclean", 4).learnt_thresholds == {"clean_accuracy": 0.8}


def test_rule_needs_every_threshold_and_rejects_nan():
    m = {"a": np.array([0.5, 0.9, 0.9, np.nan]), "b": np.array([1.0, 0.1, 1.0, 1.0])}
    np.testing.assert_array_equal(learnt_flag({"a": 0.9, "b": 0.5}, m),
                                  [False, False, True, False])
