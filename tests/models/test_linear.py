import jax
import jax.numpy as jnp
import numpy as np

from mlds_jax.models._linear import linear


def _plain(x, w, b):
    return x @ w.T + b[None, :]


def _args(seed, batch=16, n_in=40, n_out=7):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    return (jax.random.normal(k1, (batch, n_in)), jax.random.normal(k2, (n_out, n_in)),
            jax.random.normal(k3, (n_out,)))


def test_forward_is_the_plain_expression():
    x, w, b = _args(0)
    np.testing.assert_array_equal(np.asarray(linear(x, w, b)), np.asarray(_plain(x, w, b)))


def test_gradients_match_autodiff_of_the_plain_expression():
    x, w, b = _args(1)

    def loss(f):
        return lambda x, w, b: jnp.sum(jnp.tanh(f(x, w, b)) ** 2)

    got = jax.grad(loss(linear), argnums=(0, 1, 2))(x, w, b)
    want = jax.grad(loss(_plain), argnums=(0, 1, 2))(x, w, b)
    for g, r in zip(got, want):
        assert g.shape == r.shape
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-5, atol=1e-5)


def test_gradients_under_vmap_over_networks():
    xs, ws, bs = zip(*(_args(s) for s in range(5)))
    x, w, b = (jnp.stack(a) for a in (xs, ws, bs))

    def grads(f):
        return jax.vmap(jax.grad(lambda w, x, b: jnp.mean(f(x, w, b) ** 3)))(w, x, b)

    np.testing.assert_allclose(np.asarray(grads(linear)), np.asarray(grads(_plain)),
                               rtol=1e-5, atol=1e-5)
