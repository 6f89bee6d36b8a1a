"""The backend contract: every :class:`~mlds_jax.coord.Backend` trains each block this
process owns and the sink lacks, once, into the same bits as the local backend, whether the
run is fresh, resumed or split over processes (``process_index`` of ``process_count``).
The Ray backend passes it in tests/coord/test_ray.py (on that file's one Ray cluster)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import tiny_ds1

from mlds_jax.coord import Backend, LocalBackend, MemorySink, RefillBackend
from mlds_jax.train import make_runner

SPEC = tiny_ds1(per_class=1, max_epochs=2, snapshot_epochs="none")  # 5 networks
BLOCK = 2  # blocks 0, 1 and a short block 2


class CountingSink(MemorySink):
    """A :class:`MemorySink` that also records the order of its writes."""

    def __init__(self, block_size: int):
        super().__init__(block_size)
        self.writes: list[int] = []

    def write_block(self, block: int, results: dict[str, np.ndarray]) -> None:
        self.writes.append(block)
        super().write_block(block, results)


@pytest.fixture(scope="module")
def runner():
    return make_runner(SPEC)


@pytest.fixture(scope="module")
def reference(runner):
    """Every block of a fresh local run: block -> its result rows."""
    sink = MemorySink(BLOCK)
    LocalBackend(runner).run(SPEC, sink, progress=False)
    return sink.blocks


BACKENDS = {
    "local": lambda runner: LocalBackend(runner),
    "refill": lambda runner: RefillBackend(runner, epochs_per_segment=1),
}


@pytest.fixture(params=list(BACKENDS), ids=list(BACKENDS))
def backend(request, runner) -> Backend:
    return BACKENDS[request.param](runner)


def _assert_rows_equal(sink: MemorySink, reference: dict) -> None:
    assert set(sink.blocks) == set(reference)
    for b, rows in reference.items():
        for field, want in rows.items():
            np.testing.assert_array_equal(sink.blocks[b][field], want, err_msg=f"{b} {field}")


def test_a_fresh_run_writes_every_block_once(backend, reference):
    sink = CountingSink(BLOCK)
    summary = backend.run(SPEC, sink, progress=False)
    assert sorted(sink.writes) == [0, 1, 2]
    assert summary["networks"] == SPEC.n_networks
    assert summary["seconds"] > 0 and summary["networks_per_second"] > 0
    _assert_rows_equal(sink, reference)


def test_a_resumed_run_trains_only_the_missing_blocks(backend, reference):
    sink = CountingSink(BLOCK)
    sink.blocks[1] = reference[1]  # as if a first run had written block 1 and died
    summary = backend.run(SPEC, sink, progress=False)
    assert sorted(sink.writes) == [0, 2]
    assert summary["networks"] == SPEC.n_networks - BLOCK
    _assert_rows_equal(sink, reference)


def test_two_processes_split_the_blocks_and_equal_one(backend, reference):
    sink = CountingSink(BLOCK)
    first = backend.run(SPEC, sink, progress=False, process_index=0, process_count=2)
    assert sorted(sink.writes) == [0, 2] and first["networks"] == 3
    second = backend.run(SPEC, sink, progress=False, process_index=1, process_count=2)
    assert sorted(sink.writes) == [0, 1, 2] and second["networks"] == 2
    _assert_rows_equal(sink, reference)

