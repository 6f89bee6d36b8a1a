import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference_numpy import torch_style_forward

from mlds_jax.models import apply_gru, gru_layout, init_gru
from mlds_jax.spec import GRUSpec


def test_default_ds1_network_has_4364_parameters():
    assert gru_layout(GRUSpec()).n_params == 4364
    assert init_gru(jax.random.PRNGKey(0), GRUSpec()).shape == (4364,)


def test_layout_follows_pytorch_state_dict():
    lay = gru_layout(GRUSpec())
    shapes = {e.name: e.shape for e in lay.entries}
    assert list(shapes)[:4] == ["gru.weight_ih_l0", "gru.weight_hh_l0", "gru.bias_ih_l0",
                                "gru.bias_hh_l0"]
    assert shapes["gru.weight_ih_l0"] == (36, 5)
    assert shapes["gru.weight_ih_l3"] == (36, 12)
    assert shapes["gru.weight_hh_l2"] == (36, 12)
    assert shapes["fc.0.weight"] == (27, 12)
    assert shapes["fc.6.weight"] == (1, 8)
    offsets = [e.offset for e in lay.entries]
    sizes = [e.size for e in lay.entries]
    assert offsets == list(np.cumsum([0, *sizes[:-1]]))


def test_flatten_unflatten_round_trip():
    lay = gru_layout(GRUSpec())
    flat = np.arange(lay.n_params, dtype=np.float32)
    np.testing.assert_array_equal(lay.flatten(lay.unflatten(flat)), flat)


def test_init_bounds_follow_pytorch():
    lay = gru_layout(GRUSpec())
    p = lay.unflatten(np.asarray(init_gru(jax.random.PRNGKey(3), GRUSpec())))
    assert np.abs(p["gru.weight_hh_l1"]).max() <= 12**-0.5
    assert np.abs(p["fc.2.weight"]).max() <= 27**-0.5
    assert np.abs(p["fc.2.weight"]).max() > 0.8 * 27**-0.5  # uses the full range


@pytest.mark.parametrize("spec", [
    GRUSpec(),
    GRUSpec(head_activation="relu"),
    GRUSpec(input_size=3, hidden_size=5, num_layers=2, head=(7,), output_size=2,
            head_activation="leaky_relu"),
])
def test_forward_matches_numpy_pytorch_equations(spec):
    flat = init_gru(jax.random.PRNGKey(1), spec) * 3.0  # larger weights: gates saturate more
    x = jax.random.bernoulli(jax.random.PRNGKey(2), 0.5, (6, 11, spec.input_size))
    x = x.astype(jnp.float32)
    got = jax.vmap(apply_gru, in_axes=(None, 0, None))(flat, x, spec)
    sd = gru_layout(spec).unflatten(np.asarray(flat))
    want = torch_style_forward(sd, np.asarray(x), spec.num_layers, spec.head_activation)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)


def test_matches_pytorch_module_when_installed():
    torch = pytest.importorskip("torch")
    spec = GRUSpec()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(5, 12, num_layers=4, batch_first=True)
            widths, mods = [12, 27, 14, 8, 1], []
            for a, b in zip(widths[:-1], widths[1:]):
                mods += [torch.nn.Linear(a, b), torch.nn.Tanh()]
            self.fc = torch.nn.Sequential(*mods[:-1])

        def forward(self, x):
            return self.fc(self.gru(x)[0])

    net = Net()
    flat = np.asarray(init_gru(jax.random.PRNGKey(4), spec))
    sd = {k: torch.from_numpy(np.array(v))
          for k, v in gru_layout(spec).unflatten(flat).items()}
    net.load_state_dict(sd, strict=True)
    x = np.random.default_rng(0).integers(0, 2, (4, 9, 5)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    got = jax.vmap(apply_gru, in_axes=(None, 0, None))(jnp.asarray(flat), x, spec)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)


def test_gru_layer_gradients_match_autodiff():
    from mlds_jax.models._gru import _gru_forward, gru_layer

    ks = jax.random.split(jax.random.PRNGKey(5), 6)
    hidden, inp, t, b = 12, 5, 9, 7
    args = (jax.random.uniform(ks[0], (3 * hidden, inp), minval=-0.5, maxval=0.5),
            jax.random.uniform(ks[1], (3 * hidden, hidden), minval=-0.5, maxval=0.5),
            jax.random.uniform(ks[2], (3 * hidden,), minval=-0.5, maxval=0.5),
            jax.random.uniform(ks[3], (3 * hidden,), minval=-0.5, maxval=0.5),
            jax.random.bernoulli(ks[4], 0.5, (t, b, inp)).astype(jnp.float32))
    target = jax.random.normal(ks[5], (t, b, hidden))

    def loss(layer):
        return lambda *a: jnp.sum((layer(*a) - target) ** 2 * jnp.arange(1.0, t + 1)[:, None,
                                                                                      None])

    np.testing.assert_array_equal(gru_layer(*args), _gru_forward(*args)[0])
    got = jax.grad(loss(gru_layer), argnums=range(5))(*args)
    want = jax.grad(loss(lambda *a: _gru_forward(*a)[0]), argnums=range(5))(*args)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-5)


def test_batch_forward_takes_flat_vector_or_named_tensors():
    from mlds_jax.models import apply_gru_batch

    spec = GRUSpec()
    flat = init_gru(jax.random.PRNGKey(2), spec)
    x = jax.random.bernoulli(jax.random.PRNGKey(3), 0.5, (4, 6, 5)).astype(jnp.float32)
    a = apply_gru_batch(flat, x, spec)
    b = apply_gru_batch(gru_layout(spec).unflatten(flat), x, spec)
    assert a.shape == (4, 6, 1)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(np.asarray(apply_gru(flat, x[1], spec)), np.asarray(a[1]),
                               rtol=1e-6, atol=1e-7)
