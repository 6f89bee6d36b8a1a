"""Random restarts (TrainSpec.max_restarts): an attempt that runs all max_epochs epochs
unlearnt is re-initialised from init_key(key, attempt) and trained again; learnt networks
never restart; runs split into segments across attempt boundaries equal whole runs; the
spec field validates and round-trips. Tiny runs (2 steps per epoch, a few epochs)."""

import dataclasses
import functools

import jax
import numpy as np
import pytest

from mlds_jax.errors import SpecError
from mlds_jax.models import init_gru
from mlds_jax.spec import DatasetSpec, TrainSpec, ds1
from mlds_jax.train import init_key, is_active, make_train_parts, network_inputs

CAP = 6  # epochs per attempt: the single-bit machines learn in it, EightBit never does
# Every training test but the curriculum's runs these two specs (one compilation each):
# the recipe at a 6-epoch cap with one restart, and the same without restarts
# (each test trains 4 networks: one shape, so the programs compile once for all of them)
SPEC = ds1(4, max_epochs=CAP, max_restarts=1)
PLAIN = ds1(4, max_epochs=CAP, max_restarts=None)
EIGHTBIT, SINGLE_DIRECT = [4, 5, 6, 7], [12, 13]  # network indices of ds1(4)


def _spec(**kw):
    """The DS1 recipe at a 3-epoch cap, without restarts unless ``kw`` sets them."""
    return ds1(1, max_epochs=3, n_train=64, **{"max_restarts": None, **kw})


@functools.lru_cache
def _programs(spec):
    p = make_train_parts(spec)
    return (jax.jit(jax.vmap(p.init)), jax.jit(jax.vmap(p.segment, in_axes=(0, 0, None))),
            jax.jit(jax.vmap(p.finish)))


def _run(spec, inputs, lengths=None, until_done=False):
    """Whole run of ``inputs [n]`` -> (state, result): one segment of ``epoch_cap`` epochs
    per attempt, or segments of ``lengths`` epochs (cycled until no network is active when
    ``until_done``, as the coordinator does)."""
    init, seg, finish = _programs(spec)
    state = init(inputs)
    lengths = lengths or [spec.train.epoch_cap] * spec.train.attempts
    active = jax.jit(jax.vmap(lambda s: is_active(s, spec)))
    for i in range(1000 if until_done else len(lengths)):
        if until_done and not np.asarray(active(state)).any():
            break
        state = seg(inputs, state, np.int32(lengths[i % len(lengths)]))
    return state, finish(inputs, state)


def _take(inputs, idx):
    return jax.tree_util.tree_map(lambda a: a[np.asarray(idx)], inputs)


def test_unlearnt_attempts_restart_until_the_limit_and_first_attempt_is_unchanged():
    spec, plain = SPEC, PLAIN
    assert spec.train.epoch_cap == 2 * CAP and plain.train.epoch_cap == CAP
    inputs = network_inputs(spec, EIGHTBIT)
    _, r = _run(spec, inputs)
    _, p = _run(plain, inputs)  # the same networks (same inputs) without restarts
    assert not np.asarray(p.learnt).any()  # nothing learns in CAP epochs...
    np.testing.assert_array_equal(r.restarts, 1)  # ...so every network restarts, once
    np.testing.assert_array_equal(r.epochs, 2 * CAP)
    assert r.train_loss.shape == (4, 2 * CAP)
    assert np.isfinite(np.asarray(r.val_loss)).all()
    # the first attempt is the plain run, bit for bit; later attempts differ
    np.testing.assert_array_equal(np.asarray(r.val_loss)[:, :CAP], p.val_loss)
    np.testing.assert_array_equal(np.asarray(r.train_loss)[:, :CAP], p.train_loss)
    assert not np.array_equal(np.asarray(r.val_loss)[:, CAP:2 * CAP], p.val_loss)
    assert not np.array_equal(r.params, p.params)


def test_a_restart_starts_from_the_attempt_key_with_a_fresh_optimiser():
    spec = SPEC
    inputs = network_inputs(spec, EIGHTBIT)
    state, _ = _run(spec, inputs, [CAP])  # exactly one attempt: the restart just happened
    np.testing.assert_array_equal(state.restarts, 1)
    np.testing.assert_array_equal(state.epoch, CAP)
    fresh = jax.vmap(lambda k: init_gru(init_key(k, 1), spec.model))(inputs.key)
    np.testing.assert_array_equal(state.params, fresh)
    first = jax.vmap(lambda k: init_gru(init_key(k), spec.model))(inputs.key)
    assert not np.array_equal(fresh, first)
    np.testing.assert_array_equal(jax.tree_util.tree_leaves(state.opt_state)[0], 0)  # count
    ref = _programs(spec)[0](inputs).opt_state  # Adam's moments start at zero again
    for a, b in zip(jax.tree_util.tree_leaves(state.opt_state),
                    jax.tree_util.tree_leaves(ref)):
        np.testing.assert_array_equal(a, b)


