"""``open_store(path)``: a lazy store with its spec attached, whose networks run in one call.

Nothing is read until asked for: opening reads the metadata documents only; ``network(i)``
reads one network's row of ``params`` (one inner chunk of a sharded store); ``to_xarray()``
wraps the arrays lazily. JAX is imported when a network is first built, PyTorch only by
:meth:`Store.to_torch`, xarray only by :meth:`Store.to_xarray`.

Example::

    s = mlds_jax.open_store("demo/ds1.zarr")
    net = s.network(0)                       # pure JAX: net(x [batch, time, 5]) -> logits
    s.evaluate(0)                            # {"val_bit_accuracy": ...} recomputed
    torch_net = s.to_torch(0)                # torch.nn.Module with the same weights
    module, variables = s.to_flax(0)         # flax.linen module and its variables
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from mlds_jax.errors import StoreError
from mlds_jax.spec import (
    IMAGE,
    SEQUENCE,
    learnt_flag,
    network_split,
    spec_from_dict,
    split_names,
    task_of,
)
from mlds_jax.store._reader import StoreView, read_root_attrs, zip_group
from mlds_jax.store._regenerate import regenerate_params
from mlds_jax.store._schema import DONE, cf_attributes


@dataclasses.dataclass(frozen=True)
class Network:
    """One stored network bound to its parameters: ``net(x)`` runs it (pure, jit-able).

    Sequence tasks (DS1-DS3): ``x`` float32 ``[batch, time, features]`` (or ``[time,
    features]``) of 0/1 -> logits ``[batch, time, outputs]``. Image tasks (DS4): ``x`` float32
    ``[batch, 784]`` in [0, 1] (pixel / 255) -> logits ``[batch, 10]``.
    """

    index: int
    params: Any  # jax.Array float32 [n_params]
    apply: Callable  # apply(params [n_params], x) -> logits; pure and jitted
    task: str

    def __call__(self, x):
        if task_of(self.task) is SEQUENCE and x.ndim == 2:  # one sequence [time, features]
            return self.apply(self.params, x[None])[0]
        return self.apply(self.params, x)


@dataclasses.dataclass(frozen=True)
class Store(StoreView):
    """A read-only store with its spec: networks as JAX functions or PyTorch modules, the
    data they were evaluated on, and a lazy ``xarray`` view."""

    @functools.cached_property
    def task(self) -> str:
        """The name of its task (:func:`~mlds_jax.spec.task_of` gives the
        :class:`~mlds_jax.spec.Task`): the sequence task (DS1-DS3, spec files) or the image
        task (DS4)."""
        return task_of(self.attrs).name

    @functools.cached_property
    def spec(self):
        """The :class:`~mlds_jax.spec.DatasetSpec` (or ``ImageDatasetSpec``) it was built from."""
        return spec_from_dict(self.attrs["spec"], self.task)

    @property
    def n_networks(self) -> int:
        """Networks the store holds (finished or not)."""
        return int(self.attrs["n_networks"])

    def _check_index(self, i: int) -> int:
        n = self.n_networks
        if not isinstance(i, int | np.integer) or not -n <= int(i) < n:
            raise IndexError(f"{self.path}: network index {i!r} outside [0, {n})")
        return int(i) % n

    def __len__(self) -> int:
        return self.n_networks

    def __repr__(self) -> str:
        name = self.attrs.get("spec", {}).get("name", "?")
        return (f"Store({str(self.path)!r}, {name}, {self.n_networks} networks, "
                f"{len(self.class_names)} classes, {self.attrs.get('n_params', '?')} params)")

    def __iter__(self) -> Iterator[Network]:
        """The networks in index order (``len(store)`` of them), as :meth:`network`."""
        return (self.network(i, any_status=True) for i in range(self.n_networks))

    def __contains__(self, name: object) -> bool:
        """``"learnt" in store``: whether the store has that array (as ``store[name]``)."""
        return isinstance(name, str) and name in self.group

    def indices(self, idx: int | slice | Sequence[int] | np.ndarray) -> np.ndarray:
        """int64 ``[k]``: network indices for an int, a slice, an integer array (negative
        counts from the end) or a bool mask ``[n_networks]``; an out-of-range one raises
        ``IndexError`` naming it."""
        n = self.n_networks
        if isinstance(idx, slice):
            return np.arange(n)[idx]
        a = np.asarray(idx)
        if a.dtype == bool:
            if a.shape != (n,):
                raise IndexError(f"{self.path}: bool mask of shape {a.shape}, expected ({n},)")
            return np.flatnonzero(a)
        if a.dtype.kind not in "iu" or a.ndim > 1:
            raise IndexError(f"{self.path}: network index {idx!r}: expected an int, a slice, "
                             "an integer array or a bool mask")
        a = a.reshape(-1).astype(np.int64)
        bad = a[(a < -n) | (a >= n)]
        if bad.size:
            raise IndexError(f"{self.path}: network index {int(bad[0])} outside [0, {n})")
        return a % n

    def params(self, i: int | slice | Sequence[int] | np.ndarray) -> np.ndarray:
        """float32 flat weights: ``[n_params]`` for an int ``i`` (reads one inner chunk),
        ``[k, n_params]`` for a slice, an integer array or a bool mask (rows in that order)."""
        if isinstance(i, int | np.integer):
            return np.asarray(self.group["params"][self._check_index(i)])
        idx = self.indices(i)
        arr = self.group["params"]
        if idx.size == 0:
            return np.zeros((0, arr.shape[1]), np.float32)
        order = np.argsort(idx, kind="stable")  # zarr reads sorted rows chunk by chunk
        rows = arr.get_orthogonal_selection((idx[order], slice(None)))
        out = np.empty_like(rows)
        out[order] = rows
        return out

    def tensors_many(self, idx: int | slice | Sequence[int] | np.ndarray
                     ) -> dict[str, np.ndarray]:
        """The named tensors of networks ``idx``, stacked: ``{name: [k, *shape]}``."""
        flat = self.params(self.indices(idx))
        return {e["name"]: flat[:, e["offset"]:e["offset"] + e["size"]].reshape(
            len(flat), *e["shape"]) for e in self.layout}

    @functools.cached_property
    def apply(self) -> Callable:
        """The pure, jitted ``apply(params [n_params], x) -> logits`` shared by all networks
        of this store (shapes as in :class:`Network`). A GRU store trained on the ``xla``
        or ``fused_fma`` kernel is applied with it where it runs here (their floats differ
        from the default ``fused`` kernel's in the last bits); otherwise with this
        process's kernel (``$MLDS_JAX_GRU_KERNEL``)."""
        import jax

        from mlds_jax.models import apply_gru_batch, apply_mlp

        spec, kernel = self.spec, self._recorded_kernel()
        apply = {IMAGE: lambda params, x: apply_mlp(params, x, tuple(spec.widths)),
                 SEQUENCE: lambda params, x: apply_gru_batch(params, x, spec.model, kernel),
                 }[task_of(self.task)]
        return jax.jit(apply)

    def _recorded_kernel(self) -> str | None:
        """The GRU kernel the store records, when it is not the default path and runs in
        this process; else None (this process's choice)."""
        from mlds_jax.models import resolve_gru_kernel

        recorded = self.attrs.get("gru_kernel")
        if recorded not in ("xla", "fused_fma"):
            return None
        try:
            return resolve_gru_kernel(recorded)
        except (ValueError, RuntimeError):  # e.g. fused_fma off a CPU or without a compiler
            return None

    def network(self, i: int, *, any_status: bool = False) -> Network:
        """Network ``i`` as a pure JAX function bound to its stored parameters. Raises
        :class:`StoreError` for a network that is not done (pending: never trained; failed:
        diverged), unless ``any_status``."""
        import jax.numpy as jnp

        i = self._check_index(i) if any_status else self._check_done(i)
        return Network(i, jnp.asarray(self.params(i)), self.apply, self.task)

    def _check_done(self, i: int) -> int:
        """``i`` as an index of a done network, or a :class:`StoreError` saying why not."""
        i = self._check_index(i)
        status = int(self.group["status"][i])
        if status != DONE:
            why = {0: "pending (never trained: its weights are the fill value)",
                   2: "failed (it diverged; its weights are the last finite ones)"}.get(
                       status, f"of unknown status {status}")
            raise StoreError(f"{self.path}: network {i} is {why}; only done networks "
                             "(status 1) have stored metrics to recompute (network(i, "
                             "any_status=True) returns its weights anyway)")
        return i

    def to_torch(self, i: int):
        """Network ``i`` as a ``torch.nn.Module`` in eval mode (needs PyTorch): the GRU net of
        docs/store-format.md, or ``Sequential(Linear, ReLU, ..., Linear)`` under ``.net``
        for DS4. Inputs and outputs as in :class:`Network` (torch tensors)."""
        from mlds_jax.store._open_torch import build_module

        i = self._check_index(i)
        return build_module(self.task, self.spec, self.tensors(i))

    def apply_many(self, idx: int | slice | Sequence[int] | np.ndarray, x):
        """Networks ``idx`` on the same inputs in one vmapped call: ``x`` as in
        :class:`Network` (batched) -> logits ``[k, batch, ...]`` (a ``jax.Array``)."""
        import jax.numpy as jnp

        return self._apply_vmapped(jnp.asarray(self.params(self.indices(idx))),
                                   jnp.asarray(x))

    @functools.cached_property
    def _apply_vmapped(self) -> Callable:
        import jax

        return jax.jit(jax.vmap(self.apply, in_axes=(0, None)))

    def to_torch_stacked(self, idx: int | slice | Sequence[int] | np.ndarray):
        """Networks ``idx`` for ``torch.func``: ``(module, state)``, ``module`` as
        :meth:`to_torch` and ``state`` ``{name: tensor [k, *shape]}`` (its ``state_dict``
        names). ``functional_call(module, {n: t[j] for n, t in state.items()}, (x,))`` runs
        network ``j``; for DS4's dense nets ``torch.func.vmap`` runs all of them at once
        (``torch.nn.GRU`` has no vmap rule: loop over ``j`` for DS1-DS3)."""
        import torch

        from mlds_jax.store._open_torch import build_module

        idx = self.indices(idx)
        if idx.size == 0:
            raise IndexError(f"{self.path}: to_torch_stacked of no networks")
        stacked = self.tensors_many(idx)
        base = build_module(self.task, self.spec, {k: v[0] for k, v in stacked.items()})
        return base, {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in stacked.items()}

    def to_flax(self, i: int):
        """Network ``i`` as ``(flax.linen module, variables)``: ``module.apply(variables, x)``
        equals ``network(i)(x)``; the parameters carry the layout's names and shapes."""
        from mlds_jax.store._open_flax import build_flax

        i = self._check_index(i)
        return build_flax(self.task, self.spec, self.tensors(i))

    # -- splits and regeneration -----------------------------------------------------------
    def split_names(self) -> list[str]:
        """The named splits of this store's networks (``canonical`` first)."""
        if "splits" in self.attrs:
            return list(self.attrs["splits"]["names"])
        return list(split_names(self.spec))

    def split(self, name: str = "canonical") -> np.ndarray:
        """int8 ``[network]``: split ``name``'s code per network (0 train, 1 val, 2 test,
        3 ood; :meth:`split_names` lists the names). The stored ``splits/<name>`` array; a
        store written before splits were stored gets them computed from its spec (the same
        pure function of spec and index, ``mlds_jax.spec.network_split``)."""
        names = self.split_names()
        if name not in names:
            raise KeyError(f"{self.path}: no split {name!r}; this store has {names}")
        if f"splits/{name}" in self.group:
            return np.asarray(self.group[f"splits/{name}"][...])
        return network_split(self.spec, name, np.arange(self.n_networks))

    def initial_params(self, i: int, data_dir: str | os.PathLike | None = None
                       ) -> np.ndarray:
        """float32 ``[n_params]``: network ``i``'s weights before training, rebuilt bit for
        bit from its row (``regenerate(i, epoch=0)``)."""
        return self.regenerate(i, epoch=0, data_dir=data_dir)

    def regenerate(self, i: int, epoch: int | None = None,
                   data_dir: str | os.PathLike | None = None) -> np.ndarray:
        """float32 ``[n_params]``: network ``i`` retrained from its row, bit for bit, on the
        backend that made the store (another backend or GRU kernel raises
        :class:`~mlds_jax.errors.StoreError`): ``epoch=None`` its final weights (equal to
        ``params(i)``), ``epoch=e`` its weights after ``e`` epochs (over every attempt; a
        network that stopped before ``e`` keeps its final ones). Trains one chunk of the
        store's width for ``e`` epochs; ``data_dir`` as for ``generate`` (DS4)."""
        return regenerate_params(self, self._check_index(i), epoch, data_dir)

    # -- which networks learnt -------------------------------------------------------------
    @functools.cached_property
    def learnt_thresholds(self) -> dict[str, float]:
        """Metric -> lowest value at which a network counts as learnt: the store's recorded
        thresholds, or (stores written before format version 2) its spec's."""
        return dict(self.attrs.get("learnt_thresholds") or self.spec.learnt_thresholds)

    def learnt(self) -> np.ndarray:
        """bool ``[network]``: done and learnt. The stored ``learnt`` array where the store
        has one; else the spec's rule applied to the stored metrics (same thresholds)."""
        if "learnt" in self.group:
            flag = self["learnt"].astype(bool)
        else:
            flag = learnt_flag(self.learnt_thresholds,
                               {k: self[k] for k in self.learnt_thresholds})
        return (self["status"] == DONE) & flag

    def learnt_counts(self) -> np.ndarray:
        """int ``[n_classes]``: how many networks of each class are done and learnt."""
        return np.bincount(self["class_id"][self.learnt()], minlength=len(self.class_names))

    def learnt_share(self) -> dict[str, float | None]:
        """Per class: the share of its done networks that learnt (``None``: none done)."""
        done = np.bincount(self["class_id"][self["status"] == DONE],
                           minlength=len(self.class_names))
        return {name: float(k / d) if d else None
                for name, k, d in zip(self.class_names, self.learnt_counts(), done)}

    def learnt_description(self) -> str:
        """What "learnt" means for this store, e.g. ``val_bit_accuracy >= 0.99``."""
        return " and ".join(f"{k} >= {v:g}" for k, v in sorted(self.learnt_thresholds.items()))

    # -- the data each network was evaluated on -------------------------------------------
    def eval_data(self, i: int, data_dir: str | os.PathLike | None = None
                  ) -> dict[str, np.ndarray]:
        """The data network ``i``'s stored metrics were measured on, re-derived exactly.

        Sequence tasks: its own validation set, from its key and the stored machine tables:
        ``{"x": float32 [n_val, time, in_bits], "y": float32 [n_val, time, out_bits]}``.
        Image tasks (shared by all networks; ``data_dir`` as for ``generate``):
        ``{"x": float32 [n_test, 784], "y": int32 [n_test], "x_triggered": float32
        [n_test, 784], "y_target": int32 [n_test]}`` (pixels / 255, target
        :func:`~mlds_jax.tasks.poison_target`, ``(y + 1) % 10``).
        """
        i = self._check_index(i)
        if task_of(self.task).images:  # one image set shared by every network
            return dict(self._image_data(None if data_dir is None else str(data_dir)))
        return self._sequence_data(i)

    def _sequence_data(self, i: int) -> dict[str, np.ndarray]:
        import jax

        from mlds_jax.tasks import make_sequences
        from mlds_jax.train import VAL_DATA

        spec, g = self.spec, self.group
        c = int(g["class_id"][i])
        if "machines/next_state" in g:
            ns, out = g["machines/next_state"][c], g["machines/output"][c]
        else:  # a store without its tables: rebuild them from the spec
            from mlds_jax.tasks import build_machines, stack_tables

            tables = stack_tables(build_machines(spec))
            ns, out = tables[0][c], tables[1][c]
        key = np.asarray(g["key"][i], np.uint32)
        if "order_seed" in g:  # the spec's order seed, not the key, drew its sequences
            from mlds_jax.train import ORDER_SEED_DOMAIN, seed_roots

            key = seed_roots([int(g["order_seed"][i])], ORDER_SEED_DOMAIN)[0]
        key = jax.numpy.asarray(key)
        x, y = make_sequences(jax.random.fold_in(key, VAL_DATA), jax.numpy.asarray(ns),
                              jax.numpy.asarray(out), spec.train.n_val, spec.train.seq_len,
                              spec.model.input_size, spec.model.output_size)
        return {"x": np.asarray(x), "y": np.asarray(y)}

    def _image_data(self, data_dir: str | None) -> dict[str, np.ndarray]:
        cache = self.__dict__.setdefault("_image_cache", {})  # the image set, loaded once
        if data_dir not in cache:
            from mlds_jax.tasks import load_images, poison_target, prepare_test_images

            x, x_trig, y = prepare_test_images(self.spec, load_images(self.spec, data_dir))
            f = lambda a: a.astype(np.float32) / np.float32(255.0)  # noqa: E731
            cache[data_dir] = {"x": f(x), "y": y, "x_triggered": f(x_trig),
                               "y_target": poison_target(y)}
        return cache[data_dir]

    def evaluate(self, i: int, data_dir: str | os.PathLike | None = None
                 ) -> dict[str, float]:
        """Recomputes network ``i``'s stored metrics in JAX on :meth:`eval_data`:
        ``val_bit_accuracy`` (sequence tasks) or ``clean_accuracy`` and
        ``attack_success_rate`` (image tasks)."""
        net = self.network(i)  # (a pending or failed network raises)
        return metrics_from_logits(self.task, self.eval_data(i, data_dir),
                                   lambda x: np.asarray(net(x)))

    # -- lazy xarray view -----------------------------------------------------------------
    def to_xarray(self):
        """Every per-network array as one lazy ``xarray.Dataset`` (needs xarray).

        Dims ``network``, ``parameter``, ``epoch``, ``key_word``; coordinates ``network``
        (index), ``epoch`` (1-based: the value after that epoch), ``class_name`` (per network,
        variable-length strings), ``tensor`` (per parameter: its layout tensor's name, e.g.
        ``ds.params.where(ds.tensor == "fc.0.weight", drop=True)``) and ``class``; the
        histories are ``train_loss_history`` / ``val_loss_history`` ``[network, epoch]``; the
        named splits ``split_<name>`` ``[network]``. ``class_id`` and ``status`` carry CF
        ``flag_values``/``flag_meanings``; every attribute is netCDF-safe (nested values as
        JSON text), so ``to_xarray().to_netcdf(path)`` writes. Nothing but ``class_id`` (for
        the coordinate) is read until a value is used.
        """
        try:
            import xarray as xr
        except ImportError:
            raise ImportError("to_xarray needs xarray: pip install 'mlds-jax[analysis]'"
                              ) from None
        kw = dict(engine="zarr", consolidated=False, chunks=None, cache=False, zarr_format=3)
        src = self.group.store if self.path.is_file() else str(self.path)  # zip or folder
        ds = xr.open_dataset(src, **kw)
        if "history" in self.group:
            hist = xr.open_dataset(src, group="history", **kw)
            ds = ds.merge(hist.rename({n: f"{n}_history" for n in hist.data_vars}))
        if "machines" in self.group:
            mach = xr.open_dataset(src, group="machines", **kw)
            ds = ds.merge(mach.rename({n: f"machine_{n}" for n in mach.data_vars}))
        if "splits" in self.group:  # the named splits, as split_<name> [network]
            spl = xr.open_dataset(src, group="splits", **kw)
            ds = ds.merge(spl.rename({n: f"split_{n}" for n in spl.data_vars}))
        names = np.asarray(self.class_names, dtype=object)
        ds = ds.assign_coords(network=np.arange(self.n_networks),
                              class_name=("network", names[np.asarray(self.group["class_id"])]))
        ds = ds.assign_coords({"class": names})  # class_id indexes it
        if "epoch" in ds.dims:
            ds = ds.assign_coords(epoch=("epoch", np.arange(1, ds.sizes["epoch"] + 1),
                                         {"long_name": "epoch (1-based)"}))
        if "parameter" in ds.dims:  # which layout tensor each flat parameter belongs to
            tensor = np.repeat(np.asarray([e["name"] for e in self.layout], dtype=object),
                               [e["size"] for e in self.layout])
            ds = ds.assign_coords(tensor=("parameter", tensor))
        ds.attrs = netcdf_attrs(ds.attrs)
        for name, var in ds.variables.items():
            var.attrs = netcdf_attrs({**var.attrs, **cf_attributes(self.class_names).get(
                name, {})})
        return ds


def netcdf_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes netCDF can hold: strings, numbers and lists of numbers stay; booleans
    become 0/1; anything else (nested dicts, lists of dicts or strings) becomes JSON text."""
    import json

    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if isinstance(v, bool | np.bool_):
            out[k] = int(v)
        elif isinstance(v, str | int | float | np.number):
            out[k] = v
        elif (isinstance(v, list | tuple) and v
              and all(isinstance(x, int | float) and not isinstance(x, bool) for x in v)):
            out[k] = list(v)
        else:
            out[k] = json.dumps(v, default=str)
    return out


def _image_metrics(data: dict[str, np.ndarray], run: Callable) -> dict[str, float]:
    acc = np.mean(np.argmax(run(data["x"]), -1) == data["y"])
    asr = np.mean(np.argmax(run(data["x_triggered"]), -1) == data["y_target"])
    return {"clean_accuracy": float(acc), "attack_success_rate": float(asr)}


def _sequence_metrics(data: dict[str, np.ndarray], run: Callable) -> dict[str, float]:
    logits = run(data["x"])
    return {"val_bit_accuracy": float(np.mean((logits > 0) == (data["y"] > 0.5)))}


# Each task's scorer: (eval data, run) -> its stored metrics recomputed.
SCORERS = {IMAGE: _image_metrics, SEQUENCE: _sequence_metrics}


def metrics_from_logits(task, data: dict[str, np.ndarray],
                        run: Callable[[np.ndarray], np.ndarray]) -> dict[str, float]:
    """The stored metrics of a ``task`` store (a :class:`~mlds_jax.spec.Task` or its name)
    from a forward function ``run(x) -> logits`` (NumPy in and out), so JAX and PyTorch
    networks are scored by the same code."""
    return SCORERS[task_of(task)](data, run)


def open_store(path: str | os.PathLike) -> Store:
    """Opens a store read-only and lazily (metadata only); raises
    :class:`mlds_jax.errors.StoreError` if ``path`` is not an mlds-jax store."""
    attrs = read_root_attrs(path)
    try:
        if Path(path).is_file():  # a zip written by `mlds-jax pack`
            group = zip_group(path)
        else:  # our readers never trust consolidated metadata (a later run may change it)
            group = zarr.open_group(str(path), mode="r", use_consolidated=False)
    except Exception as e:  # noqa: BLE001 - read_root_attrs opened it a moment ago
        raise StoreError(f"{path}: not a readable Zarr v3 group ({e})") from None
    return Store(Path(path), attrs, group)
