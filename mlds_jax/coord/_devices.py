"""CPU devices: one JAX device per core, so a block's chunks train side by side.

XLA runs one program's small matrix products on one core at a time better than on several
(measured on a 2-core EPYC, docs/benchmarks.md): the chunk runner already places chunk ``i``
on local device ``i mod n``, so giving JAX one CPU device per core runs one chunk per core at
once. A network's floats do not depend on the device it ran on (``tests/coord/test_mesh.py``
compares stores bit for bit), so this changes speed only. JAX fixes its CPU device count when
its backend starts: :func:`set_cpu_devices` must run before the first JAX operation.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import jax

MAX_PER_CORE = 4
"""Most CPU devices per usable core :func:`set_cpu_devices` accepts: each device is a thread
and a compilation of every chunk program, and more devices than cores only add those."""


def _cgroup_cores(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> int | None:
    """Cores a cgroup v2 CPU quota allows (``"200000 100000"`` -> 2), or ``None``."""
    try:
        quota, period = path.read_text().split()[:2]
        return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        return None


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity (where the OS reports it), capped by
    a container's CPU quota (cgroup v2 ``cpu.max``)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_cores()
    return min(cores, quota) if quota else cores


def _chosen_elsewhere() -> bool:
    """Whether the CPU device count was already set (the XLA flag or JAX's own option)."""
    return ("xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "")
            or getattr(jax.config, "jax_num_cpu_devices", -1) >= 0)


def set_cpu_devices(n: int | None = None) -> int | None:
    """Asks JAX for ``n`` CPU devices (``None``: one per usable core) before it starts.

    ``None`` is a default, not a demand: it leaves a count chosen elsewhere
    (``XLA_FLAGS=--xla_force_host_platform_device_count``, ``JAX_NUM_CPU_DEVICES``), a JAX
    that is already running, and a JAX without the option as they are, and returns ``None``
    then. An explicit ``n`` that cannot be had (JAX runs with another count, an older JAX,
    more than ``MAX_PER_CORE`` per usable core) raises ``ValueError``.

    Returns:
      the count asked for, or ``None`` where the default left JAX as it was.
    """
    cores = usable_cores()
    if n is not None and not 1 <= n <= MAX_PER_CORE * cores:
        raise ValueError(f"CPU devices: expected 1 to {MAX_PER_CORE * cores} "
                         f"({MAX_PER_CORE} per usable core), got {n}")
    if n is None and _chosen_elsewhere():
        return None
    if not hasattr(jax.config, "jax_num_cpu_devices"):
        if n is None:
            return None
        raise ValueError(f"CPU devices: this JAX ({jax.__version__}) has no "
                         "jax_num_cpu_devices option; set XLA_FLAGS="
                         f"--xla_force_host_platform_device_count={n} instead")
    want = cores if n is None else n
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
