import jax
import jax.numpy as jnp
import numpy as np

from mlds_jax.models import apply_mlp, init_mlp, mlp_layout
from mlds_jax.train._dense import make_dense_block_steps


def test_mlp_forward_matches_numpy():
    widths = (20, 7, 3)
    flat = init_mlp(jax.random.PRNGKey(0), widths)
    assert flat.shape == (20 * 7 + 7 + 7 * 3 + 3,)
    p = mlp_layout(widths).unflatten(np.asarray(flat, np.float64))
    x = np.random.default_rng(0).normal(size=(5, 20))
    want = np.maximum(x @ p["net.0.weight"].T + p["net.0.bias"], 0) @ p["net.2.weight"].T \
        + p["net.2.bias"]
    np.testing.assert_allclose(np.asarray(apply_mlp(flat, jnp.asarray(x, jnp.float32),
                                                    widths)), want, rtol=1e-5, atol=1e-5)


def test_dense_block_uses_each_networks_own_batches():
    widths = (16, 4, 3)
    run, opt = make_dense_block_steps(widths)
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.integers(0, 256, (64, 16), np.uint8))
    labels = jnp.asarray(rng.integers(0, 3, 64), jnp.int32)
    p0 = init_mlp(jax.random.PRNGKey(1), widths)
    batches = jnp.asarray(rng.integers(0, 64, (3, 5, 8)), jnp.int32)

    def fresh(n):
        params = jnp.stack([p0] * n)
        return params, jax.vmap(opt.init)(params), jnp.full((n,), 1e-2, jnp.float32)

    params, state, lr = fresh(3)
    out, _, losses = run(params, state, lr, images, labels, batches)
    assert losses.shape == (3, 5)
    # same init, different batches -> different networks; network 1 alone gives the same
    assert not np.allclose(out[0], out[1])
    params, state, lr = fresh(1)
    alone, _, _ = run(params, state, lr, images, labels, batches[1:2])
    np.testing.assert_allclose(np.asarray(alone[0]), np.asarray(out[1]), rtol=1e-5, atol=1e-6)
