"""Ray backend: each pending block is a Ray task (with retries) that trains it and writes it.

Blocks own disjoint chunks, so tasks on any node write the shared store concurrently; a task
that dies is retried by Ray, and a block that still fails stays pending for the next run.
The driver passes factories (cheap to pickle), not live objects: each task builds its sink
(a store writer: cheap) and its block trainer (the task's chunk runner; compiled programs
are cached per spec inside the worker process, so a worker compiles once for all its tasks).
Every path trains through the same chunk programs, so Ray's stores equal local ones.

The driver's choice of GRU kernel (``$MLDS_JAX_GRU_KERNEL``, which ``--gru-kernel`` sets) is
what the store records, so it goes to every task in the task's ``runtime_env``: a worker of
a cluster started elsewhere (``RAY_ADDRESS``) or before the choice would otherwise train on
its own default and write other floats than the store says.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from mlds_jax.coord._plan import block_indices
from mlds_jax.coord._run import Sink, pending_blocks

# Environment variables that change what a task computes: the driver's values go to its tasks.
FORWARDED_ENV = ("MLDS_JAX_GRU_KERNEL",)


def _train_and_write(spec, block: int, sink_factory, trainer_factory) -> int:
    import numpy as np

    from mlds_jax.train import network_inputs

    sink, trainer = sink_factory(), trainer_factory()
    idx, n_real = block_indices(block, spec.n_networks, sink.block_size)
    result = trainer(network_inputs(spec, idx[:n_real]))
    sink.write_block(block, {k: np.asarray(v) for k, v in result._asdict().items()})
    return n_real


def run_blocks_ray(spec, sink: Sink, sink_factory: Callable[[], Sink],
                   trainer_factory: Callable, *, max_retries: int = 3,
                   process_index: int = 0, process_count: int = 1,
                   progress: bool = True) -> dict[str, float]:
    """Trains the sink's pending blocks as Ray tasks on the connected cluster.

    ``trainer_factory()`` returns ``inputs [n] -> result [n]`` (e.g. a ``BlockTrainer``).
    Calls ``ray.init()`` (local cluster, or the one in ``RAY_ADDRESS``) if Ray is not
    initialised yet.
    """
    try:
        import ray
    except ImportError:
        raise ImportError("the Ray backend needs ray: pip install 'mlds-jax[ray]'") from None
    from tqdm.auto import tqdm

    if not ray.is_initialized():
        ray.init(log_to_driver=False, include_dashboard=False)
    bs, n = sink.block_size, spec.n_networks
    _, todo = pending_blocks(sink, n, process_index, process_count)
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    task = ray.remote(max_retries=max_retries, retry_exceptions=True,
                      **({"runtime_env": {"env_vars": env}} if env else {}))(_train_and_write)
    t0 = time.perf_counter()
    refs = [task.remote(spec, b, sink_factory, trainer_factory) for b in todo]
    trained = 0
    with tqdm(total=sum(block_indices(b, n, bs)[1] for b in todo), unit="net",
              desc=f"{spec.name} networks (ray)", disable=not progress) as bar:
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            k = ray.get(ready[0])
            trained += k
            bar.update(k)
    secs = time.perf_counter() - t0
    return {"networks": trained, "seconds": secs,
            "networks_per_second": trained / secs if secs > 0 else 0.0}
