"""Placing a block of networks across the local devices: a 1-D mesh over a ``models`` axis.

Networks never communicate, so sharding the block's leading axis splits the work with no
cross-device traffic; shared inputs (DS4's image set) are replicated on every device.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from mlds_jax.errors import SpecError


def models_mesh(devices=None) -> Mesh:
    """A 1-D mesh named ``models`` over ``devices`` (default: every local device)."""
    devs = list(devices if devices is not None else jax.local_devices())
    return Mesh(np.array(devs), ("models",))


def block_shardings(block_size: int, devices=None
                    ) -> tuple[NamedSharding, NamedSharding] | None:
    """``(per-network sharding, replicated sharding)`` for a block, or ``None`` on one device.

    Raises:
      SpecError: the block does not split evenly over the devices.
    """
    mesh = models_mesh(devices)
    n = mesh.devices.size
    if n == 1:
        return None
    if block_size % n:
        raise SpecError(f"`block_size`: expected a multiple of the {n} local devices, "
                        f"got {block_size}")
    return NamedSharding(mesh, PartitionSpec("models")), NamedSharding(mesh, PartitionSpec())
