"""A GRU layer as Pallas kernels for the GPU (Triton lowering): forward and backward each one
``pallas_call`` per layer.

:func:`pallas_gru_layer` is a drop-in for :func:`~mlds_jax.models.gru_layer` (same arguments,
same result and gradients to float32 rounding). Like the fused CPU kernel it is written for
one network and meant to be vmapped over networks: under ``jax.vmap`` (any nesting) a
``jax.custom_batching.custom_vmap`` rule hands the kernel every network of the block at once,
so one call covers the whole block.

Layout and grid. Inside the kernel the networks are the innermost (lane) axis: weights
``[3, hidden_p, in_p, tile]``, hidden state and gates ``[hidden_p, tile]``, where ``_p`` is the
size padded to a power of two (Triton's tensors have power-of-two shapes) and ``tile``
networks share one program. The grid is ``(network tiles, batch)``: a program runs one
sequence of ``tile`` networks through all time steps in a ``fori_loop``, with the hidden
state and the gates in registers; the weights are re-read each step from L1/L2 (they are
per network, so there is no reuse across lanes to exploit with shared memory). A
matrix-vector product is a broadcast multiply and a sum over the weight's input axis, one
lane per network; no instruction mixes two networks. Padding is with zeros: a padded hidden
unit stays exactly 0 (its r = z = 1/2, n = tanh(0) = 0, h' = h / 2) and a padded network
computes zeros, so a network's result does not depend on the other networks in the call.

Backward: the forward saves only its output ``hs`` (which it writes anyway); the backward
kernel runs time in reverse, carries the hidden state's gradient in registers, and
*recomputes* each step's gates from ``h[t-1]`` (= ``hs[t-1]``) and ``x[t]`` with the
forward's code, rather than having the forward write r, z, n and ``W_hn h + b_hn`` (4 x
hidden floats per step) to HBM and the backward read them back. The recomputation costs
about the forward's arithmetic again; on a GPU this kernel is bound by memory traffic and
latency, not arithmetic, so recomputing is the cheaper side (to be confirmed by measurement).
The kernel writes each step's gate gradients (``d a_r, d a_z, d a_n, d(W_hn h + b_hn)``); the
weight, bias and input gradients are then one product each over all steps outside the kernel,
the same code as :func:`~mlds_jax.models.gru_layer`'s hand-written backward (``_gru_grads.py``).

Selection: ``MLDS_JAX_GRU_KERNEL=pallas`` (or ``apply_gru_batch(..., kernel="pallas")``).
``auto`` never picks it: it has not been validated on a GPU yet. On a GPU the kernel is
compiled by Triton (``compiler_params=pallas.triton.CompilerParams``); on any other backend
:func:`~mlds_jax.models.apply_gru_batch` runs it with ``interpret=True`` (slow, for tests).
The tile width and the number of warps are first guesses, to be tuned on a GPU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plt

from mlds_jax.models._gru_grads import layer_grads, previous_states, step_gate_grads

NUM_WARPS = 4  # Triton warps per program (a first guess; tune on a GPU)
_REG_BUDGET = 8192  # floats of one gate's [hidden_p, hidden_p, tile] weight product


def _pow2(n: int) -> int:
    return max(1, 1 << (n - 1).bit_length())


def default_tile(hidden: int) -> int:
    """Networks per program: 32 (one 128-byte line per weight row) for hidden <= 16, fewer for
    wider layers so one gate's ``[hidden_p, hidden_p, tile]`` product stays near 8192 floats
    (64 registers per thread at 4 warps)."""
    hp = _pow2(hidden)
    return max(1, min(32, _REG_BUDGET // (hp * hp)))


# ----------------------------------------------------------------------- layout changes
def _lanes_w(w: jax.Array, hp: int, ip: int, np_: int) -> jax.Array:
    """``[n, 3*hidden, in]`` -> ``[3, hidden_p, in_p, n_p]`` (zero padded)."""
    n, g, i = w.shape
    w = w.reshape(n, 3, g // 3, i)
    w = jnp.pad(w, ((0, np_ - n), (0, 0), (0, hp - g // 3), (0, ip - i)))
    return jnp.transpose(w, (1, 2, 3, 0))


def _lanes_b(b: jax.Array, hp: int, np_: int) -> jax.Array:
    """``[n, 3*hidden]`` -> ``[3, hidden_p, n_p]``."""
    n, g = b.shape
    b = jnp.pad(b.reshape(n, 3, g // 3), ((0, np_ - n), (0, 0), (0, hp - g // 3)))
    return jnp.transpose(b, (1, 2, 0))


def _lanes_seq(x: jax.Array, fp: int, np_: int) -> jax.Array:
    """``[n, time, batch, f]`` -> ``[time, batch, f_p, n_p]``."""
    n, _, _, f = x.shape
    x = jnp.pad(x, ((0, np_ - n), (0, 0), (0, 0), (0, fp - f)))
    return jnp.transpose(x, (1, 2, 3, 0))


# ------------------------------------------------------------------------------ kernels
def _matvec(w: jax.Array, v: jax.Array) -> jax.Array:
    """Per lane ``w @ v``: ``w [rows, cols, tile]``, ``v [cols, tile]`` -> ``[rows, tile]``."""
    return jnp.sum(w * v[None], axis=1)


def _matvec_t(w: jax.Array, v: jax.Array) -> jax.Array:
    """Per lane ``w.T @ v``: ``w [rows, cols, tile]``, ``v [rows, tile]`` -> ``[cols, tile]``."""
    return jnp.sum(w * v[:, None], axis=0)


def _gates(wi_ref, wh_ref, bi_ref, bh_ref, x, h):
    """One step's gates, in :func:`~mlds_jax.models.gru_layer`'s order of operations:
    ``x [in_p, tile]``, ``h [hidden_p, tile]`` -> r, z, n, ``W_hn h + b_hn``, each
    ``[hidden_p, tile]``."""
    gi = [_matvec(wi_ref[g], x) + bi_ref[g] for g in range(3)]
    gh = [_matvec(wh_ref[g], h) + bh_ref[g] for g in range(3)]
    r = jax.nn.sigmoid(gi[0] + gh[0])
    z = jax.nn.sigmoid(gi[1] + gh[1])
    n = jnp.tanh(gi[2] + r * gh[2])
    return r, z, n, gh[2]


def _forward_kernel(wi_ref, wh_ref, bi_ref, bh_ref, x_ref, hs_ref):
    """One program: one sequence of ``tile`` networks. ``x_ref [time, in_p, tile]`` ->
    ``hs_ref [time, hidden_p, tile]``."""

    def step(t, h):
        r, z, n, _ = _gates(wi_ref, wh_ref, bi_ref, bh_ref, x_ref[t], h)
        h = (1.0 - z) * n + z * h
        hs_ref[t] = h
        return h

    h0 = jnp.zeros(hs_ref.shape[1:], hs_ref.dtype)
    jax.lax.fori_loop(0, x_ref.shape[0], step, h0)


def _backward_kernel(wi_ref, wh_ref, bi_ref, bh_ref, x_ref, hs_ref, dhs_ref, da_ref):
    """Reverse time loop of one program: ``x_ref [time, in_p, tile]``, ``hs_ref`` and
    ``dhs_ref [time, hidden_p, tile]`` -> ``da_ref [time, 4, hidden_p, tile]``: per step
    ``d a_r, d a_z, d a_n`` (pre-activation gradients) and ``d(W_hn h + b_hn)``. Gates are
    recomputed from ``hs[t-1]`` with the forward's code."""
    steps = x_ref.shape[0]

    def step(s, dh_next):
        t = steps - 1 - s
        hp = jnp.where(t > 0, hs_ref[jnp.maximum(t - 1, 0)], 0.0)
        r, z, n, gh_n = _gates(wi_ref, wh_ref, bi_ref, bh_ref, x_ref[t], hp)
        dh = dhs_ref[t] + dh_next
        da_r, da_z, da_n, dgh_n = step_gate_grads(dh, hp, r, z, n, gh_n)
        da_ref[t, 0] = da_r
        da_ref[t, 1] = da_z
        da_ref[t, 2] = da_n
        da_ref[t, 3] = dgh_n
        return (dh * z + _matvec_t(wh_ref[0], da_r) + _matvec_t(wh_ref[1], da_z)
                + _matvec_t(wh_ref[2], dgh_n))

    jax.lax.fori_loop(0, steps, step, jnp.zeros(hs_ref.shape[1:], hs_ref.dtype))


