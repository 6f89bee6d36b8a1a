"""Layout of a flat parameter vector: ordered (name, shape, offset) entries."""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np


@dataclasses.dataclass(frozen=True)
class LayoutEntry:
    """One named tensor of a flat parameter vector: its shape and where it starts."""

    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        """Number of parameters (the product of ``shape``)."""
        return math.prod(self.shape)


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where each named tensor lives in a flat ``[n_params]`` vector."""

    entries: tuple[LayoutEntry, ...]

    @classmethod
    def from_shapes(cls, shapes: list[tuple[str, tuple[int, ...]]]) -> Layout:
        """A layout packing ``(name, shape)`` tensors one after another, in the given order."""
        entries, offset = [], 0
        for name, shape in shapes:
            entries.append(LayoutEntry(name, tuple(shape), offset))
            offset += math.prod(shape)
        return cls(tuple(entries))

    @property
    def n_params(self) -> int:
        """Length of the flat parameter vector."""
        last = self.entries[-1]
        return last.offset + last.size

    def unflatten(self, flat) -> dict:
        """``[..., n_params]`` -> ``{name: [..., *shape]}`` (NumPy or JAX arrays)."""
        lead = flat.shape[:-1]
        return {
            e.name: flat[..., e.offset : e.offset + e.size].reshape(*lead, *e.shape)
            for e in self.entries
        }

    def flatten(self, tensors: dict) -> np.ndarray | jax.Array:
        """Inverse of :meth:`unflatten` for one network: ``{name: shape}`` -> ``[n_params]``."""
        parts = [tensors[e.name].reshape(-1) for e in self.entries]
        xp = np if all(isinstance(p, np.ndarray) for p in parts) else jax.numpy
        return xp.concatenate(parts)

    def to_records(self) -> list[dict]:
        """JSON-able table: ``[{"name", "shape", "offset", "size"}]``."""
        return [
            {"name": e.name, "shape": list(e.shape), "offset": e.offset, "size": e.size}
            for e in self.entries
        ]
