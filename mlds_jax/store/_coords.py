"""Stored coordinate variables, so plain xarray gets coordinates without mlds-jax.

A finished store holds three arrays that label the others (written by
:func:`~mlds_jax.store.finish_store`, none of them changes another array):

* ``network`` ``int64 [network]``: the network index, a dimension coordinate;
* ``class_name`` ``string [network]``: each network's class name (variable-length UTF-8);
* ``tensor`` ``string [parameter]``: the layout tensor each flat parameter belongs to.

The root attribute ``coordinates = "class_name tensor"`` (the CF convention xarray reads)
makes the two non-dimension ones coordinates, so ``xr.open_zarr(path)`` gives
``ds.sel(network=ds.class_name == "ParityMachine")`` and
``ds.params.where(ds.tensor == "fc.0.weight", drop=True)`` with nothing but xarray and zarr.
Their values follow from ``class_id``, ``class_names`` and the layout alone;
:func:`~mlds_jax.store.expected_arrays` holds them (a resume's repair rewrites one
that differs) and :func:`coordinate_problems` checks them (``verify``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zarr

COORDINATES_ATTR = "coordinates"  # the root attribute naming the non-dimension coordinates
NON_DIMENSION = ("class_name", "tensor")


def coordinate_arrays(class_names: list[str], class_id: np.ndarray,
                      layout: list[dict[str, Any]]) -> dict[str, tuple[np.ndarray, str]]:
    """``name -> (values, dimension)`` of the stored coordinates: ``network [n]`` int64,
    ``class_name [n]`` and ``tensor [n_params]`` strings (object arrays of ``str``)."""
    names = np.asarray(list(class_names), dtype=object)
    tensor = np.repeat(np.asarray([e["name"] for e in layout], dtype=object),
                       [int(e["size"]) for e in layout])
    cls = np.asarray(class_id)
    return {"network": (np.arange(cls.shape[0], dtype=np.int64), "network"),
            "class_name": (names[cls], "network"),
            "tensor": (tensor, "parameter")}


def _same(arr: zarr.Array, values: np.ndarray) -> bool:
    got = np.asarray(arr[...])
    if got.shape != values.shape:
        return False
    if values.dtype == object:  # strings: zarr gives them back as str or StringDType
        return [str(x) for x in got.ravel()] == [str(x) for x in values.ravel()]
    return got.dtype == values.dtype and np.array_equal(got, values)


def write_coordinates(group: zarr.Group, class_names: list[str], layout: list[dict[str, Any]]
                      ) -> bool:
    """Writes (or rewrites, where they differ) the stored coordinates into a store's root
    ``group`` and its ``coordinates`` attribute. Returns whether anything changed."""
    changed = False
    for name, (values, dim) in coordinate_arrays(class_names, group["class_id"][...],
                                                 layout).items():
        if name in group and _same(group[name], values):
            continue
        if name in group:
            del group[name]
        arr = group.create_array(name, shape=values.shape,
                                 dtype=str if values.dtype == object else values.dtype,
                                 chunks=values.shape or (1,), dimension_names=[dim],
                                 fill_value="" if values.dtype == object else 0)
        arr[...] = values
        changed = True
    want = " ".join(NON_DIMENSION)
    if group.attrs.get(COORDINATES_ATTR) != want:
        group.attrs[COORDINATES_ATTR] = want
        changed = True
    return changed


def coordinate_problems(group: zarr.Group, class_names: list[str],
                        layout: list[dict[str, Any]]) -> dict[str, str]:
    """``name -> why`` for each stored coordinate that differs from what ``class_id``,
    ``class_names`` and ``layout`` decide, or is unreadable (an unfinished or older store
    holds none: nothing to report). ``verify`` lists them; a resume rewrites them from
    :func:`~mlds_jax.store.expected_arrays`, which holds their values."""
    try:
        want = coordinate_arrays(class_names, group["class_id"][...], layout)
    except Exception:  # noqa: BLE001 - damaged class_id or layout is reported elsewhere
        return {}
    out = {}
    for name, (values, _dim) in want.items():
        if name not in group:
            continue
        try:
            same = _same(group[name], values)
        except Exception as e:  # noqa: BLE001 - any unreadable chunk or metadata
            out[name] = f"{name}: unreadable stored coordinate ({type(e).__name__})"
            continue
        if not same:
            out[name] = (f"{name}: the stored coordinate differs from what class_id, "
                         "class_names and the layout decide; rebuilt from them on resume")
    return out
