"""IDX files (MNIST, FashionMNIST, KMNIST): parsing, validation, and the checked download
(pooch: SHA-256 registry, cache, mirrors, retries, progress).

IDX layout: two zero bytes, a dtype code, the number of dimensions ``d``; then ``d``
big-endian uint32 sizes; then the data, big-endian, C order. Files may be gzipped.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import math
import os
from pathlib import Path

import numpy as np

from mlds_jax.errors import DataError, UnknownDatasetError

_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
DATA_DIR_ENV = "MLDS_JAX_DATA"


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parses IDX bytes (raw or gzipped) into an array; raises :class:`DataError` naming the
    problem (bad magic, unknown dtype, truncated or oversized data)."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"{name}: corrupt gzip stream ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{name}: not an IDX file (magic bytes {raw[:4].hex() or 'missing'})")
    code, ndim = raw[2], raw[3]
    if code not in _DTYPES:
        raise DataError(f"{name}: unknown IDX dtype code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{name}: truncated header ({len(raw)} bytes, need {header})")
    shape = tuple(int(x) for x in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = np.dtype(_DTYPES[code])
    need = math.prod(shape) * dtype.itemsize  # Python ints: a huge header cannot overflow
    have = len(raw) - header
    if have < need:
        raise DataError(f"{name}: truncated: shape {shape} needs {need} data bytes, "
                        f"found {have}")
    if have > need:
        raise DataError(f"{name}: {have - need} unexpected bytes after the data of shape {shape}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array in an IDX file (MNIST's format); :class:`DataError` if missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such file")
    return parse_idx(p.read_bytes(), str(p))


def idx_bytes(array: np.ndarray) -> bytes:
    """An array as uncompressed IDX bytes (the inverse of :func:`parse_idx`)."""
    a = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}
    if a.dtype not in codes:
        raise DataError(f"write_idx: dtype {a.dtype} has no IDX code")
    return bytes([0, 0, codes[a.dtype], a.ndim]) + np.asarray(a.shape, ">u4").tobytes() + \
        a.astype(a.dtype.newbyteorder(">")).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, gzipped: bool = False) -> None:
    """Writes an array as IDX (used by tests and by tools that convert images)."""
    body = idx_bytes(array)
    Path(path).write_bytes(gzip.compress(body) if gzipped else body)


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    name: str  # e.g. "train-images-idx3-ubyte.gz"
    sha256: str
    size: int | None = None


@dataclasses.dataclass(frozen=True)
class ImageSource:
    """Where an image set's four IDX files live and their SHA-256 checksums. ``mirrors``:
    further base URLs holding the same files, tried in order when ``base_url`` fails."""

    name: str
    base_url: str
    files: dict[str, RemoteFile]  # keys: train_images, train_labels, test_images, test_labels
    mirrors: tuple[str, ...] = ()

    @property
    def urls(self) -> tuple[str, ...]:
        """Every base URL, first choice first."""
        return (self.base_url, *self.mirrors)


# Checksums: MNIST's from TensorFlow Datasets' records of the cvdf mirror; FashionMNIST's and
# KMNIST's from public dataset wrappers (ml-datasets, torchvision-ruby). Verified on download.
SOURCES: dict[str, ImageSource] = {
    "mnist": ImageSource("mnist", "https://storage.googleapis.com/cvdf-datasets/mnist/", {
        "train_images": RemoteFile("train-images-idx3-ubyte.gz",
                                   "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                                   9912422),
        "train_labels": RemoteFile("train-labels-idx1-ubyte.gz",
                                   "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                                   28881),
        "test_images": RemoteFile("t10k-images-idx3-ubyte.gz",
                                  "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                                  1648877),
        "test_labels": RemoteFile("t10k-labels-idx1-ubyte.gz",
                                  "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                                  4542),
    }, mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",)),  # torchvision's mirror
    "fashionmnist": ImageSource(
        "fashionmnist", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", {
            "train_images": RemoteFile("train-images-idx3-ubyte.gz",
                                       "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc"),
            "train_labels": RemoteFile("train-labels-idx1-ubyte.gz",
                                       "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc"),
            "test_images": RemoteFile("t10k-images-idx3-ubyte.gz",
                                      "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229"),
            "test_labels": RemoteFile("t10k-labels-idx1-ubyte.gz",
                                      "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf"),
        }),
    "kmnist": ImageSource("kmnist", "https://codh.rois.ac.jp/kmnist/dataset/kmnist/", {
        "train_images": RemoteFile("train-images-idx3-ubyte.gz",
                                   "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4"),
        "train_labels": RemoteFile("train-labels-idx1-ubyte.gz",
                                   "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17"),
        "test_images": RemoteFile("t10k-images-idx3-ubyte.gz",
                                  "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5"),
        "test_labels": RemoteFile("t10k-labels-idx1-ubyte.gz",
                                  "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c"),
    }),
}


def get_source(name: str) -> ImageSource:
    """The image set called ``name`` (any case); :class:`UnknownDatasetError` if none."""
    try:
        return SOURCES[name.lower()]
    except KeyError:
        raise UnknownDatasetError(f"unknown image set {name!r}; known: "
                                  f"{', '.join(sorted(SOURCES))}") from None


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """``explicit``, else ``$MLDS_JAX_DATA``, else ``~/.cache/mlds-jax``."""
    if explicit:
        return Path(explicit)
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV])
    return Path.home() / ".cache" / "mlds-jax"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(source: ImageSource, root: Path, *, timeout: float = 60.0, retries: int = 2,
          progress: bool = False) -> dict[str, Path]:
    """Downloads any missing file of ``source`` into ``root/<name>/`` and checks every SHA-256.

    Downloads go through pooch: each file's SHA-256 is its registry entry, a failed try is
    retried ``retries`` times (pooch waits 1 s, 2 s, ... between tries) and then the next of
    ``source.urls`` is tried; ``progress`` shows a byte bar per file. pooch writes under a
    temporary name and renames into place only after the checksum matches, so a failed or
    corrupt download never leaves a file that looks valid. A file already there is checked,
    never replaced (:class:`DataError` if its SHA-256 differs).
    """
    out_dir = Path(root) / source.name
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, rf in source.files.items():
        target = out_dir / rf.name
        if target.exists():
            got = sha256_file(target)
            if got != rf.sha256:
                raise DataError(f"{target}: SHA-256 {got} does not match the expected "
                                f"{rf.sha256}; delete it and fetch again")
        else:
            _download(source, rf, out_dir, timeout=timeout, retries=retries,
                      progress=progress)
        paths[key] = target
    return paths


def _download(source: ImageSource, rf: RemoteFile, out_dir: Path, *, timeout: float,
              retries: int, progress: bool) -> None:
    """One file of ``source`` into ``out_dir``: each URL in turn, ``retries`` more tries each."""
    import pooch
    import requests

    from mlds_jax._progress import BYTES_FORMAT, progress_bar

    failures = []
    for base in source.urls:
        url = base + rf.name
        # total: pooch replaces it by the server's length (and reads a bar of total None
        # or 0 as no bar)
        bar = progress_bar(rf.size or 1, rf.name, enabled=progress, unit="B", unit_scale=True,
                           unit_divisor=1024, bar_format=BYTES_FORMAT)
        try:
            registry = pooch.create(path=out_dir, base_url=base, retry_if_failed=retries,
                                    registry={rf.name: f"sha256:{rf.sha256}"})
            registry.fetch(rf.name, downloader=pooch.HTTPDownloader(
                progressbar=bar if progress else False, timeout=timeout))
            return
        except ValueError as e:  # pooch: the downloaded file's hash differs
            if "hash" not in str(e).lower():
                raise
            failures.append(f"{url}: SHA-256 of the download does not match the expected "
                            f"{rf.sha256}; the download is corrupt or the file changed "
                            "upstream")
        except (requests.exceptions.RequestException, OSError) as e:
            failures.append(f"{url}: download failed ({e})")
        finally:
            bar.close()
    raise DataError("; ".join(failures) + (f" (tried {len(failures)} URLs)"
                                           if len(failures) > 1 else ""))


def image_set_files(source: ImageSource, root: Path) -> dict[str, Path]:
    """The four IDX files of ``source`` under ``root`` (keys: train_images, train_labels,
    test_images, test_labels)."""
    d = Path(root) / source.name
    return {k: d / rf.name for k, rf in source.files.items()}


def check_image_arrays(arrays: dict[str, np.ndarray], names: dict[str, str],
                       image_shape: tuple[int, int] = (28, 28), n_classes: int = 10) -> None:
    """Refuses image sets a network cannot honestly be trained or scored on: images must be
    uint8 ``[n, *image_shape]``, labels integers ``[n]`` in ``[0, n_classes)``, both splits
    non-empty with as many labels as images. ``names`` maps each key to the file it came
    from, which every :class:`DataError` names."""
    want = "x".join(map(str, image_shape))
    for split in ("train", "test"):
        ki, kl = f"{split}_images", f"{split}_labels"
        img, lab = arrays[ki], arrays[kl]
        if img.dtype != np.uint8:
            raise DataError(f"{names[ki]}: images are {img.dtype}, expected uint8 pixels "
                            "0..255 (IDX dtype code 0x08); convert the file")
        if img.ndim != 3 or img.shape[1:] != tuple(image_shape):
            raise DataError(f"{names[ki]}: images have shape {list(img.shape)}, expected "
                            f"[n, {', '.join(map(str, image_shape))}] ({want} images)")
        if len(img) == 0:
            raise DataError(f"{names[ki]}: no images (shape {list(img.shape)}); the {split} "
                            "set must be non-empty")
        if not np.issubdtype(lab.dtype, np.integer):
            raise DataError(f"{names[kl]}: labels are {lab.dtype}, expected integers "
                            f"0..{n_classes - 1}")
        if lab.ndim != 1:
            raise DataError(f"{names[kl]}: labels have shape {list(lab.shape)}, expected [n]")
        if len(lab) != len(img):
            raise DataError(f"{names[kl]}: {split} has {len(img)} images but {len(lab)} "
                            f"labels; {names[ki]} and this file must have the same count")
        bad = np.flatnonzero((lab < 0) | (lab >= n_classes))
        if bad.size:
            raise DataError(f"{names[kl]}: {bad.size} label(s) outside 0..{n_classes - 1} "
                            f"(first: label {int(lab[bad[0]])} at index {int(bad[0])})")


def load_image_set(source: ImageSource, root: Path) -> dict[str, np.ndarray]:
    """Reads and checks the four IDX files: images uint8 ``[n, 28, 28]``, labels integers
    ``[n]`` in ``0..9`` (see :func:`check_image_arrays`)."""
    files = image_set_files(source, root)
    arrays = {k: read_idx(p) for k, p in files.items()}
    check_image_arrays(arrays, {k: str(p) for k, p in files.items()})
    return arrays
