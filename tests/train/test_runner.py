"""Bit-exact blocks: a network's stored floats do not depend on the block, its size, its
neighbours, its slot, or how its run is split into segments (same backend and machine)."""

import numpy as np
import pytest
from helpers import fake_image_data, kernel_or_skip, tiny_ds1

from mlds_jax.spec import ds4
from mlds_jax.train import (
    CPU_WIDTH,
    ChunkRunner,
    concat_rows,
    make_block_trainer,
    make_runner,
    network_inputs,
    pad_rows,
    task_width,
)
from mlds_jax.train._runner import FUSED_CPU_WIDTH, fused_gru_width


def _assert_rows_equal(a, b, rows_a, rows_b):
    for name, x, y in zip(a._fields, a, b):
        np.testing.assert_array_equal(np.asarray(x)[rows_a], np.asarray(y)[rows_b],
                                      err_msg=name)


@pytest.fixture(scope="module")
def seq_spec():
    # lr high enough that some networks stop early at different epochs
    return tiny_ds1(per_class=4, max_epochs=6)


def test_sequence_networks_do_not_depend_on_block_or_lane(seq_spec):
    trainer = make_block_trainer(seq_spec, width=4)
    whole = trainer(network_inputs(seq_spec, np.arange(12)))  # 3 chunks
    shifted = trainer(network_inputs(seq_spec, np.arange(3, 10)))  # other lanes, padded
    alone = trainer(network_inputs(seq_spec, np.array([7])))  # one network, 3 pad copies
    _assert_rows_equal(whole, shifted, slice(3, 10), slice(0, 7))
    _assert_rows_equal(whole, alone, slice(7, 8), slice(0, 1))


def test_segments_equal_a_whole_run(seq_spec):
    runner = make_runner(seq_spec, width=4)
    inputs = network_inputs(seq_spec, np.arange(8))
    chunks = runner.split(inputs)
    whole = concat_rows(runner.finish(chunks, runner.segment(chunks, runner.init(chunks),
                                                             seq_spec.train.max_epochs)))
    states = runner.init(chunks)
    for _ in range(4):  # 4 segments of 2 epochs (the last ones run nothing)
        states = runner.segment(chunks, states, 2)
    assert not runner.active(states).any()
    split = concat_rows(runner.finish(chunks, states))
    _assert_rows_equal(whole, split, slice(None), slice(None))


def test_image_networks_do_not_depend_on_block_or_segments():
    spec = ds4("MNISTbadnet_alpha10", 8, epochs=2)
    data = fake_image_data(256)
    runner = make_runner(spec, data, width=4)
    whole = runner.train(network_inputs(spec, np.arange(8)), spec.train.max_epochs)
    part = runner.train(network_inputs(spec, np.arange(5, 8)), spec.train.max_epochs)
    _assert_rows_equal(whole, part, slice(5, 8), slice(0, 3))
    chunks = runner.split(network_inputs(spec, np.arange(8)))
    states = runner.segment(chunks, runner.segment(chunks, runner.init(chunks), 1), 1)
    assert not runner.active(states).any()
    _assert_rows_equal(whole, concat_rows(runner.finish(chunks, states)), slice(None),
                       slice(None))


def test_pad_rows_repeats_the_last_row_and_bad_width_is_refused():
    x = {"a": np.arange(3), "b": np.arange(6).reshape(3, 2)}
    p = pad_rows(x, 5)
    np.testing.assert_array_equal(p["a"], [0, 1, 2, 2, 2])
    np.testing.assert_array_equal(p["b"][3:], [[4, 5], [4, 5]])
    with pytest.raises(ValueError, match="chunk width"):
        ChunkRunner(make_runner(tiny_ds1(), width=2).parts, 0)


def test_fused_gru_chunks_hold_two_tiles_and_other_tasks_keep_the_default(monkeypatch):
    assert fused_gru_width() == FUSED_CPU_WIDTH == 2 * CPU_WIDTH
    assert fused_gru_width(block_size=8) == CPU_WIDTH  # a block that fills one tile
    assert fused_gru_width(block_size=9) == FUSED_CPU_WIDTH
    monkeypatch.setenv("MLDS_JAX_GRU_KERNEL", "xla")  # the XLA GRU: the CPU default
    assert task_width(tiny_ds1()) == CPU_WIDTH
    assert task_width(ds4("MNISTclean", 4)) == CPU_WIDTH  # dense nets: the CPU default
    kernel_or_skip()  # fails where a compiler exists and the kernel does not build
    monkeypatch.setenv("MLDS_JAX_GRU_KERNEL", "fused")
    assert task_width(tiny_ds1(), block_size=64) == FUSED_CPU_WIDTH
    assert task_width(tiny_ds1(), block_size=4) == CPU_WIDTH
    assert make_runner(tiny_ds1()).width == FUSED_CPU_WIDTH
