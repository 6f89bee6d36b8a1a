"""The Pallas GRU kernels (interpreted on the CPU) against the XLA GRU layer and autodiff, their
independence from the other networks of a call, the kernel switch, and their Triton lowering
(without a GPU: the kernels are lowered for CUDA and the Triton module verified)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlds_jax.models import (
    KERNELS,
    apply_gru_batch,
    gru_layout,
    pallas_gru_layer,
    resolve_gru_kernel,
)
from mlds_jax.models._gru import _gru_forward
from mlds_jax.spec import GRUSpec

T, B = 8, 3  # time, batch


def _layers(n: int, inp: int, hidden: int, seed: int = 0):
    """``n`` networks' GRU layer tensors (PyTorch's init range), inputs and output
    cotangents: ``w_ih [n, 3*hidden, inp]`` ... ``xs [n, time, batch, inp]``, ``d_hs [n, time,
    batch, hidden]``. NumPy draws them: eager jax.random ops would each compile."""
    rng = np.random.default_rng(seed)
    s = hidden**-0.5

    def u(*shape):
        return jnp.asarray(rng.uniform(-s, s, (n, *shape)), jnp.float32)

    args = (u(3 * hidden, inp), u(3 * hidden, hidden), u(3 * hidden), u(3 * hidden),
            jnp.asarray(rng.standard_normal((n, T, B, inp)), jnp.float32))
    return args, jnp.asarray(rng.standard_normal((n, T, B, hidden)), jnp.float32)


def _autodiff_layer(w_ih, w_hh, b_ih, b_hh, xs):
    return _gru_forward(w_ih, w_hh, b_ih, b_hh, xs)[0]  # plain lax.scan, no custom_vjp


def _interpreted(tile: int | None = None):
    def layer(*args):
        return pallas_gru_layer(*args, interpret=True, tile=tile)

    return layer


@jax.jit(static_argnums=0)
def _value_and_grads(layer, args, d_hs):
    """``vmap(layer)(*args)`` and the gradients of ``sum(out * d_hs)`` (one compile)."""
    out, vjp = jax.vjp(jax.vmap(layer), *args)
    return out, vjp(d_hs)


# Tiles of 4 networks: a call over 6 networks is a full tile and a padded one. One function
# object and one set of shapes for the first two tests: one compile between them.
_LAYER = _interpreted(tile=4)
N = 6


def test_forward_and_gradients_match_autodiff():
    # hidden 12 -> 16 and input 5 -> 8 padded with zero weights
    args, d_hs = _layers(N, 5, 12)
    ref, want = _value_and_grads(_autodiff_layer, args, d_hs)
    out, got = _value_and_grads(_LAYER, args, d_hs)
    # Same gate formulas in the same order (the interpreter runs the same XLA sigmoid / tanh);
    # only each matrix-vector product sums its <= 17 terms in another order (a broadcast
    # multiply and a sum instead of a dot): an ulp or two of O(1) per gate per step. h stays
    # in [-1, 1] and a step shrinks earlier errors (|dh'/dh| <= 1 here), so the difference
    # stays a few ulp of 1 per step: 2e-6 over 8 steps (measured 1.2e-7).
    np.testing.assert_allclose(out, ref, rtol=0, atol=2e-6)
    for g, w in zip(got, want):
        # sums over batch x time of products of O(1) terms: relative rounding of ~1e-6 of the
        # largest entry (measured < 2e-7 relative)
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5 * float(jnp.abs(w).max()))


def test_a_network_does_not_depend_on_the_other_networks_of_its_call():
    # Network 5 as lane 1 of the padded second tile, then (rolled by one) as lane 0 of the
    # full first tile, beside other networks: bit for bit the same (the same program; the
    # kernels never mix lanes and padded lanes hold zeros).
    args, d_hs = _layers(N, 5, 12, seed=3)
    h_a, g_a = _value_and_grads(_LAYER, args, d_hs)
    rolled = tuple(jnp.asarray(np.roll(np.asarray(a), 1, 0)) for a in args)
    h_b, g_b = _value_and_grads(_LAYER, rolled, jnp.asarray(np.roll(np.asarray(d_hs), 1, 0)))
    np.testing.assert_array_equal(h_a[5], h_b[0])
    for a, b in zip(g_a, g_b):
        np.testing.assert_array_equal(a[5], b[0])


def test_apply_gru_batch_pallas_equals_xla_under_vmap_of_grad():
    # the trainer's pattern: vmap over networks of a per-network loss and its gradient
    spec = GRUSpec(5, 12, 2, (8,), 1)
    rng = np.random.default_rng(1)
    flat = jnp.asarray(rng.uniform(-0.3, 0.3, (3, gru_layout(spec).n_params)), jnp.float32)
    x = jnp.asarray(rng.integers(0, 2, (3, B, T, 5)), jnp.float32)

    @jax.jit(static_argnums=0)
    def run(kernel, flat, x):
        def loss(p, xb):
            return jnp.mean(apply_gru_batch(p, xb, spec, kernel=kernel) ** 2)

        return jax.vmap(jax.value_and_grad(loss))(flat, x)

    (l_p, g_p), (l_x, g_x) = run("pallas", flat, x), run("xla", flat, x)
    # two layers and a head: the per-gate rounding differences of the first test, carried
    # through; the gradient is a sum over batch x time of O(1) products
    np.testing.assert_allclose(l_p, l_x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g_p, g_x, rtol=1e-4, atol=1e-5 * float(jnp.abs(g_x).max()))


def test_pallas_is_only_chosen_when_asked_for(monkeypatch):
    assert "pallas" in KERNELS
    assert resolve_gru_kernel("pallas") == "pallas"
    assert resolve_gru_kernel("auto") in ("fused", "xla")  # not validated on a GPU yet
    monkeypatch.setenv("MLDS_JAX_GRU_KERNEL", "pallas")
    assert resolve_gru_kernel() == "pallas"
    monkeypatch.delenv("MLDS_JAX_GRU_KERNEL")
    assert resolve_gru_kernel() != "pallas"


def _triton_modules(lowered) -> list:
    """The Triton (TTIR) modules inside a program lowered for CUDA."""
    from jax._src.lib.mlir import ir
    from jax._src.pallas.triton import lowering

    modules = []

    def walk(op):
        for region in op.regions:
            for block in region.blocks:
                for o in block.operations:
                    if o.operation.name == "stablehlo.custom_call":
                        cfg = o.attributes["mhlo.backend_config"]
                        with lowering._new_ir_context():
                            m = ir.Module.parse(ir.StringAttr(cfg["ir"]).value_bytes)
                            modules.append((m.operation.verify(), str(m)))
                    walk(o.operation)

    walk(lowered.compiler_ir().operation)
    return modules


def test_kernels_lower_to_valid_triton_modules_without_a_gpu():
    # Cross-lowering for CUDA runs the Pallas -> Triton lowering here (power-of-two shapes,
    # supported primitives) and the Triton module can be verified; compiling it to PTX and
    # running it needs a GPU.
    sds = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in _layers(40, 5, 12)[0]]

    def loss(*args):
        return jnp.sum(jax.vmap(pallas_gru_layer)(*args) ** 2)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3, 4)))
    try:
        lowered = grad.trace(*sds).lower(lowering_platforms=("cuda",))
        modules = _triton_modules(lowered)
    except (ImportError, NotImplementedError, KeyError) as e:  # a jaxlib without Triton
        pytest.skip(f"no Triton lowering here: {e}")
    assert [ok for ok, _ in modules] == [True, True]
    names = sorted(text.split("tt.func public @", 1)[1].split("(", 1)[0] for _, text in modules)
    assert names == ["_backward_kernel", "_forward_kernel"]
