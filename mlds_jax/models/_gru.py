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

import functools

import jax
import jax.numpy as jnp

from mlds_jax.models._fused_gru import FUSED_LAYERS, MAX_DIM, resolve_gru_kernel
from mlds_jax.models._gru_grads import layer_grads, previous_states, step_gate_grads
from mlds_jax.models._layout import Layout
from mlds_jax.models._pallas_gru import pallas_gru_layer
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


def _gru_forward(w_ih, w_hh, b_ih, b_hh, xs):
    """One GRU layer over a batch of sequences, time-major: ``xs [time, batch, in]`` ->
    ``hs [time, batch, hidden]`` and the per-step gate values the backward pass needs.

    The input projection for every time step is one product outside the recurrence; only the
    hidden-to-hidden product stays in the time loop.
    """
    hidden = w_hh.shape[1]
    gi = jnp.einsum("tbi,gi->tbg", xs, w_ih) + b_ih[None, None, :]  # [time, batch, 3*hidden]

    def step(h, gi_t):
        gh = h @ w_hh.T + b_hh[None, :]
        r = jax.nn.sigmoid(gi_t[:, :hidden] + gh[:, :hidden])
        z = jax.nn.sigmoid(gi_t[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden])
        gh_n = gh[:, 2 * hidden :]
        n = jnp.tanh(gi_t[:, 2 * hidden :] + r * gh_n)
        h = (1.0 - z) * n + z * h
        return h, (h, r, z, n, gh_n)

    h0 = jnp.zeros((xs.shape[1], hidden), xs.dtype)
    _, (hs, r, z, n, gh_n) = jax.lax.scan(step, h0, gi)
    return hs, (r, z, n, gh_n)


@jax.custom_vjp
def gru_layer(w_ih, w_hh, b_ih, b_hh, xs):
    """PyTorch GRU layer (gates r, z, n): ``xs [time, batch, in]`` -> ``[time, batch, hidden]``.

    The backward pass is written by hand: the reverse time loop carries only the hidden
    state's gradient, and the weight gradients are one product each over all time steps
    after the loop (autodiff would accumulate them step by step inside the loop).
    Gradients equal autodiff's to float32 rounding (``tests/models/test_gru.py``).
    """
    return _gru_forward(w_ih, w_hh, b_ih, b_hh, xs)[0]


def _gru_layer_fwd(w_ih, w_hh, b_ih, b_hh, xs):
    hs, gates = _gru_forward(w_ih, w_hh, b_ih, b_hh, xs)
    return hs, (w_ih, w_hh, xs, hs, gates)


def _gru_layer_bwd(saved, d_hs):
    w_ih, w_hh, xs, hs, (r, z, n, gh_n) = saved
    hidden = w_hh.shape[1]
    h_prev = previous_states(hs)
    w_r, w_z, w_n = w_hh[:hidden], w_hh[hidden : 2 * hidden], w_hh[2 * hidden :]

    def step(dh_next, t):
        dy, r_t, z_t, n_t, gh_n_t, hp = t
        dh = dy + dh_next
        da_r, da_z, da_n, dgh_n = step_gate_grads(dh, hp, r_t, z_t, n_t, gh_n_t)
        dh_prev = dh * z_t + da_r @ w_r + da_z @ w_z + dgh_n @ w_n
        return dh_prev, (da_r, da_z, da_n, dgh_n)

    _, gate_grads = jax.lax.scan(
        step, jnp.zeros_like(hs[0]), (d_hs, r, z, n, gh_n, h_prev), reverse=True)
    return layer_grads(w_ih, xs, h_prev, *gate_grads)


gru_layer.defvjp(_gru_layer_fwd, _gru_layer_bwd)


def _layer_fn(path: str):
    """The GRU layer function of a path from :func:`resolve_gru_kernel`."""
    if path in FUSED_LAYERS:  # "fused", "fused_fma": a build of the compiled CPU kernel
        return FUSED_LAYERS[path]
    if path == "pallas":
        return functools.partial(pallas_gru_layer, interpret=jax.default_backend() != "gpu")
    return gru_layer


def gru_kernel_for(spec: GRUSpec, kernel: str | None = None) -> str:
    """The path (``"fused"``, ``"fused_fma"``, ``"xla"`` or ``"pallas"``) that
    :func:`apply_gru_batch` traces the GRU layers of ``spec`` on for float32 inputs:
    :func:`resolve_gru_kernel` of ``kernel``, except that layers wider than
    ``GRU_KERNEL_MAX_DIM`` always run on XLA. The one place that rule lives; the trainer asks
    it to size its chunks."""
    if max(spec.hidden_size, spec.input_size) > MAX_DIM:
        return "xla"
    return resolve_gru_kernel(kernel)


def apply_gru_batch(params, x: jax.Array, spec: GRUSpec, kernel: str | None = None) -> jax.Array:
    """Forward pass of one network on a batch of sequences.

    Args:
      params: float32 ``[n_params]`` (layout :func:`gru_layout`), or the same tensors as a
        ``{name: array}`` dict (``Layout.unflatten``) — differentiating with respect to the
        dict avoids assembling the gradient of a flat vector slice by slice.
      x: float32 ``[batch, time, features]``.
      kernel: the GRU layers' path, chosen at trace time: ``"auto"`` (the fused CPU kernel,
        :func:`~mlds_jax.models.fused_gru_layer`, when on a CPU and it builds here, else
        :func:`gru_layer`), ``"fused"``, ``"fused_fma"``
        (:func:`~mlds_jax.models.fused_fma_gru_layer`), ``"xla"``, ``"pallas"``
        (:func:`~mlds_jax.models.pallas_gru_layer`: compiled with Triton on a GPU,
        interpreted on other backends), or None: ``$MLDS_JAX_GRU_KERNEL`` (default
        ``auto``). All paths give the same results to float32 rounding.

    Returns:
      logits ``[batch, time, output_size]``.
    """
    p = params if isinstance(params, dict) else gru_layout(spec).unflatten(params)
    layer = _layer_fn(gru_kernel_for(spec, kernel) if x.dtype == jnp.float32 else "xla")
    h = jnp.swapaxes(x, 0, 1)  # time-major inside
    for k in range(spec.num_layers):
        h = layer(p[f"gru.weight_ih_l{k}"], p[f"gru.weight_hh_l{k}"],
                      p[f"gru.bias_ih_l{k}"], p[f"gru.bias_hh_l{k}"], h)
    n_fc = len(spec.head) + 1
    for j in range(n_fc):
        h = h @ p[f"fc.{2 * j}.weight"].T + p[f"fc.{2 * j}.bias"][None, None, :]
        if j < n_fc - 1:
            h = _ACTIVATIONS[spec.head_activation](h)
    return jnp.swapaxes(h, 0, 1)


def apply_gru(flat: jax.Array, x: jax.Array, spec: GRUSpec) -> jax.Array:
    """Forward pass of one network on one sequence.

    Args:
      flat: float32 ``[n_params]`` (layout :func:`gru_layout`).
      x: float32 ``[time, features]``.

    Returns:
      logits ``[time, output_size]``.
    """
    return apply_gru_batch(flat, x[None], spec)[0]
