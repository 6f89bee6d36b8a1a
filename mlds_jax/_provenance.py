"""Where a run happens: the CPU (model, instruction sets) and the library versions.

The one reader of ``/proc/cpuinfo``: the fused kernel's build cache is keyed by the CPU
(:func:`cpu_id`), a store records :func:`cpu_description` and :func:`provenance`, and the
benchmarks name the CPU they ran on (:func:`cpu_model`). A leaf module: every room may use it.
"""

from __future__ import annotations

import datetime
import functools
import platform
from pathlib import Path
from typing import Any

from mlds_jax._version import __version__

# Widest first: the first of these in the CPU's flags names its vector instruction set.
ISA_FLAGS = ("avx512f", "avx2", "avx", "sse4_2", "neon", "asimd")


@functools.lru_cache(maxsize=1)
def cpuinfo_lines() -> tuple[str, ...]:
    """The distinct ``model name``, ``flags`` and ``Features`` lines of ``/proc/cpuinfo``, in
    the file's order (empty where there is no such file)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    keep = (ln for ln in text.splitlines() if ln.startswith(("model name", "flags", "Features")))
    return tuple(dict.fromkeys(keep))


def _field(name: str) -> str | None:
    """The value of the first ``name`` line (``model name : Intel ...`` -> ``Intel ...``)."""
    for ln in cpuinfo_lines():
        if ln.startswith(name) and ":" in ln:
            return ln.split(":", 1)[1].strip()
    return None


def cpu_id() -> str:
    """Text that differs between kinds of CPU (model and feature flags; sorted), to key what
    is compiled for this CPU."""
    lines = cpuinfo_lines()
    if not lines:
        return platform.processor() + platform.machine()
    return "\n".join(sorted(lines))


def cpu_model() -> str:
    """The CPU's model name (``platform.processor()`` or the machine where none is listed)."""
    return _field("model name") or platform.processor() or platform.machine()


def cpu_description() -> str:
    """The CPU's model and widest vector instruction set (what float rounding on XLA:CPU and
    the fused kernel can depend on), e.g. ``"AMD EPYC (avx512f)"``."""
    flags = set((_field("flags") or "").split())
    isa = next((x for x in ISA_FLAGS if x in flags), "unknown")
    return f"{cpu_model()} ({isa})"


def provenance() -> dict[str, Any]:
    """Versions and device recorded in a store's root attributes."""
    import jax
    import jaxlib
    import numpy as np
    import zarr

    dev = jax.devices()[0]
    return {
        "library": "mlds-jax",
        "library_version": __version__,
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "zarr_version": zarr.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "device_kind": dev.device_kind,
        "platform": dev.platform,
        "cpu": cpu_description(),
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
