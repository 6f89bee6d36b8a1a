"""Error hierarchy for mlds_jax.

Every error names the problem and, where it can, what would work. Each class also inherits
the built-in exception a caller would naturally catch (``ValueError``, ``FileExistsError``...).
"""

from __future__ import annotations

import errno
import os


class MLDSError(Exception):
    """Base class of every error raised on purpose by mlds_jax."""


class SpecError(MLDSError, ValueError):
    """A spec field has an invalid value (the message names the field and the value)."""


class UnknownDatasetError(MLDSError, KeyError):
    """A dataset or machine name is not in the catalogue."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class DataError(MLDSError, ValueError):
    """A data file is missing, truncated, corrupt, or fails its checksum."""


class StoreError(MLDSError, ValueError):
    """A store is missing, malformed, or was written by another spec."""


class StoreExistsError(StoreError, FileExistsError):
    """The output path exists and is not a store this run may write to."""


class OutputPathError(MLDSError, ValueError):
    """An output path equals, or lies inside, an input (a store read, a data folder)."""


_OS_FIXES = {
    errno.ENOSPC: "free disk space, then run the same command again: it resumes",
    errno.EDQUOT: "free disk space, then run the same command again: it resumes",
    errno.EACCES: "check its permissions, or choose another path",
    errno.EPERM: "check its permissions, or choose another path",
    errno.EROFS: "the file system is read-only; choose another path",
    errno.ENOTDIR: "a parent of this path is a regular file; choose another path",
    errno.EISDIR: "expected a file, got a directory",
    errno.ENOENT: "check the path",
    errno.EEXIST: "choose another path or remove it",
}


def describe(e: BaseException, path: str | os.PathLike | None = None) -> str:
    """One line for an expected failure: ``<path>: <problem> (<fix>)``.

    ``path`` is what the command was working on (a store, ``--out``), used where the error
    itself names no file. Errors of this module already name their field or file and say
    what would work, so they are returned as they are.
    """
    if isinstance(e, MLDSError):
        return _flat(str(e))
    where = f"{os.fspath(path)}: " if path is not None else ""
    if isinstance(e, OSError):  # an MLDSError that is also an OSError returned above
        name = e.filename or path
        where = f"{os.fspath(name)}: " if name is not None else ""
        fix = _OS_FIXES.get(e.errno or -1, "check the path and the disk")
        return f"{where}{e.strerror or _flat(str(e)) or type(e).__name__} ({fix})"
    if isinstance(e, MemoryError) or "RESOURCE_EXHAUSTED" in str(e):
        return (f"{where}out of memory ({_flat(str(e))[:160] or 'MemoryError'}) "
                "(use a smaller `block_size` or `per_class`)")
    msg = f"{type(e).__name__}: {_flat(str(e))}" if str(e) else type(e).__name__
    if path is not None and os.path.isfile(os.path.join(os.fspath(path), "zarr.json")):
        return (f"{where}{msg} (run `mlds-jax verify {os.fspath(path)}` to find damage, "
                "or add --debug for the traceback)")
    if path is not None:  # not (yet) a store: nothing to verify
        return f"{where}{msg} (add --debug for the traceback)"
    return f"{msg} (add --debug for the traceback)"


def _flat(text: str) -> str:
    return " ".join(text.split())
