import jax
import jax.numpy as jnp
import numpy as np

from mlds_jax.spec import ds4
from mlds_jax.tasks._images import ImageData
from mlds_jax.train import network_inputs
from mlds_jax.train._image_train import _compiled, poison_mask


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


def _fake_data(n_train, n_test=100):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n_train, 784), dtype=np.uint8)
    t = rng.integers(0, 256, (n_test, 784), dtype=np.uint8)
    y = rng.integers(0, 10, n_train).astype(np.int32)
    return ImageData(x, x.copy(), y, np.full(10, n_train // 100, np.int32), t, t.copy(),
                     rng.integers(0, 10, n_test).astype(np.int32))


def _temp_bytes(spec, data, n):
    inputs = network_inputs(spec, np.arange(n))
    compiled = _compiled(spec, len(data.train_y), None).lower(inputs, data).compile()
    return compiled.memory_analysis().temp_size_in_bytes


def test_block_never_copies_the_image_set_per_network():
    # MNIST-sized image set (60,000 x 784 uint8 = 47 MB twice: clean + triggered)
    spec = ds4("MNISTbadnet_alpha10", 64, epochs=1)
    data = _fake_data(60_000)
    grow = (_temp_bytes(spec, data, 16) - _temp_bytes(spec, data, 8)) / 8
    # per extra network: params, Adam state, its poison mask and one gathered batch
    # (~2 MB), far below one copy of the images (47 MB as uint8, 188 MB as float32)
    assert grow < 0.1 * data.train_x.nbytes, grow
