"""The NaN guard, checked once per epoch: a network that diverges in epoch k + 1 is marked
failed, stops, and keeps the parameters and optimiser state it had after epoch k; the rest
of its chunk is bit for bit as in a run without it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import fake_image_data, tiny_ds1

from mlds_jax.spec import ds4
from mlds_jax.train import concat_rows, epoch_guard, make_runner, network_inputs

N, BAD, K = 5, 1, 2  # networks; the one made to diverge; epochs it trains normally first
# Adam's first step moves every parameter by about the rate: 2e38 is still finite after one
# step, and the next step in the same direction overflows to inf. So with two or more steps
# per epoch the network diverges mid-epoch, after a step whose loss and parameters are
# finite (the old per-step guard kept that step: this test tells the two apart).
HUGE = 2e38


def _leaves(tree, row):
    return [np.asarray(a)[row] for a in jax.tree_util.tree_leaves(tree)]


def _diverge_after_k_epochs(spec, data, rate, epochs_left):
    """(state after K epochs, state after diverging, state of a clean run, results)."""
    runner = make_runner(spec, data)
    inputs = network_inputs(spec, np.arange(N))
    chunks = runner.split(inputs)
    bad_lr = inputs.learning_rate.at[BAD].set(rate)
    bad_chunks = runner.split(inputs._replace(learning_rate=bad_lr))
    after_k = runner.segment(chunks, runner.init(chunks), K)[0]
    bad = runner.segment(bad_chunks, [after_k], epochs_left)[0]
    clean = runner.segment(chunks, [after_k], epochs_left)[0]
    results = [concat_rows(runner.finish(chunks, [s]), N) for s in (bad, clean)]
    return after_k, bad, clean, *results, runner


def _check(after_k, bad, clean, bad_res, clean_res, runner):
    assert bool(bad.failed[BAD]) and int(bad.epoch[BAD]) == K + 1  # stopped after epoch K+1
    assert not runner.active([bad])[BAD]
    for got, want in zip(_leaves((bad.params, bad.opt_state), BAD),
                         _leaves((after_k.params, after_k.opt_state), BAD)):
        np.testing.assert_array_equal(got, want)  # as after epoch K: Adam's count too
    assert bad_res.failed.tolist() == [i == BAD for i in range(N)]
    assert bad_res.epochs[BAD] == K + 1 and not bad_res.learnt[BAD]
    np.testing.assert_array_equal(bad_res.params[BAD], np.asarray(after_k.params)[BAD])
    np.testing.assert_array_equal(bad_res.train_loss[BAD, :K], clean_res.train_loss[BAD, :K])
    assert np.isnan(bad_res.train_loss[BAD, K + 1:]).all()  # not run
    assert np.isfinite(bad_res.final_val_loss[BAD])  # evaluated on the restored parameters
    for i in set(range(N)) - {BAD}:
        for field in clean_res._fields:
            np.testing.assert_array_equal(getattr(bad_res, field)[i],
                                          getattr(clean_res, field)[i],
                                          err_msg=f"{field}[{i}]")
    assert not clean_res.failed.any()


@pytest.mark.parametrize("batch_size, rate", [
    (8, HUGE),  # 2 steps per epoch: diverges at the second, after a finite step
    (16, jnp.nan),  # 1 step per epoch, finite loss: only the new parameters show it
])
def test_sequence_network_diverging_in_an_epoch_gets_that_epochs_start(batch_size, rate):
    spec = tiny_ds1(per_class=1, batch_size=batch_size, max_epochs=5)
    _check(*_diverge_after_k_epochs(spec, None, rate, 3))


def test_image_network_diverging_in_an_epoch_gets_that_epochs_start():
    # 4 steps per epoch; the one-hidden-layer net keeps the test short
    spec = ds4("MNISTbadnet_alpha10", N, epochs=5, batch_size=64, widths=(784, 32, 10))
    _check(*_diverge_after_k_epochs(spec, fake_image_data(256), HUGE, 3))


def test_epoch_guard_keeps_a_finite_epoch_and_restores_a_diverged_one():
    start = ({"w": jnp.zeros(3)}, (jnp.ones(2), jnp.int32(4)))
    end = ({"w": jnp.arange(3.0)}, (jnp.full(2, 2.0), jnp.int32(7)))
    nan_end = ({"w": jnp.array([1.0, jnp.nan, 2.0])}, end[1])
    cases = [(False, end, end, False), (True, end, start, True),
             (False, nan_end, start, True), (True, nan_end, start, True)]
    for bad, (params, opt), want, failed in cases:
        p, o, f = epoch_guard(jnp.asarray(bad), params, opt, *start)
        assert bool(f) == failed
        for got, exp in zip(jax.tree_util.tree_leaves((p, o)),
                            jax.tree_util.tree_leaves(want)):
            np.testing.assert_array_equal(got, exp)
