"""Error hierarchy for mlds_jax.

Every error names the problem and, where it can, what would work. Each class also inherits
the built-in exception a caller would naturally catch (``ValueError``, ``FileExistsError``...).
"""

from __future__ import annotations


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
