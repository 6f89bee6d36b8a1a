"""store/_verify.py and store/_lock.py: chunk-level checks, repair, the writer lock."""

import json
import os
import socket

import numpy as np
import pytest
import zarr
from helpers import synthetic_store

from mlds_jax.errors import StoreError
from mlds_jax.store._lock import acquire, lock_path, release, remove_orphans, writer_lock
from mlds_jax.store._verify import check_store, repair_or_refuse


@pytest.fixture
def store(tmp_path):
    return synthetic_store(tmp_path / "s.zarr", planted=0.0, per_class=4).path


def test_clean_store_has_nothing_to_report(store):
    c = check_store(store)
    assert (c.fatal, c.damaged, c.rewritable, c.pending.size) == ([], {}, {}, 0)


def test_chunks_carry_checksums(store):
    codecs = json.dumps(json.loads((store / "epochs" / "zarr.json").read_text())["codecs"])
    assert '"checksum": true' in codecs and '"crc32c"' in codecs


def test_damage_is_sorted_into_repairable_and_fatal(store):
    (store / "epochs" / "c" / "1").write_bytes(b"garbage!")
    (store / "key" / "c" / "0" / "0").write_bytes(b"garbage!")
    zarr.open_group(str(store), mode="r+")["status"][12:16] = 5
    c = check_store(store)
    assert sorted(c.damaged) == [1, 3] and list(c.rewritable) == ["key"]
    assert c.damaged[1][0].startswith("epochs/c/1: unreadable chunk")
    assert c.damaged[3] == ["status: unknown code 5 at network 12 (4 in the block)"]
    assert not c.fatal


def test_repair_resets_blocks_and_rewrites_planned(store):
    planned = {"key": np.asarray(zarr.open_group(str(store))["key"][...])}
    (store / "key" / "c" / "0" / "0").write_bytes(b"garbage!")
    (store / "params" / "c" / "2" / "0").unlink()
    c = repair_or_refuse(store, planned)
    assert list(c.damaged) == [2]
    g = zarr.open_group(str(store))
    np.testing.assert_array_equal(g["key"][...], planned["key"])
    assert (g["status"][8:12] == 0).all() and (g["status"][:8] == 1).all()


def test_metadata_damage_is_refused_untouched(store):
    (store / "epochs" / "zarr.json").write_text("{")
    before = (store / "status" / "c" / "0").read_bytes()
    with pytest.raises(StoreError, match=r"damaged store metadata: epochs/zarr.json.*new `out`"):
        repair_or_refuse(store, {})
    assert (store / "status" / "c" / "0").read_bytes() == before


def test_lock_refuses_a_second_writer_and_takes_over_a_dead_one(tmp_path):
    out = tmp_path / "s.zarr"
    with writer_lock(out) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
        with pytest.raises(StoreError, match=r"being written by PID \d+ on "):
            acquire(out)
    assert not lock_path(out).exists()
    lock_path(out).write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname()}))
    path = acquire(out)  # that PID is not running here: stale
    release(path)
    assert not path.exists()


def test_orphans_removed_only_when_they_match(tmp_path):
    out = tmp_path / "s.zarr"
    (tmp_path / ".s.zarr.tmp-0123abcd").mkdir()
    (tmp_path / ".s.zarr.tmp-notmine").mkdir()
    (tmp_path / ".other.zarr.tmp-0123abcd").mkdir()
    assert [p.name for p in remove_orphans(out)] == [".s.zarr.tmp-0123abcd"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.zarr.tmp-0123abcd",
                                                          ".s.zarr.tmp-notmine"]