def test_learnt_networks_never_restart():
    # SingleDirect learns within a few epochs: its networks stop in their first attempt and
    # equal the run without restarts; EightBit's never learn in 6 epochs and restart once
    spec, plain = SPEC, PLAIN
    inputs = network_inputs(spec, SINGLE_DIRECT + EIGHTBIT[:2])
    _, r = _run(spec, inputs)
    _, p = _run(plain, inputs)
    learnt = np.asarray(p.learnt)
    assert learnt[:2].all() and not learnt[2:].any()
    np.testing.assert_array_equal(r.restarts, [0, 0, 1, 1])
    np.testing.assert_array_equal(np.asarray(r.params)[:2], np.asarray(p.params)[:2])
    np.testing.assert_array_equal(np.asarray(r.epochs)[:2], np.asarray(p.epochs)[:2])
    np.testing.assert_array_equal(np.asarray(r.epochs)[2:], 12)


def test_segments_across_attempt_boundaries_equal_the_whole_run():
    spec = SPEC
    inputs = network_inputs(spec, SINGLE_DIRECT + EIGHTBIT[:2])  # stop early, restart
    _, whole = _run(spec, inputs)
    for lengths in ([4, 4, 4], [1, 5, 100], [CAP], [2 * CAP]):
        _, split = _run(spec, inputs, lengths, until_done=True)
        for a, b in zip(whole, split):
            np.testing.assert_array_equal(a, b)


def test_a_segment_ends_with_its_attempt_and_the_restart_waits_for_its_end():
    spec = SPEC
    inputs = network_inputs(spec, EIGHTBIT)
    state, _ = _run(spec, inputs, [CAP + 2])  # longer than an attempt: stops at its end
    np.testing.assert_array_equal(state.epoch, CAP)
    np.testing.assert_array_equal(state.restarts, 1)
    state, _ = _run(spec, inputs, [CAP - 1, 1])  # the attempt ends in the second segment
    np.testing.assert_array_equal(state.restarts, 1)
    first, _ = _run(spec, inputs, [CAP - 1])  # ...and not in the first
    np.testing.assert_array_equal(first.restarts, 0)


def test_the_curriculum_restarts_with_the_attempt():
    # Stage 1 starts at epoch 1 of EVERY attempt. After the restart (global epoch 3) the
    # parameters and optimiser are fresh in both runs below, so the second attempt's first
    # epoch has equal losses with and without stages iff it trains on stage-0 data; its
    # second epoch (stage 1 with stages) differs.
    cap = 3  # the recipe at a 3-epoch cap (_spec), one restart
    staged = _spec(max_restarts=1, address_curriculum_stages=(0.34,))
    flat = _spec(max_restarts=1, address_curriculum_stages=None)
    assert staged.train.curriculum_stage_epochs() == (1,)
    inputs = network_inputs(staged, [1])  # an EightBit network, the same inputs in both
    _, a = _run(staged, inputs)
    _, b = _run(flat, inputs)
    np.testing.assert_array_equal(a.restarts, 1)
    np.testing.assert_array_equal(b.restarts, 1)
    ta, tb = np.asarray(a.train_loss)[0], np.asarray(b.train_loss)[0]
    assert ta[0] == tb[0] and ta[1] != tb[1]  # attempt 1: stage 0, then stage 1
    assert ta[cap] == tb[cap] and ta[cap + 1] != tb[cap + 1]  # attempt 2: the same again


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_bad_max_restarts_is_refused(bad):
    with pytest.raises(SpecError, match="max_restarts"):
        TrainSpec(max_restarts=bad)


def test_zero_restarts_is_the_unset_spec():
    assert TrainSpec(max_restarts=0) == TrainSpec()
    assert _spec(max_restarts=0).digest == _spec().digest


def test_unset_restarts_leave_the_dict_and_digest_and_round_trip():
    plain, spec = _spec(), _spec(max_restarts=2)
    assert "max_restarts" not in plain.to_dict()["train"]
    assert spec.to_dict()["train"]["max_restarts"] == 2
    assert spec.digest != plain.digest
    assert DatasetSpec.from_dict(spec.to_dict()) == spec
    assert dataclasses.replace(spec.train, max_restarts=None) == plain.train


def test_the_restart_limit_is_overridable_for_sequence_recipes_only():
    from mlds_jax.spec import select_spec

    assert ds1(2).train.max_restarts == 2  # the DS1/DS2 recipe
    assert select_spec("ds1", 2, max_restarts=0).train.max_restarts is None
    assert select_spec("ds2", 2, max_restarts=3).train.epoch_cap == 4 * 600
    with pytest.raises(SpecError, match="`max_restarts`: MNISTclean is a DS4"):
        select_spec("MNISTclean", 4, max_restarts=1)
    with pytest.raises(SpecError, match="`max_restarts`: expected an integer >= 0"):
        select_spec("ds1", 2, max_restarts=-1)


def test_a_store_begun_without_restarts_says_how_to_resume_it(tmp_path):
    from helpers import tiny_ds1

    from mlds_jax.errors import StoreError
    from mlds_jax.pipeline import generate

    out = tmp_path / "old.zarr"
    generate(tiny_ds1(per_class=1, max_epochs=1), out, block_size=5, progress=False)
    with pytest.raises(StoreError, match="max_restarts: store has <missing>, requested 2.*"
                                         "resume it as it was begun with `max_restarts` 0"):
        generate(tiny_ds1(per_class=1, max_epochs=1, max_restarts=2), out, block_size=5,
                 progress=False)
