"""The sink contract: what the coordinator needs of wherever finished blocks go, checked for
every sink (the in-memory reference and the Zarr store writer), and a run into the store equal
to a run into memory, interrupted or not."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from helpers import tiny_ds1

from mlds_jax.coord import MemorySink, pending_blocks, run_blocks
from mlds_jax.pipeline import planned_arrays, prepare_task
from mlds_jax.store import StoreWriter
from mlds_jax.store._schema import results_map
from mlds_jax.train import make_runner

SPEC = tiny_ds1(per_class=1, max_epochs=2)  # 5 networks
BLOCK = 2  # blocks 0, 1 and a short block 2


@pytest.fixture(scope="module")
def trained():
    """A finished run in memory: block -> its result rows (the reference)."""
    sink = MemorySink(BLOCK)
    run_blocks(SPEC, sink, make_runner(SPEC), progress=False)
    return sink.blocks


class MemoryCase:
    """How the contract makes, reopens and reads a :class:`MemorySink`."""

    def make(self, tmp_path):
        return MemorySink(BLOCK)

    def reopen(self, sink, tmp_path):
        return sink  # it lives as long as the process: a resume is the same object

    def rows(self, sink, block: int) -> dict[str, np.ndarray]:
        return sink.blocks[block]


class StoreCase:
    """How the contract makes, reopens and reads a store's :class:`StoreWriter`."""

    def make(self, tmp_path):
        prepared = prepare_task(SPEC)
        return StoreWriter.open_or_create(tmp_path / "s.zarr", SPEC, block_size=BLOCK,
                                          layout=prepared.layout, planned=planned_arrays(SPEC),
                                          provenance={}, tables=prepared.tables)

    def reopen(self, sink, tmp_path):
        prepared = prepare_task(SPEC)
        return StoreWriter.open_or_create(tmp_path / "s.zarr", SPEC, block_size=BLOCK,
                                          layout=prepared.layout, planned=planned_arrays(SPEC),
                                          provenance={}, tables=prepared.tables)

    def rows(self, sink, block: int) -> dict[str, np.ndarray]:
        g = zarr.open_group(str(sink.path), mode="r")
        lo, hi = block * BLOCK, min((block + 1) * BLOCK, SPEC.n_networks)
        out = {field: g[name][lo:hi] for name, field in results_map(sink.task).items()}
        out["failed"] = g["status"][lo:hi] == 2
        return out


@pytest.fixture(params=[MemoryCase(), StoreCase()], ids=["memory", "store"])
def case(request):
    return request.param


def test_a_new_sink_has_no_block_and_every_block_is_pending(case, tmp_path):
    sink = case.make(tmp_path)
    assert sink.block_size == BLOCK
    assert sink.completed_blocks() == set()
    assert pending_blocks(sink, SPEC.n_networks) == ([0, 1, 2], [0, 1, 2])


def test_written_blocks_read_back_and_survive_a_reopen(case, tmp_path, trained):
    sink = case.make(tmp_path)
    for b in (2, 0):  # out of order, the short block included
        sink.write_block(b, trained[b])
    assert sink.completed_blocks() == {0, 2}
    sink = case.reopen(sink, tmp_path)
    assert sink.completed_blocks() == {0, 2}
    assert pending_blocks(sink, SPEC.n_networks)[1] == [1]
    for b in (0, 2):
        got = case.rows(sink, b)
        for field, rows in got.items():
            np.testing.assert_array_equal(rows, trained[b][field], err_msg=field)


def test_an_interrupted_run_resumes_to_the_uninterrupted_bits(case, tmp_path, trained):
    sink = case.make(tmp_path)
    sink.write_block(1, trained[1])  # as if a first run had finished block 1 and died
    summary = run_blocks(SPEC, case.reopen(sink, tmp_path), make_runner(SPEC), progress=False)
    assert summary["networks"] == SPEC.n_networks - BLOCK  # only the missing blocks trained
    for b in range(3):
        for field, rows in case.rows(sink, b).items():
            np.testing.assert_array_equal(rows, trained[b][field], err_msg=f"{b} {field}")
