"""Outputs never inside inputs: one check every writing command makes before it writes.

An output path (a store, a report folder, a Parquet or HTML file) is refused when it equals,
or lies inside, any input (a store read, a data folder) or any existing Zarr store, with
symbolic links resolved: ``export --parquet s.zarr/zarr.json s.zarr`` would otherwise
replace the store's metadata, and ``merge p0.zarr/m.zarr p0.zarr p1.zarr`` write a store
inside a part.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from mlds_jax.errors import OutputPathError


def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.fspath(path)))


def _enclosing_store(real: Path, include_self: bool) -> Path | None:
    """The outermost existing Zarr group (a folder with ``zarr.json``) holding ``real``."""
    found = None
    for p in ([real] if include_self else []) + list(real.parents):
        if (p / "zarr.json").is_file():
            found = p
    return found


def check_output_path(out: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), *,
                      field: str = "out", resume: bool = False,
                      replaces: bytes | None = None) -> Path:
    """Refuses an output path ``out`` equal to or inside one of ``inputs`` (stores or data
    folders read by the same command) or inside an existing Zarr store; symlinks resolved.

    ``resume``: ``out`` may itself be a store (``generate`` resuming it); only a store
    *around* it is refused. ``field`` names the argument in the message. ``replaces``: the
    output is one file, rewritten when it is the command's own earlier output (its first
    256 bytes hold these bytes, e.g. Parquet's ``PAR1``); any other existing file is refused.

    Returns:
      ``out`` resolved (symlinks followed).

    Raises:
      OutputPathError: naming ``out``, the input it would write into, and the fix.
    """
    real = _real(out)
    for given in inputs:
        inp = _real(given)
        if real == inp or inp in real.parents:
            where = "is" if real == inp else "lies inside"
            raise OutputPathError(
                f"`{field}` {os.fspath(out)}: {where} the input {os.fspath(given)}"
                f"{'' if str(inp) == os.fspath(given) else f' ({inp})'}; writing there would "
                "damage it - choose an output outside every input")
    store = _enclosing_store(real, include_self=not resume)
    if store is not None:
        where = "is" if store == real else "lies inside"
        raise OutputPathError(
            f"`{field}` {os.fspath(out)}: {where} the Zarr store {store}; writing there would "
            "damage it - choose an output outside every store")
    if replaces is not None and real.is_dir():
        raise OutputPathError(f"`{field}` {os.fspath(out)}: is a folder; this command writes "
                              "one file - give a file path")
    if replaces is not None and real.is_file():
        with open(real, "rb") as f:
            ours = replaces in f.read(256)
        if not ours:
            raise OutputPathError(
                f"`{field}` {os.fspath(out)}: exists and is not a file this command wrote; "
                "writing would replace it - choose a new path (or remove that file)")
    return real


def check_distinct(inputs: Iterable[str | os.PathLike], field: str = "paths") -> None:
    """Refuses one store (or folder) given twice, symlinks resolved: its networks would be
    counted twice, silently."""
    seen: dict[Path, str] = {}
    for given in inputs:
        real = _real(given)
        if real in seen:
            raise OutputPathError(
                f"`{field}`: {os.fspath(given)} and {seen[real]} are the same store ({real}); "
                "give each store once")
        seen[real] = os.fspath(given)
