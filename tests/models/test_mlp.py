import jax
import jax.numpy as jnp
import numpy as np

from mlds_jax.models import apply_mlp, init_mlp, mlp_layout


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
