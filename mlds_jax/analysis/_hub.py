"""Exports of several stores: one Parquet table, or a Hugging Face ``datasets`` folder.

``export --parquet OUT S1 S2 ...``: the per-network table of every store (no weights), one
after the other, with a ``store`` column (the store's folder name) when there are several.

``export --hf DIR S1 S2 ...``: a folder the ``datasets`` library loads as it is::

    DIR/README.md                                  dataset card (YAML header: configs, licence)
    DIR/data/<split>-00000-of-0000N.parquet        one row per finished network

Each row holds ``weights`` (a fixed-size list of ``n_params`` float32, the store's row bit
for bit), the store's per-network columns (class, metrics, losses, learnt flags...) and
``split`` (the network's part of its store's canonical split: train, val, test, ood)::

    ds = datasets.load_dataset("parquet", data_dir="DIR/data")   # or load_dataset("DIR")
    ds["train"].with_format("torch")[0]["weights"]               # float32 [n_params]

Needs pyarrow (``mlds-jax[analysis]``); ``datasets`` is needed only to load the result.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlds_jax.analysis._dataset import SPLIT_PARTS
from mlds_jax.analysis._export import network_table
from mlds_jax.errors import OutputPathError, StoreError
from mlds_jax.store import (
    DONE,
    Store,
    check_distinct,
    check_output_path,
    dataset_card,
    open_store,
)

SHARD_BYTES = 256 << 20  # weights per Parquet shard (the Hub's viewer likes < 500 MB)


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("export needs pyarrow: pip install 'mlds-jax[analysis]'") from None
    return pa, pq


def _table(path: str | os.PathLike, store_column: bool):
    pa, _ = _pyarrow()
    cols = network_table(path)
    if store_column:
        cols = {"store": np.full(len(cols["network"]), Path(path).name, dtype=object), **cols}
    table = pa.table({k: pa.array(v) for k, v in cols.items()})
    for k in ("store", "dataset", "class_name", "status_name"):  # few distinct values
        if k in table.column_names:
            table = table.set_column(table.column_names.index(k), k,
                                     table.column(k).dictionary_encode())
    return table


def export_tables(paths: Sequence[str | os.PathLike], out: str | os.PathLike) -> int:
    """Writes the per-network tables of the stores at ``paths`` to ``out`` (Parquet, zstd),
    rows in store order; columns a store lacks are null. Schema metadata: ``mlds_jax`` (the
    root attributes: one store's dict, or a list of them) and ``card`` (Markdown).

    Returns:
      the number of rows (networks) written.
    """
    pa, pq = _pyarrow()
    paths = list(paths)
    if not paths:
        raise StoreError("export: no stores given")
    _check_out(out, paths, replaces=b"PAR1")  # rewrites only a Parquet file
    tables = [_table(p, len(paths) > 1) for p in paths]
    table = pa.concat_tables(tables, promote_options="default")
    stores = [open_store(p) for p in paths]
    attrs: Any = [dict(s.attrs) for s in stores]
    table = table.replace_schema_metadata({
        "mlds_jax": json.dumps(attrs[0] if len(attrs) == 1 else attrs, default=str),
        "card": _cards(stores)})
    pq.write_table(table, str(out), compression="zstd")
    return table.num_rows


def _check_out(out: str | os.PathLike, inputs: Sequence[str | os.PathLike],
               replaces: bytes | None = None) -> None:
    """An output never inside an input or any store, nor replacing a file of another kind
    (``store.check_output_path``); every store given once (``store.check_distinct``)."""
    check_distinct(inputs)
    check_output_path(out, inputs, replaces=replaces)


def _cards(stores: list[Store], header: str = "") -> str:
    """One card for several stores: each store's card, its headings one level down."""
    if len(stores) == 1:
        return header + dataset_card(stores[0])
    parts = [header + f"# {len(stores)} stores of trained networks\n"]
    for s in stores:
        parts.append(re.sub(r"^#", "##", dataset_card(s), flags=re.MULTILINE))
    return "\n".join(parts)


def _splits(store: Store, rows: np.ndarray) -> np.ndarray:
    """Each row's part of the store's canonical split (object ``[k]``: train, val, test,
    ood); ``train`` for every row of a store without splits."""
    if not hasattr(store, "split"):
        return np.full(rows.size, "train", dtype=object)
    return np.asarray(SPLIT_PARTS, dtype=object)[store.split("canonical")[rows]]


def export_hf(paths: Sequence[str | os.PathLike], out: str | os.PathLike, *,
              shard_bytes: int = SHARD_BYTES) -> dict[str, Any]:
    """Writes the finished networks of the stores at ``paths`` into the new folder ``out``
    as a Hugging Face dataset (see the module docstring). All stores need the same number
    of parameters (one fixed-size ``weights`` column).

    Returns:
      ``{"rows": networks written, "files": [paths written], "splits": {name: rows}}``.
    """
    pa, pq = _pyarrow()
    paths = list(paths)
    if not paths:
        raise StoreError("export_hf: no stores given (`paths` is empty)")
    _check_out(out, paths)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputPathError(f"`out` {out}: exists and is not an empty folder; choose a "
                              "new one")
    stores = [open_store(p) for p in paths]
    n_params = {int(s.attrs["n_params"]) for s in stores}
    if len(n_params) > 1:
        raise StoreError(f"export_hf: the stores hold networks of {sorted(n_params)} "
                         "parameters; one export needs one size (export them apart)")
    n = n_params.pop()
    per_shard = max(1, shard_bytes // (4 * n))
    by_split: dict[str, list] = {}
    for p, s in zip(paths, stores):
        table = _table(p, True)
        rows = np.flatnonzero(s["status"] == DONE)
        table = table.take(pa.array(rows))
        split = _splits(s, rows)
        table = table.append_column("split", pa.array(split).dictionary_encode())
        for name in dict.fromkeys(split):
            sel = np.flatnonzero(split == name)
            by_split.setdefault(name, []).append((s, rows[sel], table.take(pa.array(sel))))
    (out / "data").mkdir(parents=True, exist_ok=True)
    files, counts = [], {}
    for name, parts in by_split.items():
        total = sum(len(r) for _, r, _ in parts)
        counts[name] = total
        n_shards = max(1, -(-total // per_shard))
        shard = _ShardWriter(out / "data", name, n_shards, per_shard, pq)
        for s, rows, table in parts:
            for lo in range(0, len(rows), per_shard):
                flat = s.params(rows[lo:lo + per_shard])
                weights = pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), n)
                shard.add(table.slice(lo, per_shard).append_column("weights", weights))
        files += shard.close()
    yaml = ["---", "license: mit", "tags:", "- model-zoo", "- weight-space-learning",
            "- mlds-jax", "configs:", "- config_name: default", "  data_files:"]
    for name in by_split:
        yaml += [f"  - split: {name}", f"    path: data/{name}-*.parquet"]
    card = out / "README.md"
    card.write_text(_cards(stores, "\n".join(yaml + ["---", ""])))
    return {"rows": sum(counts.values()), "files": [card, *files], "splits": counts}


class _ShardWriter:
    """Rows into ``<split>-0000i-of-0000n.parquet`` files of at most ``per_shard`` rows."""

    def __init__(self, folder: Path, split: str, n_shards: int, per_shard: int, pq):
        self.folder, self.split, self.n, self.per = folder, split, n_shards, per_shard
        self.pq, self.pending, self.files = pq, [], []

    def add(self, table) -> None:
        while table.num_rows:
            room = self.per - sum(t.num_rows for t in self.pending)
            self.pending.append(table.slice(0, room))
            table = table.slice(room)
            if sum(t.num_rows for t in self.pending) == self.per:
                self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if not self.pending:
            return
        path = self.folder / f"{self.split}-{len(self.files):05d}-of-{self.n:05d}.parquet"
        table = pa.concat_tables(self.pending, promote_options="default")
        self.pq.write_table(table, str(path), compression="zstd")
        self.files.append(path)
        self.pending = []

    def close(self) -> list[Path]:
        self._flush()
        return self.files
