"""A fused GRU layer for XLA:CPU: forward and backward each one custom call per layer.

:func:`fused_gru_layer` is a drop-in for :func:`~mlds_jax.models.gru_layer` (same arguments,
same result to float32 rounding, same gradients). Written for one network, it is meant to be
vmapped over networks: the custom calls use ``vmap_method="broadcast_all"``, so under
``jax.vmap`` the kernel receives every network of the block at once (leading ``[n_models]``
axis) and runs 8 networks per SIMD vector (``csrc/fused_gru.cc``). A network's result does
not depend on the other networks in the call: there is no reduction across networks and a
partial last tile is padded, so every network runs the same vector code.

Which path :func:`~mlds_jax.models.apply_gru_batch` takes is chosen when it is traced:

* ``kernel=`` argument of ``apply_gru_batch`` / :func:`resolve_gru_kernel`, else
* ``$MLDS_JAX_GRU_KERNEL`` (the CLI's ``--gru-kernel``): ``auto`` (default) — the fused
  kernel when the default backend is the CPU and the kernel builds here, else XLA; ``fused`` —
  the fused kernel or an error; ``fused_fma`` — its build with one rounding per multiply-add
  (:func:`fused_fma_gru_layer`: other last bits than ``fused``, never picked by ``auto``);
  ``xla`` — the XLA ``lax.scan`` path; ``pallas`` — the Pallas kernels
  (:func:`~mlds_jax.models.pallas_gru_layer`, written for a GPU; interpreted elsewhere).
  ``auto`` never picks ``pallas``: it has not been validated on a GPU yet.

Layers wider than 64 (hidden or input) and dtypes other than float32 always take the XLA path.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp

from mlds_jax.models._fused_gru_build import load_fused_gru, residual_width, target

KERNELS = ("auto", "fused", "fused_fma", "xla", "pallas")
"""GRU kernel choices: ``fused`` (the compiled CPU kernel), ``fused_fma`` (its build with one
rounding per multiply-add), ``xla`` (plain JAX), ``pallas`` (GPU kernels, only when asked
for) or ``auto``. A store records the path it was trained on (``gru_kernel``)."""
FUSED_KERNELS = ("fused", "fused_fma")
"""The builds of the compiled CPU kernel, one library each (their layers:
:func:`fused_gru_layer`, :func:`fused_fma_gru_layer`)."""
ENV_VAR = "MLDS_JAX_GRU_KERNEL"
MAX_DIM = 64  # largest hidden / input size the kernel takes (kMaxDim in the .cc)
GRU_KERNEL_MAX_DIM = MAX_DIM
"""Largest hidden or input size the fused GRU kernel takes; wider layers run on XLA."""


def resolve_gru_kernel(kernel: str | None = None) -> str:
    """``"fused"``, ``"fused_fma"``, ``"xla"`` or ``"pallas"``: the GRU path to trace now.

    Args:
      kernel: one of :data:`KERNELS` or None (read ``$MLDS_JAX_GRU_KERNEL``, default
        ``"auto"``). ``"fused_fma"`` and ``"pallas"`` are only ever chosen explicitly;
        ``"auto"`` is ``"fused"`` on a CPU where it builds, else XLA.
    """
    choice = kernel if kernel is not None else os.environ.get(ENV_VAR, "auto") or "auto"
    if choice not in KERNELS:
        src = "kernel" if kernel is not None else f"${ENV_VAR}"
        raise ValueError(f"{src}: expected one of {KERNELS}, got {choice!r}")
    if choice in ("xla", "pallas"):
        return choice
    on_cpu = jax.default_backend() == "cpu"
    if choice in FUSED_KERNELS:
        if not on_cpu:
            raise ValueError(f"GRU kernel {choice!r} runs on the CPU only; the default backend "
                             f"is {jax.default_backend()!r} (use 'auto' or 'xla')")
        if not load_fused_gru(choice):
            raise RuntimeError(f"GRU kernel {choice!r} was asked for but cannot be built here "
                               "(see the warning above); use 'auto' or 'xla'")
        return choice
    return "fused" if on_cpu and load_fused_gru() else "xla"


def _call(variant: str, name: str, shapes, *args):
    if not load_fused_gru(variant):  # registers the targets at first use (cached afterwards)
        raise RuntimeError("the fused GRU kernel cannot be built here; use gru_layer")
    return jax.ffi.ffi_call(target(name, variant), shapes, vmap_method="broadcast_all")(*args)


def _shapes(w_hh, xs, residuals: int = 5):
    hidden = w_hh.shape[-1]
    lead = xs.shape[:-1]  # [..., time, batch]
    return (jax.ShapeDtypeStruct((*lead, hidden), jnp.float32),
            jax.ShapeDtypeStruct((*lead, residuals * hidden), jnp.float32))


def _make_layer(variant: str):
    """The custom-VJP layer function running ``variant``'s build of the kernel."""

    @jax.custom_vjp
    def layer(w_ih, w_hh, b_ih, b_hh, xs):
        hs_shape, _ = _shapes(w_hh, xs)
        empty = jax.ShapeDtypeStruct((0,), jnp.float32)
        return _call(variant, "mlds_gru_fwd", (hs_shape, empty), w_ih, w_hh, b_ih, b_hh,
                     xs)[0]

    def fwd(w_ih, w_hh, b_ih, b_hh, xs):
        hs, res = _call(variant, "mlds_gru_fwd_train",
                        _shapes(w_hh, xs, residual_width(variant)), w_ih, w_hh, b_ih, b_hh, xs)
        return hs, (w_ih, w_hh, b_ih, b_hh, xs, res)

    def bwd(saved, d_hs):
        # res: the forward's gates and hidden states (or hidden states alone: the backward
        # recomputes the gates) in the kernel's own layout (opaque here)
        w_ih, w_hh, b_ih, b_hh, xs, res = saved
        shapes = tuple(jax.ShapeDtypeStruct(a.shape, jnp.float32)
                       for a in (w_ih, w_hh, b_ih, b_hh, xs))
        return tuple(_call(variant, "mlds_gru_bwd", shapes, w_ih, w_hh, b_ih, b_hh, xs, res,
                           d_hs))

    layer.defvjp(fwd, bwd)
    return layer


fused_gru_layer = _make_layer("fused")
fused_gru_layer.__doc__ = """PyTorch GRU layer (gates r, z, n) as one custom call:
``xs [time, batch, in]`` -> ``[time, batch, hidden]``; weights as :func:`~mlds_jax.models.gru_layer`
(``w_ih [3*hidden, in]``, ``w_hh [3*hidden, hidden]``, biases ``[3*hidden]``).
float32 only; the kernel is built and registered at the first trace.
"""
fused_fma_gru_layer = _make_layer("fused_fma")
fused_fma_gru_layer.__doc__ = """:func:`fused_gru_layer` on the kernel's ``fused_fma`` build:
every multiply-add rounded once (an explicit fused multiply-add in every lane), so its floats
differ from :func:`fused_gru_layer`'s in the last bits; the same on AVX2 and AVX-512 and
whatever the number of networks in the call.
"""
FUSED_LAYERS = {"fused": fused_gru_layer, "fused_fma": fused_fma_gru_layer}
"""The layer function of each compiled-kernel choice."""
