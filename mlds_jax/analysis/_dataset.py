"""``NetworkDataset``: the networks of one or more stores as training examples.

Each example is one network: its weights (flat ``[n_params]`` or named tensors), a target
taken from any per-network array of its store (``class_id``, ``val_bit_accuracy``,
``history/val_loss``...), and where it came from. It is a map-style dataset, so
``torch.utils.data.DataLoader(NetworkDataset(...), batch_size=32)`` takes it as it is (torch
is not imported here); :meth:`NetworkDataset.batches` yields NumPy batches for JAX.

Example::

    ds = NetworkDataset(["demo/ds1.zarr"], target="class_id")
    loader = torch.utils.data.DataLoader(ds, batch_size=32, shuffle=True)
    for batch in loader:            # batch["weights"] [32, 4364], batch["target"] [32]
        ...
    for batch in ds.batches(64):    # NumPy: the same keys, read 64 rows at a time
        ...
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from mlds_jax.analysis._canonical import (
    _gru_layers,
    _head,
    canonicalize,
    permute_dense_units,
    permute_gru_units,
)
from mlds_jax.analysis._features import odd_head
from mlds_jax.errors import StoreError
from mlds_jax.spec import SPLIT_CODES
from mlds_jax.store import DONE, Store, open_store

VIEWS = ("flat", "tensors")
AUGMENTS = (None, "permute")
SNAPSHOTS = "snapshots/params"  # [network, snapshot, parameter], where a store has them
SPLIT_PARTS = tuple(sorted(SPLIT_CODES, key=SPLIT_CODES.get))  # train val test ood: codes 0-3


def random_permutation(t: dict[str, np.ndarray], rng: np.random.Generator
                       ) -> dict[str, np.ndarray]:
    """One network's named tensors with every hidden layer's units randomly permuted (the
    same function, other weights): GRU layers, then the dense ``fc``/``net`` layers."""
    for k in range(_gru_layers(t)):
        t = permute_gru_units(t, k, rng.permutation(t[f"gru.weight_hh_l{k}"].shape[1]))
    for prefix in ("fc", "net"):
        names = _head(t, prefix)
        for j in range(len(names) - 1):
            t = permute_dense_units(t, prefix, j,
                                    rng.permutation(t[f"{names[j]}.bias"].shape[0]))
    return t


class NetworkDataset:
    """The networks of ``stores`` as examples (a map-style dataset for PyTorch and JAX).

    Args:
      stores: store paths or open :class:`~mlds_jax.store.Store` objects (one or several;
        all with the same parameter layout).
      split: ``None`` (every network) or ``"train"``, ``"val"``, ``"test"``, ``"ood"``: the
        networks with that code in split ``split_by`` (``Store.split(split_by)``).
      split_by: which of the stores' splits (``Store.split_names()``; default
        ``canonical``, 8 / 1 / 1 of every 10 replicates, stratified by class).
      target: the name of a per-network array (``[network, ...]``), a list of names (the
        item's ``target`` is then a dict), or ``None`` (no target).
      view: ``"flat"`` (``weights`` float32 ``[n_params]``, the store's row) or
        ``"tensors"`` (``weights`` ``{name: float32 [*shape]}``, the layout's tensors).
      augment: ``None`` or ``"permute"``: each read permutes every hidden layer's units at
        random (an equivalent network), seeded by ``(seed, epoch, item)``; see
        :meth:`set_epoch`.
      canonical: hidden units in the canonical order (``analysis.canonicalize``) instead.
      snapshots: also yield ``snapshots`` float32 ``[n_snapshots, n_params]`` (stores that
        record weights during training).
      only_done: only finished networks (status done), the default; ``False``: every row.
      seed: the augmentation seed.

    Each item is a dict: ``weights``, ``target`` (unless ``target=None``), ``store`` (index
    into ``stores``) and ``network`` (the row in its store).
    """

    def __init__(self, stores: str | os.PathLike | Store | Sequence[str | os.PathLike | Store],
                 *, split: str | None = None, split_by: str = "canonical",
                 target: str | Sequence[str] | None = "class_id",
                 view: str = "flat", augment: str | None = None, canonical: bool = False,
                 snapshots: bool = False, only_done: bool = True, seed: int = 0):
        if isinstance(stores, str | os.PathLike | Store):
            stores = [stores]
        self.stores = [s if isinstance(s, Store) else open_store(s) for s in stores]
        if not self.stores:
            raise ValueError("NetworkDataset: no stores given")
        if view not in VIEWS:
            raise ValueError(f"NetworkDataset: view={view!r}; expected one of {VIEWS}")
        if augment not in AUGMENTS:
            raise ValueError(f"NetworkDataset: augment={augment!r}; expected one of {AUGMENTS}")
        if split is not None and split not in SPLIT_PARTS:
            raise ValueError(f"NetworkDataset: split={split!r}; expected one of {SPLIT_PARTS}")
        if augment and canonical:
            raise ValueError("NetworkDataset: augment='permute' and canonical=True undo each "
                             "other; choose one")
        layout = self.stores[0].layout
        for s in self.stores[1:]:
            if s.layout != layout:
                raise StoreError(f"{s.path}: its parameter layout differs from "
                                 f"{self.stores[0].path}'s; a dataset needs one layout")
        self.layout, self.view, self.augment, self.canonical = layout, view, augment, canonical
        self._odd_head = odd_head(self.stores[0])  # a tanh head's units are sign-fixed too
        self.snapshots, self.seed, self.epoch = snapshots, seed, 0
        self.target_names = ([] if target is None else [target] if isinstance(target, str)
                             else list(target))
        self._single_target = isinstance(target, str)
        store_of, net_of, self._targets = [], [], []
        for k, s in enumerate(self.stores):
            rows = self._rows(s, split, split_by, only_done)
            store_of.append(np.full(rows.size, k, np.int64))
            net_of.append(rows)
            self._targets.append({name: self._target_array(s, name)
                                  for name in self.target_names})
            if snapshots and SNAPSHOTS not in s.group:
                raise StoreError(f"{s.path}: no {SNAPSHOTS} array (the store was built "
                                 "without snapshots); use snapshots=False")
        self.store_index = np.concatenate(store_of)  # int64 [n]: which store
        self.network_index = np.concatenate(net_of)  # int64 [n]: the row in that store

    @staticmethod
    def _rows(s: Store, split: str | None, split_by: str, only_done: bool) -> np.ndarray:
        rows = np.arange(s.n_networks)
        if split is not None:
            if not hasattr(s, "split"):
                raise StoreError(f"{s.path}: split={split!r} needs Store.split (this "
                                 "mlds-jax version has no splits)")
            rows = np.flatnonzero(s.split(split_by) == SPLIT_CODES[split])
        if only_done:
            rows = rows[s["status"][rows] == DONE]
        return rows.astype(np.int64)

    @staticmethod
    def _target_array(s: Store, name: str) -> np.ndarray:
        if name not in s.group or not hasattr(s.group[name], "shape"):
            raise StoreError(f"{s.path}: no per-network array {name!r} for the target "
                             "(see `mlds-jax info`)")
        arr = s.group[name]
        if arr.shape[:1] != (s.n_networks,):
            raise StoreError(f"{s.path}: {name!r} has shape {arr.shape}, not one row per "
                             "network")
        return np.asarray(arr[...])

    def __len__(self) -> int:
        return int(self.store_index.size)

    def __repr__(self) -> str:
        return (f"NetworkDataset({len(self)} networks from {len(self.stores)} store(s), "
                f"target={self.target_names or None}, view={self.view!r}, "
                f"augment={self.augment!r})")

    def set_epoch(self, epoch: int) -> None:
        """Draws other permutations (``augment='permute'``) from now on, as a sampler's
        ``set_epoch``: ``(seed, epoch, item)`` fixes each item's permutation."""
        self.epoch = int(epoch)

    def _transform(self, flat: np.ndarray, item: int) -> np.ndarray | dict[str, np.ndarray]:
        """One network's weights ``[n_params]`` in the dataset's view, augmented."""
        if self.view == "flat" and not (self.augment or self.canonical):
            return flat
        t = {e["name"]: flat[e["offset"]:e["offset"] + e["size"]].reshape(e["shape"])
             for e in self.layout}
        if self.canonical:
            t = canonicalize(t, odd_head=self._odd_head)
        elif self.augment == "permute":
            t = random_permutation(t, np.random.default_rng([self.seed, self.epoch, item]))
        if self.view == "tensors":
            return t
        return np.concatenate([t[e["name"]].reshape(-1) for e in self.layout])

    def _target(self, k: int, rows: np.ndarray | int) -> Any:
        values = {name: self._targets[k][name][rows] for name in self.target_names}
        return values[self.target_names[0]] if self._single_target else values

    def __getitem__(self, item: int) -> dict[str, Any]:
        n = len(self)
        if not isinstance(item, int | np.integer) or not -n <= item < n:
            raise IndexError(f"NetworkDataset: item {item!r} outside [0, {n})")
        item = int(item) % n
        k, row = int(self.store_index[item]), int(self.network_index[item])
        s = self.stores[k]
        out: dict[str, Any] = {"weights": self._transform(s.params(row), item),
                               "store": k, "network": row}
        if self.target_names:
            out["target"] = self._target(k, row)
        if self.snapshots:
            out["snapshots"] = np.asarray(s.group[SNAPSHOTS][row])
        return out

    def batches(self, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                drop_last: bool = False) -> Iterator[dict[str, Any]]:
        """NumPy batches (for JAX): dicts with the items' keys, each stacked on a leading
        ``[batch]`` axis (``weights`` ``[batch, n_params]`` or ``{name: [batch, *shape]}``).
        Rows are read a store at a time in bulk, not one by one."""
        if batch_size < 1:
            raise ValueError(f"NetworkDataset.batches: batch_size={batch_size}; expected >= 1")
        order = (np.random.default_rng(seed).permutation(len(self)) if shuffle
                 else np.arange(len(self)))
        stop = len(order) - len(order) % batch_size if drop_last else len(order)
        for lo in range(0, stop, batch_size):
            yield self._batch(order[lo:lo + batch_size])

    def _batch(self, items: np.ndarray) -> dict[str, Any]:
        n_params = self.layout[-1]["offset"] + self.layout[-1]["size"]
        flat = np.empty((len(items), n_params), np.float32)
        snaps: list[np.ndarray | None] = [None] * len(items)
        for k in np.unique(self.store_index[items]):
            pos = np.flatnonzero(self.store_index[items] == k)
            rows = self.network_index[items[pos]]
            flat[pos] = self.stores[k].params(rows)
            if self.snapshots:
                arr = self.stores[k].group[SNAPSHOTS]
                for p, r in zip(pos, rows):
                    snaps[p] = np.asarray(arr[int(r)])
        weights = [self._transform(flat[j], int(i)) for j, i in enumerate(items)]
        out: dict[str, Any] = {
            "weights": (np.stack(weights) if self.view == "flat"
                        else {e["name"]: np.stack([w[e["name"]] for w in weights])
                              for e in self.layout}),
            "store": self.store_index[items], "network": self.network_index[items]}
        if self.target_names:
            per = [self._target(int(self.store_index[i]), int(self.network_index[i]))
                   for i in items]
            out["target"] = (np.stack(per) if self._single_target
                             else {n: np.stack([p[n] for p in per]) for n in self.target_names})
        if self.snapshots:
            out["snapshots"] = np.stack(snaps)
        return out
