import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlds_jax.train._chunk import _divisor_at_most, chunked_vmap


def _fn(w, x, shared):
    """A network-like function: one small matmul loop, a shared argument, a tuple out."""
    h = x
    for _ in range(3):
        h = jnp.tanh(h @ w + shared[None, :])
    return h.sum(), (h, jnp.argmax(h, -1))


@pytest.mark.parametrize("n,chunk", [(12, 4), (10, 4), (7, 8), (6, 1), (5, 5)])
def test_chunked_vmap_equals_vmap(n, chunk):
    key = jax.random.PRNGKey(n)
    w = jax.random.normal(key, (n, 6, 6)) * 0.5
    x = jax.random.normal(jax.random.fold_in(key, 1), (n, 3, 6))
    shared = jnp.arange(6.0) / 6
    want = jax.vmap(_fn, in_axes=(0, 0, None))(w, x, shared)
    got = jax.jit(chunked_vmap(_fn, in_axes=(0, 0, None), chunk=chunk))(w, x, shared)
    jax.tree_util.tree_map(lambda g, r: np.testing.assert_allclose(g, r, rtol=1e-6), got, want)
    np.testing.assert_array_equal(got[1][1], want[1][1])


def test_divisor_choice_and_bad_chunk():
    assert [_divisor_at_most(n, 8) for n in (64, 12, 10, 7, 3)] == [8, 6, 5, 7, 3]
    with pytest.raises(ValueError, match="positive"):
        chunked_vmap(_fn, chunk=0)
    with pytest.raises(ValueError, match="batched over networks"):
        chunked_vmap(_fn, in_axes=(None, None, None), chunk=2)(
            jnp.ones((6, 6)), jnp.ones((3, 6)), jnp.ones(6))
