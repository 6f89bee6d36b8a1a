import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tiny_ds1

from mlds_jax.models import init_gru
from mlds_jax.train import (
    NetworkInputs,
    make_block_trainer,
    make_train,
    network_inputs,
    network_keys,
)
from mlds_jax.train._keys import INIT


def _run(spec, indices, **replace):
    inputs = network_inputs(spec, np.asarray(indices))._replace(**replace)
    return jax.device_get(make_block_trainer(spec)(inputs))


def test_network_7_same_in_block_of_4_and_64():
    # Same keys, same data, same steps: the discrete outcome (epochs, flags) is exact. Floats
    # agree to float32 rounding, not bit for bit: XLA:CPU tiles a batched dot or reduction
    # differently for 4 and 64 batch members, which moves the last bit (seen: 6e-8 absolute
    # after 8 Adam steps). rtol 1e-5 is ~100 ulp of headroom over that.
    spec = tiny_ds1(per_class=16)
    small = _run(spec, np.arange(4, 8))
    big = _run(spec, np.arange(0, 64))
    for field in ("failed", "stopped_early", "epochs"):
        assert getattr(small, field)[3] == getattr(big, field)[7], field
    for field in ("params", "train_loss", "val_loss", "final_val_loss", "val_bit_accuracy"):
        np.testing.assert_allclose(getattr(small, field)[3], getattr(big, field)[7],
                                   rtol=1e-5, atol=1e-6, err_msg=field)


def test_block_equals_unbatched_reference_train():
    spec = tiny_ds1(per_class=2)
    block = _run(spec, np.arange(4))
    one = jax.jit(make_train(spec))
    inp = network_inputs(spec, np.arange(4))
    for i in range(4):
        alone = jax.device_get(one(jax.tree_util.tree_map(lambda a, i=i: a[i], inp)))
        # Vmapped vs unbatched programs are compiled differently (different fusion and
        # reduction order), so equality holds to float32 rounding, not bit for bit.
        np.testing.assert_allclose(alone.params, block.params[i], rtol=2e-4, atol=2e-5)
        assert alone.epochs == block.epochs[i]


def test_nan_network_is_failed_frozen_and_neighbours_untouched():
    spec = tiny_ds1(per_class=2)
    idx = np.arange(6)
    lr = network_inputs(spec, idx).learning_rate
    clean = _run(spec, idx)
    poisoned = _run(spec, idx, learning_rate=lr.at[2].set(jnp.nan))
    assert poisoned.failed.tolist() == [False, False, True, False, False, False]
    # Restored to the parameters its failing epoch began with: here the initial ones.
    key = network_keys(spec, [2])[0]
    init = np.asarray(init_gru(jax.random.fold_in(jnp.asarray(key), INIT), spec.model))
    np.testing.assert_array_equal(poisoned.params[2], init)
    assert poisoned.epochs[2] == 1 and not poisoned.stopped_early[2]
    for i in (0, 1, 3, 4, 5):
        for field in clean._fields:
            np.testing.assert_array_equal(getattr(poisoned, field)[i],
                                          getattr(clean, field)[i], err_msg=f"{field}[{i}]")


# A stop at val loss 0.65: networks 1-3 of this spec reach it at epochs 1, 1 and 2, networks
# 0 and 4 never do in 4 epochs: stopping times mixed within one block
MIXED = dict(per_class=2, stop_val_loss=0.65)


def test_early_stopping_masks_and_records_epoch():
    stop_now = _run(tiny_ds1(stop_val_loss=100.0), np.arange(3))
    assert stop_now.epochs.tolist() == [1, 1, 1]
    assert stop_now.stopped_early.all()
    assert np.isfinite(stop_now.val_loss[:, 0]).all()
    assert np.isnan(stop_now.val_loss[:, 1:]).all()
    never = _run(tiny_ds1(**MIXED), [0, 4])  # two that never reach 0.65
    assert never.epochs.tolist() == [4, 4]
    assert not never.stopped_early.any()
    assert np.isfinite(never.train_loss).all() and np.isfinite(never.val_loss).all()


def test_mixed_stopping_in_one_block_freezes_stopped_networks():
    spec = tiny_ds1(**MIXED)
    base = _run(spec, np.arange(4))
    assert base.stopped_early.any() and not base.stopped_early.all()  # really mixed
    assert base.stopped_early[1] and base.epochs[1] < spec.train.max_epochs
    # Network 1 with a tiny learning rate barely moves and so runs to the cap instead of
    # stopping; the rest of the block must be identical whether or not it does.
    lr = network_inputs(spec, np.arange(4)).learning_rate
    slow = _run(spec, np.arange(4), learning_rate=lr.at[1].set(1e-7))
    assert not slow.stopped_early[1] and slow.epochs[1] == spec.train.max_epochs
    for i in (0, 2, 3):
        np.testing.assert_array_equal(slow.params[i], base.params[i])
        np.testing.assert_array_equal(slow.val_loss[i], base.val_loss[i])


def test_new_per_network_values_do_not_recompile():
    spec = tiny_ds1(per_class=4)
    trainer = make_block_trainer(spec)
    a = network_inputs(spec, np.arange(4))
    b = network_inputs(spec, np.arange(10, 14))
    b = b._replace(learning_rate=b.learning_rate * 3.0)
    trainer(a)
    programs = (trainer.runner._init, trainer.runner._segment, trainer.runner._finish)
    before = [p._cache_size() for p in programs]
    trainer(b)
    # (programs are shared by every spec that differs only in per_class, so other tests may
    # have compiled them already: what matters is that new values add no compilation)
    assert [p._cache_size() for p in programs] == before


def test_keys_depend_on_spec_and_index_only():
    k4 = network_keys(tiny_ds1(per_class=4), np.arange(20))
    k8 = network_keys(tiny_ds1(per_class=8), np.arange(40))
    # class c replicate r: index c*4+r in the small dataset, c*8+r in the large one.
    for c in range(5):
        np.testing.assert_array_equal(k4[c * 4:(c + 1) * 4], k8[c * 8:c * 8 + 4])
    assert len({tuple(k) for k in k8}) == 40
    other_seed = network_keys(tiny_ds1(per_class=4).__class__(
        **{**tiny_ds1(per_class=4).__dict__, "seed": 1}), np.arange(20))
    assert not np.array_equal(other_seed, k4)
    other_recipe = network_keys(tiny_ds1(per_class=4, max_epochs=5), np.arange(20))
    assert not np.array_equal(other_recipe, k4)


def test_index_out_of_range():
    with pytest.raises(IndexError, match=r"\[0, 10\)"):
        network_keys(tiny_ds1(), [10])


def test_inputs_are_arrays_not_constants():
    inp = network_inputs(tiny_ds1(), np.arange(3))
    assert isinstance(inp, NetworkInputs)
    assert inp.key.shape == (3, 2) and inp.learning_rate.shape == (3,)
