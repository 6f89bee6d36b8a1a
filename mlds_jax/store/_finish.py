"""After a store's last block: CF attributes, the dataset card and consolidated metadata.

:func:`finish_store` runs at the end of every ``generate`` that leaves the store complete
(and again on a re-run, so an older store gains them). It changes metadata, the card and the
coordinate arrays only, never another array's values:

* ``class_id`` and ``status`` get CF ``flag_values`` / ``flag_meanings`` (what each code
  means, for xarray, Panoply and other CF readers);
* the stored coordinates ``network``, ``class_name`` and ``tensor`` and the root attribute
  ``coordinates`` (:mod:`mlds_jax.store._coords`: plain xarray gets coordinates);
* the dataset card (:func:`~mlds_jax.store.dataset_card`, Markdown) is (re)written into the
  root attribute ``card`` (a file in the store's folder would make Zarr warn on every
  listing); ``export --hf`` and ``pack`` write it out as ``README.md``;
* the Zarr metadata is consolidated into the root ``zarr.json``, so plain
  ``xr.open_zarr(path)`` opens the store in one read and without a warning. mlds-jax's own
  readers and writer never rely on it (they open with ``use_consolidated=False``), and a
  later ``generate`` that changes metadata rewrites it.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import zarr

from mlds_jax.store._card import CARD_ATTR, dataset_card
from mlds_jax.store._coords import write_coordinates
from mlds_jax.store._open import open_store
from mlds_jax.store._schema import cf_attributes


def is_complete(group: zarr.Group) -> bool:
    """Every network is done or failed (no ``status`` 0 left)."""
    return bool(np.all(np.asarray(group["status"][...]) != 0))


def finish_store(path: str | os.PathLike, *, force: bool = False) -> bool:
    """Writes the CF attributes, the card and consolidated metadata into a complete store
    (``force``: into an unfinished one too). Returns whether it did."""
    group = zarr.open_group(str(path), mode="r+", use_consolidated=False)
    if not force and not is_complete(group):
        return False
    store = open_store(path)
    for name, attrs in cf_attributes(store.class_names).items():
        if any(group[name].attrs.get(k) != v for k, v in attrs.items()):
            group[name].attrs.update(attrs)
    write_coordinates(group, store.class_names, store.layout)
    card = dataset_card(store)
    if group.attrs.get(CARD_ATTR) != card:
        group.attrs[CARD_ATTR] = card
    consolidate(path)
    return True


def consolidate(path: str | os.PathLike) -> None:
    """Consolidates a store folder's metadata into its root ``zarr.json`` (zarr's warning
    that Zarr v3 does not standardise it yet is expected: xarray reads it)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Consolidated metadata is currently not part")
        zarr.consolidate_metadata(str(path))
