"""CPU devices: one JAX device per core, so a block's chunks train side by side.

XLA runs one program's small matrix products on one core at a time better than on several
(measured on a 2-core EPYC, docs/benchmarks.md): the chunk runner already places chunk ``i``
on local device ``i mod n``, so giving JAX one CPU device per core runs one chunk per core at
once. A network's floats do not depend on the device it ran on (``tests/coord/test_mesh.py``
compares stores bit for bit), so this changes speed only. JAX fixes its CPU device count when
its backend starts: :func:`set_cpu_devices` must run before the first JAX operation.
"""

from __future__ import annotations

import os

import jax


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _chosen_elsewhere() -> bool:
    """Whether the CPU device count was already set (the XLA flag or JAX's own option)."""
    return ("xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "")
            or getattr(jax.config, "jax_num_cpu_devices", -1) >= 0)


def set_cpu_devices(n: int | None = None) -> int | None:
    """Asks JAX for ``n`` CPU devices (``None``: one per usable core) before it starts.

    ``None`` is a default, not a demand: it leaves a count chosen elsewhere
    (``XLA_FLAGS=--xla_force_host_platform_device_count``, ``jax_num_cpu_devices``) and a
    JAX that is already running as they are, and returns ``None`` then. An explicit ``n``
    that JAX can no longer take (it is running with another count) raises ``ValueError``.

    Returns:
      the count asked for, or ``None`` where the default left JAX as it was.
    """
    if n is not None and n < 1:
        raise ValueError(f"CPU devices: expected a positive count, got {n}")
    if n is None and _chosen_elsewhere():
        return None
    want = usable_cores() if n is None else n
    if not hasattr(jax.config, "jax_num_cpu_devices"):  # an older JAX: its XLA flag
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={want}"
        return want
    try:
        jax.config.update("jax_num_cpu_devices", want)
    except RuntimeError:  # the backend already started with another count
        if n is None:
            return None
        have = len(jax.devices("cpu"))
        raise ValueError(f"CPU devices: JAX already runs with {have} CPU device(s) in this "
                         f"process, cannot change to {n} (set it before the first JAX "
                         "operation)") from None
    return want
