"""The Pallas GRU kernels: the kernel switch and their Triton lowering (without a GPU: the
kernels are lowered for CUDA and the Triton module verified). The contract every path keeps
(interpreted on the CPU here) is test_gru_kernels.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from helpers import gru_layer_inputs

from mlds_jax.models import (
    KERNELS,
    pallas_gru_layer,
    resolve_gru_kernel,
)

T, B = 8, 3  # time, batch


def _layers(n: int, inp: int, hidden: int, seed: int = 0):
    """:func:`helpers.gru_layer_inputs` at this file's time and batch."""
    return gru_layer_inputs(n, inp, hidden, T, B, seed)


# The contract every path keeps (forward and gradients against autodiff, independence from
# the call's other networks, apply_gru_batch under vmap of grad) is tests/models/
# test_gru_kernels.py; here what only Pallas has.


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
