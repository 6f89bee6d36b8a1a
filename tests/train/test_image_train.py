import jax
import jax.numpy as jnp
import numpy as np
from helpers import fake_image_data

from mlds_jax.spec import ds4, probe_count, snapshot_schedule
from mlds_jax.train import make_runner, network_inputs, poison_mask


def test_poison_mask_is_stratified_and_keyed():
    labels = jnp.asarray(np.random.default_rng(0).integers(0, 10, 1000), jnp.int32)
    per_label = jnp.asarray([3, 0, 5, 1, 2, 9, 4, 0, 7, 6], jnp.int32)
    m1 = np.asarray(poison_mask(jax.random.PRNGKey(1), labels, per_label))
    m2 = np.asarray(poison_mask(jax.random.PRNGKey(1), labels, per_label))
    m3 = np.asarray(poison_mask(jax.random.PRNGKey(2), labels, per_label))
    np.testing.assert_array_equal(m1, m2)
    assert not np.array_equal(m1, m3)
    for c in range(10):
        assert m1[np.asarray(labels) == c].sum() == per_label[c]
        assert m3[np.asarray(labels) == c].sum() == per_label[c]


def _temp_bytes(spec, data, n):
    inputs = network_inputs(spec, np.arange(n))
    compiled = make_runner(spec, data, width=n).lower_segment(inputs)
    return compiled.memory_analysis().temp_size_in_bytes


def test_block_never_copies_the_image_set_per_network():
    # MNIST-sized image set (60,000 x 784 uint8 = 47 MB twice: clean + triggered)
    data = fake_image_data(60_000)
    bare = ds4("MNISTbadnet_alpha10", 64, epochs=1, snapshot_epochs="none")
    grow = (_temp_bytes(bare, data, 16) - _temp_bytes(bare, data, 8)) / 8
    # per extra network: params, Adam state, its poison mask and one gathered batch
    # (~2 MB), far below one copy of the images (47 MB as uint8, 188 MB as float32)
    assert grow < 0.1 * data.train_x.nbytes, grow
    # the default recording adds the network's own snapshot slots and probe outputs
    # (float32 [n_snapshots, n_params] and [n_snapshots, 2 * probes, 10]), nothing per image
    spec = ds4("MNISTbadnet_alpha10", 64, epochs=1)
    n_params = sum(a * b + b for a, b in zip(spec.widths[:-1], spec.widths[1:]))
    n_snap = len(snapshot_schedule(spec.train))
    own = 4 * n_snap * (n_params + 2 * probe_count(spec) * 10)
    grow_recorded = (_temp_bytes(spec, data, 16) - _temp_bytes(spec, data, 8)) / 8
    assert grow < grow_recorded <= grow + own, (grow, grow_recorded, own)


def _train(data, n=2):
    """Two epochs of ``n`` networks on ``data`` -> (weights after epoch 1, after epoch 2),
    ``[n, n_params]`` each: the snapshots at epochs 1 and 2 (one program per data shape)."""
    import dataclasses

    from mlds_jax.train import BlockTrainer

    spec = dataclasses.replace(ds4("MNISTbadnetv2_alpha10", n, epochs=2, snapshot_epochs=(1, 2)),
                               widths=(784, 8, 10))
    r = BlockTrainer(spec, data, width=n)(network_inputs(spec, np.arange(n)))
    np.testing.assert_array_equal(r.snapshot_params[:, 1], r.params)
    return r.snapshot_params[:, 0], r.snapshot_params[:, 1]


def test_epoch_e_shows_trigger_placement_e_mod_placements():
    # 512 images (4 steps of 128), 50 poisoned per network; two placements that differ
    base = fake_image_data(512)
    other = np.random.default_rng(1).integers(0, 256, base.train_x.shape, dtype=np.uint8)
    one = base  # train_trig [1, n, 784]: placement 0 only
    two = base._replace(train_trig=np.stack([base.train_trig[0], other]))
    same_twice = base._replace(train_trig=np.concatenate([base.train_trig] * 2))
    (one_1, one_2), (two_1, two_2) = _train(one), _train(two)
    # epoch 0 shows placement 0 whatever the count: the same floats after it
    np.testing.assert_array_equal(two_1, one_1)
    # epoch 1 shows placement 1: two equal placements train as one, two different ones do not
    np.testing.assert_array_equal(_train(same_twice)[1], one_2)
    assert not np.array_equal(two_2, one_2)
