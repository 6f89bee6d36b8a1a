"""Checkpoints of in-flight blocks (orbax-checkpoint), for long runs.

One directory per checkpoint, ``block-<b>-epoch-<e>`` (``b``: a block number, or ``pool``
for a retire-and-refill pool); orbax writes it under a temporary
name and renames it when complete, so a kill leaves either the previous checkpoint or the
new one. Older checkpoints of a block are removed after each save, and all of them once the
block is committed to the store.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import jax

_NAME = re.compile(r"^block-(\w+?)-epoch-(\d+)$")


class BlockCheckpoints:
    def __init__(self, directory: str | Path):
        import orbax.checkpoint as ocp

        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._ckpt = ocp.StandardCheckpointer()

    def _complete(self, block: int | str) -> list[tuple[int, Path]]:
        out = []
        for p in self.dir.iterdir():
            m = _NAME.match(p.name)
            if m and m.group(1) == str(block) and p.is_dir():
                out.append((int(m.group(2)), p))
        return sorted(out)

    def latest(self, block: int, target):
        """``(epoch, state)`` of the newest complete checkpoint of ``block``, or ``None``
        (also, with a warning, when that checkpoint's state has another structure or shapes
        than ``target``: it was written by another mlds-jax version, and the block is
        retrained from the start). ``target`` gives the state's structure, shapes and
        dtypes."""
        found = self._complete(block)
        if not found:
            return None
        epoch, path = found[-1]
        # each JAX leaf restored onto the device of ``target``'s leaf (host leaves as before):
        # a checkpoint written with another number of devices (another --cpu-devices or core
        # count) still restores
        abstract = jax.tree_util.tree_map(
            lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype,
                                           sharding=getattr(a, "sharding", None)), target)
        try:
            return epoch, self._ckpt.restore(path.absolute(), abstract)
        except ValueError as e:  # orbax: "Structure mismatch" / incompatible shapes
            # A checkpoint whose training state has another layout (written by another
            # mlds-jax version, e.g. before the state gained its restart count) cannot be
            # continued; the block is retrained from its start, which gives the same bits.
            warnings.warn(f"{path}: checkpoint not resumable by this mlds-jax version "
                          f"({str(e).splitlines()[0][:120]}); retraining block {block} "
                          "from the start", stacklevel=2)
            return None

    def save(self, block: int, epoch: int, state) -> None:
        path = (self.dir / f"block-{block}-epoch-{epoch}").absolute()
        self._ckpt.save(path, state, force=True)
        self._ckpt.wait_until_finished()
        for e, old in self._complete(block):
            if e != epoch:
                shutil.rmtree(old, ignore_errors=True)

    def remove(self, block: int) -> None:
        for _, p in self._complete(block):
            shutil.rmtree(p, ignore_errors=True)
