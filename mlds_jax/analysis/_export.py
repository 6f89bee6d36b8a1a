"""``mlds-jax export --parquet``: a store's per-network table (no weights) as Parquet.

One row per network; one column per per-network scalar array of the store (class, replicate,
learning rate, status, epochs, losses, the task's metrics, ``learnt`` flags where a store
has them...), plus ``network``, ``class_name``, ``status_name``, ``dataset`` and one
``split_<name>`` column per named split of the store (``Store.split_names()``: the network's
part, ``train``, ``val``, ``test`` or ``ood``; a store from before splits were stored gets
them computed from its spec). The spec and
provenance travel in the file's schema metadata (key ``mlds_jax``, JSON). pandas reads it
with ``pd.read_parquet(path)``. Needs pyarrow (``mlds-jax[analysis]``).
"""

from __future__ import annotations

import json
import os

import numpy as np

from mlds_jax.spec import SPLIT_CODES
from mlds_jax.store import STATUS_CODES, check_output_path, open_store

SPLIT_PARTS = tuple(sorted(SPLIT_CODES, key=SPLIT_CODES.get))  # train val test ood: codes 0-3


def network_table(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The per-network columns of a store, each ``[n_networks]``, in a stable order."""
    view = open_store(path)
    n = int(view.attrs["n_networks"])
    cls = view["class_id"]
    names = np.asarray(view.class_names, dtype=object)
    status = view["status"]
    by_code = {v: k for k, v in STATUS_CODES.items()}
    cols: dict[str, np.ndarray] = {
        "network": np.arange(n, dtype=np.int64),
        "dataset": np.full(n, view.attrs["spec"]["name"], dtype=object),
        "class_name": names[cls],
        "status_name": np.asarray([by_code.get(int(s), "unknown") for s in range(256)],
                                  dtype=object)[status],
    }
    for name, arr in sorted(view.group.arrays()):
        if arr.ndim == 1 and arr.shape[0] == n and name not in cols:
            cols[name] = np.asarray(arr[...])
    if hasattr(view, "split_names"):  # every store whose spec this version reads
        parts = np.asarray(SPLIT_PARTS, dtype=object)
        for name in view.split_names():
            cols[f"split_{name}"] = parts[view.split(name)]
    return cols


def export_parquet(path: str | os.PathLike, out: str | os.PathLike) -> int:
    """Writes the per-network table of the store at ``path`` to ``out`` (Parquet, zstd).

    Returns:
      the number of rows (networks) written.
    """
    check_output_path(out, [path], replaces=b"PAR1")  # not inside the store, nor over a file
    # of another kind
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("export --parquet needs pyarrow: pip install 'mlds-jax[analysis]'"
                          ) from None
    cols = network_table(path)
    table = pa.table({k: pa.array(v) for k, v in cols.items()})
    for k in ("dataset", "class_name", "status_name", *(c for c in cols
                                                         if c.startswith("split_"))):
        table = table.set_column(table.column_names.index(k), k,  # few distinct values
                                 table.column(k).dictionary_encode())
    attrs = dict(open_store(path).attrs)
    table = table.replace_schema_metadata({"mlds_jax": json.dumps(attrs, default=str)})
    pq.write_table(table, str(out), compression="zstd")
    return table.num_rows
