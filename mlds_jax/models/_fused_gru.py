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
* ``$MLDS_JAX_GRU_KERNEL``: ``auto`` (default) — the fused kernel when the default backend is
  the CPU and the kernel builds here, else XLA; ``fused`` — the fused kernel or an error;
  ``xla`` — the XLA ``lax.scan`` path; ``pallas`` — the Pallas kernels
  (:func:`~mlds_jax.models.pallas_gru_layer`, written for a GPU; interpreted elsewhere).
  ``auto`` never picks ``pallas``: it has not been validated on a GPU yet.

Layers wider than 64 (hidden or input) and dtypes other than float32 always take the XLA path.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp

from mlds_jax.models._fused_gru_build import load_fused_gru

KERNELS = ("auto", "fused", "xla", "pallas")
"""GRU kernel choices: ``fused`` (the compiled CPU kernel), ``xla`` (plain JAX), ``pallas``
(GPU kernels, only when asked for) or ``auto``."""
ENV_VAR = "MLDS_JAX_GRU_KERNEL"
MAX_DIM = 64  # largest hidden / input size the kernel takes (kMaxDim in the .cc)
GRU_KERNEL_MAX_DIM = MAX_DIM
"""Largest hidden or input size the fused GRU kernel takes; wider layers run on XLA."""


def resolve_gru_kernel(kernel: str | None = None) -> str:
    """``"fused"``, ``"xla"`` or ``"pallas"``: the GRU path to trace now.

    Args:
      kernel: ``"auto"``, ``"fused"``, ``"xla"``, ``"pallas"`` or None (read
        ``$MLDS_JAX_GRU_KERNEL``, default ``"auto"``). ``"pallas"`` is only ever chosen
        explicitly; ``"auto"`` is the fused kernel on a CPU where it builds, else XLA.
    """
    choice = kernel if kernel is not None else os.environ.get(ENV_VAR, "auto") or "auto"
    if choice not in KERNELS:
        src = "kernel" if kernel is not None else f"${ENV_VAR}"
        raise ValueError(f"{src}: expected one of {KERNELS}, got {choice!r}")
    if choice in ("xla", "pallas"):
        return choice
    on_cpu = jax.default_backend() == "cpu"
    if choice == "fused":
        if not on_cpu:
            raise ValueError(f"GRU kernel 'fused' runs on the CPU only; the default backend is "
                             f"{jax.default_backend()!r} (use 'auto' or 'xla')")
        if not load_fused_gru():
            raise RuntimeError("GRU kernel 'fused' was asked for but cannot be built here "
                               "(see the warning above); use 'auto' or 'xla'")
        return "fused"
    return "fused" if on_cpu and load_fused_gru() else "xla"


def _call(target: str, shapes, *args):
    if not load_fused_gru():  # registers the targets at first use (cached afterwards)
        raise RuntimeError("the fused GRU kernel cannot be built here; use gru_layer")
    return jax.ffi.ffi_call(target, shapes, vmap_method="broadcast_all")(*args)


def _shapes(w_hh, xs):
    hidden = w_hh.shape[-1]
    lead = xs.shape[:-1]  # [..., time, batch]
    return (jax.ShapeDtypeStruct((*lead, hidden), jnp.float32),
            jax.ShapeDtypeStruct((*lead, 5 * hidden), jnp.float32))


@jax.custom_vjp
def fused_gru_layer(w_ih, w_hh, b_ih, b_hh, xs):
    """PyTorch GRU layer (gates r, z, n) as one custom call: ``xs [time, batch, in]`` ->
    ``[time, batch, hidden]``; weights as :func:`~mlds_jax.models.gru_layer`
    (``w_ih [3*hidden, in]``, ``w_hh [3*hidden, hidden]``, biases ``[3*hidden]``).
    float32 only; the kernel is built and registered at the first trace.
    """
    hs_shape, _ = _shapes(w_hh, xs)
    empty = jax.ShapeDtypeStruct((0,), jnp.float32)
    return _call("mlds_gru_fwd", (hs_shape, empty), w_ih, w_hh, b_ih, b_hh, xs)[0]


def _fused_fwd(w_ih, w_hh, b_ih, b_hh, xs):
    hs, res = _call("mlds_gru_fwd_train", _shapes(w_hh, xs), w_ih, w_hh, b_ih, b_hh, xs)
    return hs, (w_ih, w_hh, b_ih, b_hh, xs, res)


def _fused_bwd(saved, d_hs):
    # res: the forward's gates and hidden states in the kernel's own layout (opaque here)
    w_ih, w_hh, b_ih, b_hh, xs, res = saved
    shapes = tuple(jax.ShapeDtypeStruct(a.shape, jnp.float32)
                   for a in (w_ih, w_hh, b_ih, b_hh, xs))
    return tuple(_call("mlds_gru_bwd", shapes, w_ih, w_hh, xs, res, d_hs))


fused_gru_layer.defvjp(_fused_fwd, _fused_bwd)
