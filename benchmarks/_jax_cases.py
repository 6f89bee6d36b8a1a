"""JAX cases: one network at a time under jit, and the mlds-jax bulk trainers."""

from __future__ import annotations

import time

import jax
import numpy as np

from benchmarks._workloads import DENSE, GRU
from mlds_jax.spec import DatasetSpec, GRUSpec, TrainSpec
from mlds_jax.train import make_block_trainer, make_train, network_inputs


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

    ``make_block_trainer`` trains a block as chunks of ``width`` networks (default:
    ``task_width(spec)``, as ``generate``) through one compiled program; its first call compiles, so
    ``compile_s`` is the first call's time less a timed call's.
    """
    spec = _gru_spec(steps, epochs)
    inputs = network_inputs(spec, np.arange(n_models))
    trainer = make_block_trainer(spec, width=width)
    if hasattr(trainer, "lower"):  # an older trainer: one jitted function
        compile_s, secs, mem = _run_compiled(trainer, (inputs,), repeats)
    else:
        mem = {}
        t0 = time.perf_counter()
        jax.block_until_ready(trainer(inputs))
        first = time.perf_counter() - t0
        times = []
        cpu0 = time.process_time()
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(trainer(inputs))
            times.append(time.perf_counter() - t0)
        mem["cpu_seconds"] = (time.process_time() - cpu0) / repeats  # per call
        secs = float(np.median(times))
        compile_s = max(first - secs, 0.0)
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


def mlp_bulk(n_models: int, steps: int, repeats: int, width: int | None = None,
             workload: str = "mlp") -> dict:
    """Dense networks through the trainer ``generate`` runs (the DS4 image task on the chunk
    runner): ``n_models`` networks of ``DENSE[workload]``, one epoch of ``steps`` steps each
    on MNIST-shaped random images, each with its own data order, plus the per-epoch test
    evaluation and the final metrics that ``generate`` computes."""
    from mlds_jax.spec import DenseTrainSpec, ImageDatasetSpec
    from mlds_jax.tasks import ImageData
    from mlds_jax.train import make_runner

    dense = DENSE[workload]
    rng = np.random.default_rng(0)
    n_train, n_test = steps * dense.batch, 100
    x = rng.integers(0, 256, (n_train, dense.widths[0]), dtype=np.uint8)
    t = rng.integers(0, 256, (n_test, dense.widths[0]), dtype=np.uint8)
    data = ImageData(x, x[None], rng.integers(0, 10, n_train).astype(np.int32),
                     np.zeros(10, np.int32), t, t, rng.integers(0, 10, n_test).astype(np.int32))
    spec = ImageDatasetSpec(name="bench", image_set="digits", n_networks=n_models,
                            widths=dense.widths,
                            train=DenseTrainSpec(batch_size=dense.batch, epochs=1))
    runner = make_runner(spec, data, width)
    inputs = network_inputs(spec, np.arange(n_models))
    t0 = time.perf_counter()
    runner.train(inputs, 1)  # compiles, then runs once
    first = time.perf_counter() - t0
    times = []
    cpu0 = time.process_time()
    for _ in range(repeats):
        t0 = time.perf_counter()
        runner.train(inputs, 1)  # returns host arrays: waits for the block
        times.append(time.perf_counter() - t0)
    secs = float(np.median(times))
    return {"network_steps": n_models * steps, "seconds": secs,
            "compile_s": max(first - secs, 0.0), "n_models": n_models,
            "width": runner.width, "cpu_seconds": (time.process_time() - cpu0) / repeats}


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
