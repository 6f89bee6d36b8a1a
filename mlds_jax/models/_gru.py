"""The DS1 network for one sequence: stacked GRU layers (PyTorch semantics) and an MLP head.

Parameter names and shapes are those of this PyTorch module's ``state_dict``::

    class Net(torch.nn.Module):
        def __init__(self, inp=5, hidden=12, layers=4, head=(27, 14, 8), out=1):
            super().__init__()
            self.gru = torch.nn.GRU(inp, hidden, num_layers=layers, batch_first=True)
            widths, mods = [hidden, *head, out], []
            for a, b in zip(widths[:-1], widths[1:]):
                mods += [torch.nn.Linear(a, b), torch.nn.Tanh()]
            self.fc = torch.nn.Sequential(*mods[:-1])
        def forward(self, x):
            return self.fc(self.gru(x)[0])

``gru.weight_ih_l{k}`` is ``[3*hidden, in]`` with gate rows ordered r, z, n, and the head's
linear layers are ``fc.0``, ``fc.2``, ``fc.4``, ``fc.6`` (the spec's ``head_activation``, tanh
by default, between them; none at the end).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mlds_jax.models._layout import Layout
from mlds_jax.spec import GRUSpec

# PyTorch equivalents: nn.ReLU, nn.LeakyReLU (slope 0.01), nn.Tanh.
_ACTIVATIONS = {
    "relu": jax.nn.relu,
    "leaky_relu": lambda x: jax.nn.leaky_relu(x, negative_slope=0.01),
    "tanh": jnp.tanh,
}


def gru_layout(spec: GRUSpec) -> Layout:
    """Layout of the flat parameter vector, in PyTorch ``state_dict`` order."""
    h = spec.hidden_size
    shapes: list[tuple[str, tuple[int, ...]]] = []
    for k in range(spec.num_layers):
        inp = spec.input_size if k == 0 else h
        shapes += [
            (f"gru.weight_ih_l{k}", (3 * h, inp)),
            (f"gru.weight_hh_l{k}", (3 * h, h)),
            (f"gru.bias_ih_l{k}", (3 * h,)),
            (f"gru.bias_hh_l{k}", (3 * h,)),
        ]
    widths = [h, *spec.head, spec.output_size]
    for j, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        shapes += [(f"fc.{2 * j}.weight", (b, a)), (f"fc.{2 * j}.bias", (b,))]
    return Layout.from_shapes(shapes)


def init_gru(key: jax.Array, spec: GRUSpec) -> jax.Array:
    """PyTorch's default initialisation, as one flat vector.

    GRU tensors ~ U(-1/sqrt(hidden), 1/sqrt(hidden)); each linear layer's weight and bias
    ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    Returns:
      float32 ``[n_params]``.
    """
    layout = gru_layout(spec)
    keys = jax.random.split(key, len(layout.entries))
    parts = []
    for k, e in zip(keys, layout.entries):
        if e.name.startswith("gru."):
            bound = spec.hidden_size**-0.5
        else:
            fc = e.name.rsplit(".", 1)[0]
            fan_in = next(x.shape[1] for x in layout.entries if x.name == f"{fc}.weight")
            bound = fan_in**-0.5
        parts.append(jax.random.uniform(k, (e.size,), jnp.float32, -bound, bound))
    return jnp.concatenate(parts)


def _gru_layer(p: dict, k: int, xs: jax.Array, hidden: int) -> jax.Array:
    """One GRU layer over a whole sequence: ``[time, in]`` -> ``[time, hidden]``.

    The input projection for every time step is one matmul outside the recurrence; only the
    hidden-to-hidden product stays in the time loop.
    """
    w_hh, b_hh = p[f"gru.weight_hh_l{k}"], p[f"gru.bias_hh_l{k}"]
    gi = xs @ p[f"gru.weight_ih_l{k}"].T + p[f"gru.bias_ih_l{k}"][None, :]  # [time, 3*hidden]

    def step(h, gi_t):
        gh = w_hh @ h + b_hh
        r = jax.nn.sigmoid(gi_t[:hidden] + gh[:hidden])
        z = jax.nn.sigmoid(gi_t[hidden : 2 * hidden] + gh[hidden : 2 * hidden])
        n = jnp.tanh(gi_t[2 * hidden :] + r * gh[2 * hidden :])
        h = (1.0 - z) * n + z * h
        return h, h

    _, hs = jax.lax.scan(step, jnp.zeros((hidden,), xs.dtype), gi)
    return hs


def apply_gru(flat: jax.Array, x: jax.Array, spec: GRUSpec) -> jax.Array:
    """Forward pass of one network on one sequence.

    Args:
      flat: float32 ``[n_params]`` (layout :func:`gru_layout`).
      x: float32 ``[time, features]``.

    Returns:
      logits ``[time, output_size]``.
    """
    p = gru_layout(spec).unflatten(flat)
    h = x
    for k in range(spec.num_layers):
        h = _gru_layer(p, k, h, spec.hidden_size)
    n_fc = len(spec.head) + 1
    for j in range(n_fc):
        h = h @ p[f"fc.{2 * j}.weight"].T + p[f"fc.{2 * j}.bias"][None, :]
        if j < n_fc - 1:
            h = _ACTIVATIONS[spec.head_activation](h)
    return h
