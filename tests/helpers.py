"""Small specs and helpers shared by tests."""

import os
import subprocess
import sys

import numpy as np

from mlds_jax.spec import ds1


def tiny_ds1(per_class: int = 2, **train):
    """A DS1 spec small enough to compile and train in seconds (same 4,364-parameter network)."""
    defaults = dict(batch_size=8, seq_len=8, n_train=16, n_val=16, max_epochs=4,
                    learning_rate=0.01, class_learning_rates=None,  # as tests were written
                    class_address_curriculum=None, fresh_train_data=None, lr_schedule=None,
                    max_restarts=None)
    return ds1(per_class, **{**defaults, **train})


def fake_image_data(n_train, n_test=100):
    """Random MNIST-shaped :class:`~mlds_jax.tasks._images.ImageData` (uint8 [n, 784])."""
    from mlds_jax.tasks._images import ImageData

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n_train, 784), dtype=np.uint8)
    t = rng.integers(0, 256, (n_test, 784), dtype=np.uint8)
    y = rng.integers(0, 10, n_train).astype(np.int32)
    return ImageData(x, x[None].copy(), y, np.full((1, 10), n_train // 100, np.int32), t, t.copy(),
                     rng.integers(0, 10, n_test).astype(np.int32))


# Whole gate blocks of the tiny DS1 network's layer 0: weight_ih_l0's r, z and n rows, then
# bias_ih_l0 and bias_hh_l0. An offset on every unit of a gate survives the canonical form:
# its unit permutations move the offset within the block, its sign flips leave r/z rows
# alone and keep a positive n-row offset positive (the sign key is the n-row sum).
INVARIANT_BLOCKS = ((0, 60), (60, 120), (120, 180), (612, 648), (648, 684))


def synthetic_store(path, planted: float, per_class=30, complete=True, seed=0, blocks=None):
    """A real store written through StoreWriter with synthetic weights: class k's weights
    are N(0, 0.1) plus ``planted`` on its own 50 parameters (k*50 .. k*50+49), or on
    parameters ``blocks[k][0] .. blocks[k][1] - 1`` (e.g. :data:`INVARIANT_BLOCKS`)."""
    from mlds_jax.models import gru_layout
    from mlds_jax.pipeline import planned_arrays
    from mlds_jax.store import StoreWriter, open_store

    spec = tiny_ds1(per_class=per_class, max_epochs=3)
    layout = gru_layout(spec.model)
    w = StoreWriter.open_or_create(path, spec, block_size=per_class,
                                   layout=layout.to_records(), planned=planned_arrays(spec),
                                   provenance={})
    rng = np.random.default_rng(seed)
    n = spec.n_networks
    params = rng.normal(0, 0.1, (n, layout.n_params)).astype(np.float32)
    cls = np.repeat(np.arange(5), per_class)
    for k in range(5):
        lo, hi = blocks[k] if blocks is not None else (k * 50, (k + 1) * 50)
        params[cls == k, lo:hi] += planted
    hist = np.tile(np.linspace(0.7, 0.1, 3, dtype=np.float32), (n, 1))
    acc = rng.uniform(0.5, 1, n).astype(np.float32)
    for b in range(5 if complete else 3):
        sl = slice(b * per_class, (b + 1) * per_class)
        w.write_block(b, {
            "params": params[sl], "failed": np.zeros(per_class, bool),
            "stopped_early": np.zeros(per_class, bool),
            "epochs": np.full(per_class, 3, np.int32), "train_loss": hist[sl],
            "val_loss": hist[sl], "final_train_loss": hist[sl, -1],
            "final_val_loss": hist[sl, -1],
            "val_bit_accuracy": acc[sl],
            "learnt": spec.is_learnt({"val_bit_accuracy": acc[sl]}),
            "restarts": np.zeros(per_class, np.int32)})
    return open_store(path)


def run_python(code: str, *args: str, py_flags: tuple[str, ...] = (), **env: str) -> str:
    """stdout of ``python [py_flags] -c code args...`` in a fresh interpreter without the
    suite's CPU device count (``JAX_NUM_CPU_DEVICES``, the XLA device-count flag; other XLA
    flags, e.g. an ISA limit, are kept), ``env`` added; fails the test on a non-zero exit."""
    base = {k: v for k, v in os.environ.items() if k != "JAX_NUM_CPU_DEVICES"}
    flags = [f for f in base.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_force_host_platform_device_count")]
    base["XLA_FLAGS"] = " ".join(flags)
    r = subprocess.run([sys.executable, *py_flags, "-c", code, *args], env={**base, **env},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def kernel_or_skip(variant: str = "fused") -> None:
    """Loads the fused CPU GRU kernel (``variant``'s build: ``fused`` or ``fused_fma``). Skips
    only where it cannot be built at all (another backend, no C++ compiler, an unsupported
    machine), saying why; where it could be built and was not, raises the compiler's error, so
    kernel tests fail instead of skipping."""
    import jax
    import pytest

    from mlds_jax.models import _fused_gru_build as build

    if jax.default_backend() != "cpu":
        pytest.skip(f"the fused GRU kernel runs on the CPU only (backend: "
                    f"{jax.default_backend()})")
    if (reason := build.unavailable_reason()) is not None:
        pytest.skip(f"the fused CPU GRU kernel cannot be built here: {reason}")
    build.require_fused_gru(variant)


def gru_layer_inputs(n: int, inp: int, hidden: int, time: int, batch: int, seed: int = 0):
    """``n`` networks' GRU layer tensors (PyTorch's init range), inputs and output
    cotangents: ``(w_ih [n, 3*hidden, inp], w_hh, b_ih, b_hh, xs [n, time, batch, inp])`` and
    ``d_hs [n, time, batch, hidden]``. NumPy draws them: eager jax.random ops would each
    compile."""
    import jax.numpy as jnp

    rng = np.random.default_rng(seed)
    s = hidden**-0.5

    def u(*shape):
        return jnp.asarray(rng.uniform(-s, s, (n, *shape)), jnp.float32)

    args = (u(3 * hidden, inp), u(3 * hidden, hidden), u(3 * hidden), u(3 * hidden),
            jnp.asarray(rng.standard_normal((n, time, batch, inp)), jnp.float32))
    return args, jnp.asarray(rng.standard_normal((n, time, batch, hidden)), jnp.float32)


def copy_with_one_bit_changed(store_path, tmp_path, name: str, where: tuple):
    """A copy of the store at ``store_path`` under ``tmp_path`` whose float array ``name``
    has its value at ``where`` (first index: the network) moved up by one last bit."""
    import shutil

    import zarr

    copy = tmp_path / name.replace("/", "_")
    shutil.copytree(store_path, copy)
    arr = zarr.open_group(str(copy), mode="r+")[name]
    row = arr[where[0]]
    row[where[1:]] = np.nextafter(row[where[1:]], np.float32(np.inf))
    arr[where[0]] = row
    return copy


def cli_subcommands(parser, prefix: str = ""):
    """``(name, parser)`` of every subcommand below ``parser``, nested ones as ``"data fetch"``."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix}{name}", sub
                yield from cli_subcommands(sub, f"{prefix}{name} ")
