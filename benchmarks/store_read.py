"""Bytes read and time to read ONE network from a 16,384-network block: one plain chunk per
block (stores before sharding) vs one shard per block with small inner chunks (now).

    nice python -m benchmarks.store_read /tmp/read-bench   # docs/store-format.md

Synthetic ``params`` arrays shaped like DS1 (4,364 parameters, block 16,384: what
``--block-size auto`` picks on an H100) and DS4 (25,450 parameters, block 4,096), written
with the store's own codecs; bytes are counted by the process's read syscalls
(``/proc/self/io`` ``rchar``), time is the median of 5 reads of different networks.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import zarr


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise RuntimeError("no rchar in /proc/self/io")


def _compressors() -> list | str:
    try:  # the store's own chain where this version has one
        from mlds_jax.store import chunk_compressors
        return chunk_compressors()
    except ImportError:
        return "auto"


def measure(root: Path, n_params: int, block: int) -> dict:
    from mlds_jax.store import storage_chunks

    rng = np.random.default_rng(0)
    data = (rng.standard_normal((block, n_params), np.float32) * 0.1)
    out = {}
    for kind, kw in (("unsharded", {"chunks": (block, n_params)}),
                     ("sharded", storage_chunks("float32", block, (n_params,)))):
        path = root / f"{kind}-{n_params}.zarr"
        shutil.rmtree(path, ignore_errors=True)
        arr = zarr.create_array(str(path), shape=(block, n_params), dtype="float32",
                                fill_value=float("nan"), compressors=_compressors(), **kw)
        arr[...] = data
        arr = zarr.open_array(str(path), mode="r")
        times, nbytes = [], []
        for i in (block // 7, block // 3, block // 2, block - 5, 11):
            r0, t0 = _rchar(), time.perf_counter()
            row = arr[i]
            times.append(time.perf_counter() - t0)
            nbytes.append(_rchar() - r0)
            assert np.array_equal(row, data[i])
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        out[kind] = {"chunks": kw, "bytes_read": int(statistics.median(nbytes)),
                     "seconds": statistics.median(times), "bytes_on_disk": size}
        shutil.rmtree(path, ignore_errors=True)
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scratch", help="directory for the temporary arrays")
    a = p.parse_args()
    root = Path(a.scratch)
    root.mkdir(parents=True, exist_ok=True)
    for label, n_params, block in (("DS1", 4364, 16384), ("DS4", 25450, 4096)):
        for kind, r in measure(root, n_params, block).items():
            print(f"{label} block {block} x {n_params}: {kind:9s} {r['chunks']}: one network "
                  f"reads {r['bytes_read'] / 1e3:,.1f} kB in {r['seconds'] * 1e3:,.1f} ms "
                  f"(array on disk {r['bytes_on_disk'] / 1e6:,.0f} MB)", flush=True)
