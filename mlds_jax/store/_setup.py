"""What a store's networks were trained with (chunk width, backend, GRU kernel path, CPU),
against this process. Floats are bit-equal only on the same backend and kernel path (fused,
XLA and Pallas round differently), so resuming, regenerating and recomputing all compare
them here; JAX is imported only when they are compared.
"""

from __future__ import annotations

import os
from typing import Any

from mlds_jax._provenance import cpu_description
from mlds_jax.errors import MLDSError, StoreError
from mlds_jax.spec import SEQUENCE, task_of

# The root attributes a process must match to train a store's networks again, bit for bit.
SETUP_FIELDS = ("backend", "gru_kernel")


def stored_chunk_width(attrs: dict[str, Any]) -> int:
    """Networks per compiled chunk a store's networks are trained with, from its root
    ``attrs`` (its creator's choice; stores from before chunk widths were recorded get this
    backend's default for their block size)."""
    from mlds_jax.train import default_width

    return int(attrs.get("chunk_width") or default_width(block_size=attrs.get("block_size")))


def current_setup(attrs: dict[str, Any], *, cpu: bool = False) -> dict[str, str]:
    """This process's backend, CPU description (with ``cpu``) and, for a store of the
    sequence task, GRU kernel path."""
    import jax

    from mlds_jax.models import resolve_gru_kernel

    now = {"backend": jax.default_backend()}
    if cpu:
        now["cpu"] = cpu_description()
    if task_of(attrs) is SEQUENCE:
        now["gru_kernel"] = resolve_gru_kernel()
    return now


def setup_differences(attrs: dict[str, Any], *, cpu: bool = False
                      ) -> dict[str, tuple[str, str]]:
    """Field -> ``(the store's, this process's)`` for each of :data:`SETUP_FIELDS` (and, with
    ``cpu``, the CPU description) the store records and this process does otherwise."""
    now = current_setup(attrs, cpu=cpu)
    return {k: (attrs[k], v) for k, v in now.items() if attrs.get(k) and attrs[k] != v}


def check_same_setup(path: str | os.PathLike, attrs: dict[str, Any], doing: str,
                     error: type[MLDSError] = StoreError, instead: str = "") -> None:
    """Raises a one-line ``error`` when this process would train the networks of the store
    at ``path`` (root ``attrs``) on another backend or GRU kernel path than the store's;
    ``doing`` says what it would do (``"resume it"``, ``"regenerate them"``), ``instead`` what
    else would work. Another CPU model is not refused: its instruction set may move last
    bits only."""
    diff = setup_differences(attrs)
    alt = f" or {instead}" if instead else ""
    if "backend" in diff:
        was, now = diff["backend"]
        raise error(f"{path}: its networks were trained on {was}, this process uses {now} "
                    f"(floats differ between backends); {doing} on {was} "
                    f"(e.g. JAX_PLATFORMS=cpu){alt}")
    if "gru_kernel" in diff:
        was, now = diff["gru_kernel"]
        raise error(f"{path}: its networks were trained with the {was!r} GRU kernel, this "
                    f"process uses {now!r}; set MLDS_JAX_GRU_KERNEL={was} to {doing}{alt}")