# --------------------------------------------------------------- calls over [n] networks
class _Dims:
    """Padded sizes of one call: networks ``n`` -> ``n_p`` (a multiple of ``tile``), hidden
    and input sizes -> powers of two."""

    def __init__(self, xs: jax.Array, w_hh: jax.Array, tile: int | None):
        self.n, self.t, self.b, self.i = xs.shape
        self.h = w_hh.shape[-1]
        self.hp, self.ip = _pow2(self.h), _pow2(self.i)
        self.tile = tile or default_tile(self.h)
        self.np = -(-self.n // self.tile) * self.tile


def _call(kernel: Callable, d: _Dims, out_block: tuple[int, ...], interpret: bool,
          *args: jax.Array) -> jax.Array:
    """``pallas_call`` over the grid ``(n_p / tile, batch)``: ``args`` are the four weight
    tensors then the sequence tensors ``[time, batch, f_p, n_p]``; the output is
    ``[time, batch, *out_block, n_p]``."""

    def w_spec(shape):
        return pl.BlockSpec((*shape, d.tile), lambda j, s: (0,) * len(shape) + (j,))

    def seq_spec(f_shape):
        return pl.BlockSpec((d.t, pl.squeezed, *f_shape, d.tile),
                            lambda j, s: (0, s) + (0,) * len(f_shape) + (j,))

    in_specs = [w_spec((3, d.hp, d.ip)), w_spec((3, d.hp, d.hp)), w_spec((3, d.hp)),
                w_spec((3, d.hp))]
    in_specs += [seq_spec(a.shape[2:-1]) for a in args[4:]]
    return pl.pallas_call(
        kernel,
        out_shape=jax.ShapeDtypeStruct((d.t, d.b, *out_block, d.np), jnp.float32),
        grid=(d.np // d.tile, d.b),
        in_specs=in_specs,
        out_specs=seq_spec(out_block),
        compiler_params=plt.CompilerParams(num_warps=NUM_WARPS, num_stages=1),
        interpret=interpret,
    )(*args)


def _weights(d: _Dims, w_ih, w_hh, b_ih, b_hh) -> list[jax.Array]:
    return [_lanes_w(w_ih, d.hp, d.ip, d.np), _lanes_w(w_hh, d.hp, d.hp, d.np),
            _lanes_b(b_ih, d.hp, d.np), _lanes_b(b_hh, d.hp, d.np)]


def _forward_nets(w_ih, w_hh, b_ih, b_hh, xs, *, interpret: bool, tile: int | None):
    """``n`` networks' layers: weights ``[n, 3*hidden, in]`` ..., ``xs [n, time, batch, in]``
    -> ``hs [n, time, batch, hidden]``."""
    d = _Dims(xs, w_hh, tile)
    hs = _call(_forward_kernel, d, (d.hp,), interpret,
               *_weights(d, w_ih, w_hh, b_ih, b_hh), _lanes_seq(xs, d.ip, d.np))
    return jnp.transpose(hs, (3, 0, 1, 2))[:d.n, ..., :d.h]


def _gate_grads_nets(w_ih, w_hh, b_ih, b_hh, xs, hs, d_hs, *, interpret: bool,
                     tile: int | None):
    """``n`` networks' per-step gate gradients: as :func:`_forward_nets` plus ``hs`` and
    ``d_hs [n, time, batch, hidden]`` -> ``[n, time, batch, 4, hidden]`` (``d a_r, d a_z,
    d a_n, d(W_hn h + b_hn)``)."""
    d = _Dims(xs, w_hh, tile)
    da = _call(_backward_kernel, d, (4, d.hp), interpret,
               *_weights(d, w_ih, w_hh, b_ih, b_hh), _lanes_seq(xs, d.ip, d.np),
               _lanes_seq(hs, d.hp, d.np), _lanes_seq(d_hs, d.hp, d.np))
    return jnp.transpose(da, (4, 0, 1, 2, 3))[:d.n, ..., :d.h]


def _over_networks(nets_fn: Callable) -> Callable:
    """``nets_fn`` (leading ``[n]`` axis on every argument, the last a sequence
    ``[n, time, batch, f]``) as a function of one network whose ``jax.vmap``, at
    any nesting depth, is one call of ``nets_fn`` over all networks (unbatched arguments are
    broadcast, nested batch axes flattened into ``n``)."""

    def call(*args):
        lead = args[-1].shape[:-3]
        flat = [a.reshape((-1, *a.shape[len(lead):])) for a in args]
        out = nets_fn(*flat)
        return out.reshape((*lead, *out.shape[1:]))

    fn = jax.custom_batching.custom_vmap(call)

    @fn.def_vmap
    def _rule(axis_size, in_batched, *args):
        args = [a if b else jnp.broadcast_to(a, (axis_size, *a.shape))
                for a, b in zip(args, in_batched)]
        return fn(*args), True

    return fn


def _forward_fn(interpret: bool, tile: int | None) -> Callable:
    return _over_networks(functools.partial(_forward_nets, interpret=interpret, tile=tile))


def _gate_grads_fn(interpret: bool, tile: int | None) -> Callable:
    return _over_networks(
        functools.partial(_gate_grads_nets, interpret=interpret, tile=tile))


# ------------------------------------------------------------------------- the layer
@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def _layer(w_ih, w_hh, b_ih, b_hh, xs, interpret, tile):
    return _forward_fn(interpret, tile)(w_ih, w_hh, b_ih, b_hh, xs)


def _layer_fwd(w_ih, w_hh, b_ih, b_hh, xs, interpret, tile):
    hs = _forward_fn(interpret, tile)(w_ih, w_hh, b_ih, b_hh, xs)
    return hs, (w_ih, w_hh, b_ih, b_hh, xs, hs)


def _layer_bwd(interpret, tile, saved, d_hs):
    w_ih, w_hh, b_ih, b_hh, xs, hs = saved
    da = _gate_grads_fn(interpret, tile)(w_ih, w_hh, b_ih, b_hh, xs, hs, d_hs)
    gate_grads = (da[..., g, :] for g in range(4))  # d a_r, d a_z, d a_n, d gh_n
    return layer_grads(w_ih, xs, previous_states(hs), *gate_grads)


_layer.defvjp(_layer_fwd, _layer_bwd)


def pallas_gru_layer(w_ih: jax.Array, w_hh: jax.Array, b_ih: jax.Array, b_hh: jax.Array,
                     xs: jax.Array, *, interpret: bool = False,
                     tile: int | None = None) -> jax.Array:
    """PyTorch GRU layer (gates r, z, n) as Pallas kernels: ``xs [time, batch, in]`` ->
    ``[time, batch, hidden]``; weights as :func:`~mlds_jax.models.gru_layer` (``w_ih
    [3*hidden, in]``, ``w_hh [3*hidden, hidden]``, biases ``[3*hidden]``). float32.

    Args:
      interpret: run the kernels in Pallas' interpreter (any backend; for tests on a CPU).
        Otherwise they are lowered with Triton, which needs a GPU.
      tile: networks per program (default :func:`default_tile`); under ``jax.vmap`` the
        networks are padded to a multiple of it.
    """
    return _layer(w_ih, w_hh, b_ih, b_hh, xs, interpret, tile)
