"""``mlds-jax pack STORE OUT``: a store as a few files for an archive (Zenodo takes at most
100 files per record; a store is thousands of chunk files).

``OUT/`` gets four files:

* ``<name>.zarr.zip``: every file of the store in one uncompressed zip (the chunks are
  zstd-compressed already), with consolidated metadata, so ``open_store(zip)``,
  ``zarr.open_group(zarr.storage.ZipStore(zip, mode="r"))`` and ``xr.open_zarr(ZipStore)``
  read it in place, bit for bit;
* ``README.md``: the dataset card;
* ``MANIFEST.json``: the SHA-256 of every member of the zip (each chunk checks alone);
* ``SHA256SUMS``: the SHA-256 of the other three files (``sha256sum -c SHA256SUMS``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from mlds_jax.errors import StoreError, StoreExistsError
from mlds_jax.store._card import CARD_NAME, dataset_card
from mlds_jax.store._finish import consolidate
from mlds_jax.store._lock import writer_lock
from mlds_jax.store._open import open_store
from mlds_jax.store._paths import check_output_path

MANIFEST = "MANIFEST.json"
SUMS = "SHA256SUMS"


def _sha256(path: Path) -> str:
    """Hex SHA-256 of a file (read in pieces by ``hashlib.file_digest``)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _consolidated_root(src: Path) -> bytes:
    """The store's root ``zarr.json`` with every node's metadata consolidated into it,
    computed on a copy of the metadata documents (the store is not touched)."""
    with tempfile.TemporaryDirectory() as tmp:
        for doc in src.rglob("zarr.json"):
            dst = Path(tmp) / doc.relative_to(src)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(doc, dst)
        consolidate(tmp)
        return (Path(tmp) / "zarr.json").read_bytes()


def pack_store(store: str | os.PathLike, out: str | os.PathLike) -> dict[str, Any]:
    """Packs the store at ``store`` into the new folder ``out`` (see the module docstring).

    Returns:
      ``{"zip": path, "files": [the four paths], "members": n, "bytes": zip size}``.

    Raises:
      StoreExistsError: ``out`` exists (nothing is overwritten).
      StoreError: ``store`` is not an mlds-jax store.
    """
    src, out = Path(store), Path(out)
    check_output_path(out, [src])  # never inside the store (symlinks resolved)
    with writer_lock(out):  # one packer per output (keyed by its real path)
        return _pack(src, out)


def _pack(src: Path, out: Path) -> dict[str, Any]:
    """:func:`pack_store` once its output is checked and locked."""
    if out.exists() or out.is_symlink():
        raise StoreExistsError(f"{out}: exists; pack writes a new folder - choose another "
                               "`out`")
    view = open_store(src)
    if not src.is_dir():
        raise StoreError(f"{src}: pack takes a store folder (this one is packed already)")
    out.mkdir(parents=True)
    name = f"{src.name.removesuffix('.zarr')}.zarr.zip"
    members: dict[str, str] = {}
    try:
        root = _consolidated_root(src)
        with zipfile.ZipFile(out / name, "w", compression=zipfile.ZIP_STORED,
                             allowZip64=True) as zf:
            zf.writestr("zarr.json", root)
            members["zarr.json"] = hashlib.sha256(root).hexdigest()
            for f in sorted(p for p in src.rglob("*") if p.is_file()):
                rel = f.relative_to(src).as_posix()
                if rel == "zarr.json" or f.name.startswith("."):
                    continue  # written above; lock and temp files are not the store
                zf.write(f, rel)
                members[rel] = _sha256(f)
        (out / CARD_NAME).write_text(dataset_card(view))
        (out / MANIFEST).write_text(json.dumps(
            {"store": src.name, "zip": name, "sha256": members}, indent=1, sort_keys=True))
        sums = [f"{_sha256(out / f)}  {f}\n" for f in (name, CARD_NAME, MANIFEST)]
        (out / SUMS).write_text("".join(sums))
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    files = [out / f for f in (name, CARD_NAME, MANIFEST, SUMS)]
    return {"zip": out / name, "files": files, "members": len(members),
            "bytes": (out / name).stat().st_size}


def check_pack(out: str | os.PathLike) -> list[str]:
    """Problems of a packed folder: a file whose SHA-256 differs from ``SHA256SUMS``, or a
    zip member whose SHA-256 differs from ``MANIFEST.json`` ([] when it is intact)."""
    out = Path(out)
    problems = []
    for line in (out / SUMS).read_text().splitlines():
        digest, fname = line.split("  ", 1)
        if not (out / fname).is_file() or _sha256(out / fname) != digest:
            problems.append(f"{fname}: SHA-256 differs from {SUMS}")
    manifest = json.loads((out / MANIFEST).read_text())
    with zipfile.ZipFile(out / manifest["zip"]) as zf:
        for rel, digest in manifest["sha256"].items():
            try:
                ok = hashlib.sha256(zf.read(rel)).hexdigest() == digest
            except (zipfile.BadZipFile, KeyError):  # a bad CRC-32, a missing member
                ok = False
            if not ok:
                problems.append(f"{manifest['zip']}:{rel}: SHA-256 differs from {MANIFEST}")
    return problems
