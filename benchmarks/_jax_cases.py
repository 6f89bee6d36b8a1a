"""JAX cases: one network at a time under jit, and the mlds-jax bulk trainers."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks._workloads import GRU, MLP
from mlds_jax.models import init_mlp
from mlds_jax.spec import DatasetSpec, GRUSpec, TrainSpec
from mlds_jax.train import make_block_trainer, make_train, network_inputs
from mlds_jax.train._dense import make_dense_block_steps


def _gru_spec(steps: int, epochs: int) -> DatasetSpec:
    model = GRUSpec(GRU.input, GRU.hidden, GRU.layers, GRU.head, GRU.output)
    train = TrainSpec(batch_size=GRU.batch, seq_len=GRU.time, n_train=GRU.batch * steps,
                      n_val=GRU.batch, max_epochs=epochs, stop_val_loss=0.0)
    return DatasetSpec("bench", ("SingleDirectMachine", "ParityMachine"), 65536,
                       model=model, train=train)


def _memory(compiled) -> dict:
    out = {}
    try:
        m = compiled.memory_analysis()
        out["xla_temp_bytes"] = int(m.temp_size_in_bytes)
        out["xla_arg_bytes"] = int(m.argument_size_in_bytes)
        out["xla_out_bytes"] = int(m.output_size_in_bytes)
    except Exception:  # noqa: BLE001 - not every backend reports it
        pass
    return out


def _run_compiled(fn, args, repeats: int) -> tuple[float, float, dict]:
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile() if not hasattr(fn, "lower") else \
        fn.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(compiled(*args))  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t0)
    return compile_s, float(np.median(times)), _memory(compiled)


def gru_bulk(n_models: int, steps: int, epochs: int, repeats: int,
             width: int | None = None) -> dict:
    """The mlds-jax bulk trainer, whole runs including data and validation.

    ``make_block_trainer`` trains a block as chunks of ``width`` networks (default: the
    backend's default width) through one compiled program; its first call compiles, so
    ``compile_s`` is the first call's time less a timed call's.
    """
    spec = _gru_spec(steps, epochs)
    inputs = network_inputs(spec, np.arange(n_models))
    trainer = make_block_trainer(spec, width=width)
    if hasattr(trainer, "lower"):  # an older trainer: one jitted function
        compile_s, secs, mem = _run_compiled(trainer, (inputs,), repeats)
    else:
        t0 = time.perf_counter()
        jax.block_until_ready(trainer(inputs))
        first = time.perf_counter() - t0
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(trainer(inputs))
            times.append(time.perf_counter() - t0)
        secs = float(np.median(times))
        compile_s, mem = max(first - secs, 0.0), {}
    return {"network_steps": n_models * steps * epochs, "seconds": secs,
            "compile_s": compile_s, "n_models": n_models,
            "width": getattr(trainer, "width", None), **mem}


def gru_single(steps: int, epochs: int, repeats: int) -> dict:
    """One network at a time: jit(train) of the same pure function, no vmap."""
    spec = _gru_spec(steps, epochs)
    one = jax.tree_util.tree_map(lambda a: a[0], network_inputs(spec, np.arange(1)))
    compile_s, secs, mem = _run_compiled(make_train(spec), (one,), repeats)
    return {"network_steps": steps * epochs, "seconds": secs, "compile_s": compile_s,
            "n_models": 1, **mem}


def mlp_bulk(n_models: int, steps: int, repeats: int, shared_order: bool = False) -> dict:
    """Dense networks on one shared uint8 image set, per-network batch order by index."""
    run, opt = make_dense_block_steps(MLP.widths)
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.integers(0, 256, (MLP.n_images, MLP.widths[0]), np.uint8))
    labels = jnp.asarray(rng.integers(0, 10, MLP.n_images), jnp.int32)
    if shared_order:
        one = rng.integers(0, MLP.n_images, (1, steps, MLP.batch))
        batches = jnp.asarray(np.repeat(one, n_models, 0), jnp.int32)
    else:
        batches = jnp.asarray(rng.integers(0, MLP.n_images, (n_models, steps, MLP.batch)),
                              jnp.int32)
    keys = jax.random.split(jax.random.PRNGKey(0), n_models)
    params = jax.vmap(lambda k: init_mlp(k, MLP.widths))(keys)
    opt_state = jax.vmap(opt.init)(params)
    lr = jnp.full((n_models,), 1e-3, jnp.float32)

    t0 = time.perf_counter()
    compiled = run.lower(params, opt_state, lr, images, labels, batches).compile()
    compile_s = time.perf_counter() - t0
    mem = _memory(compiled)
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        params, opt_state, losses = compiled(params, opt_state, lr, images, labels, batches)
        jax.block_until_ready(losses)
        if i:  # first call is the warm-up
            times.append(time.perf_counter() - t0)
    return {"network_steps": n_models * steps, "seconds": float(np.median(times)),
            "compile_s": compile_s, "n_models": n_models, **mem}


def jax_matmul_peak(seconds: float = 1.0) -> float:
    n = 4096 if jax.default_backend() == "gpu" else 1024
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
    f = jax.jit(lambda x, y: x @ y)
    jax.block_until_ready(f(a, a))
    t0, k = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds or k < 3:
        jax.block_until_ready(f(a, a))
        k += 1
    return 2 * n**3 * k / (time.perf_counter() - t0) / 1e9
