"""Top-level wiring: spec -> planned store -> trained blocks -> finished store."""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Any, NamedTuple

import jax
import numpy as np
import zarr

from mlds_jax._progress import status_line
from mlds_jax._provenance import provenance
from mlds_jax.coord import Backend, LocalBackend, RayBackend, RefillBackend
from mlds_jax.errors import DataError, SpecError, StoreError
from mlds_jax.models import resolve_gru_kernel
from mlds_jax.spec import (
    DEFAULT_BLOCK_SIZE,
    IMAGE,
    SEQUENCE,
    DatasetSpec,
    ImageDatasetSpec,
    task_of,
)
from mlds_jax.store import (
    StoreView,
    StoreWriter,
    check_output_path,
    check_same_setup,
    open_store,
    planned_arrays,
    read_root_attrs,
    stored_chunk_width,
    writer_lock,
)
from mlds_jax.tasks import (
    build_machines,
    check_same_data,
    data_files,
    load_images,
    prepare_images,
    stack_tables,
)
from mlds_jax.train import (
    make_block_trainer,
    make_runner,
    task_layout,
    task_width,
)


def check_widths(spec: DatasetSpec, machines) -> None:
    """The network's input/output widths must match the machines' encoding."""
    bits_in, bits_out = machines[0].input_bits, machines[0].output_bits
    if spec.model.input_size != bits_in:
        raise SpecError(f"`GRUSpec.input_size`: expected {bits_in} (the machines' input bits), "
                        f"got {spec.model.input_size}")
    if spec.model.output_size != bits_out:
        raise SpecError(f"`GRUSpec.output_size`: expected {bits_out} (the machines' output "
                        f"bits), got {spec.model.output_size}")


def resolve_block_size(spec: DatasetSpec | ImageDatasetSpec, block_size: int | str,
                       chunk_width: int | None = None) -> int:
    """``block_size`` as an int: ``"auto"`` sized for this machine's devices
    (:func:`mlds_jax.coord.auto_block_size`); a number checked against this machine's memory
    (its chunk padding included) before anything is allocated or written."""
    from mlds_jax._guards import check_sizes
    from mlds_jax.coord import auto_block_size

    if block_size == "auto":
        block_size = auto_block_size(spec)
    if not isinstance(block_size, int) or isinstance(block_size, bool) or block_size <= 0:
        raise SpecError(f"`block_size`: expected a positive integer or 'auto', got "
                        f"{block_size!r}")
    check_sizes(spec, block_size, chunk_width=chunk_width)
    return block_size


def _check_same_width(out, attrs: dict[str, Any], chunk_width: int | None) -> None:
    """A store keeps the chunk width it was begun with: another one asked is refused."""
    width = stored_chunk_width(attrs)
    if chunk_width is not None and chunk_width != width:
        raise SpecError(f"{out}: its networks are trained in chunks of {width} "
                        f"(`chunk_width` {chunk_width} asked); a store keeps one width so its "
                        "networks stay bit-exact - drop `chunk_width` or use a new `out`")


def _check_stored_sizes(spec, out, attrs: dict[str, Any]) -> None:
    """Refuses (before any repair or write) a store whose recorded block size and chunk width
    cannot run on this machine: resuming it would crash the same way every time."""
    from mlds_jax._guards import size_problem

    problem = size_problem(spec, int(attrs.get("block_size") or 1), stored_chunk_width(attrs))
    if problem:
        raise StoreError(f"{out}: its recorded {problem[0]} cannot run on this machine "
                         f"({problem[1]}); a store keeps its settings - resume it on a machine "
                         "with more memory, or generate into a new `out`")


def generate(
    spec: DatasetSpec | ImageDatasetSpec,
    out: str | os.PathLike,
    *,
    block_size: int | str = DEFAULT_BLOCK_SIZE,
    progress: bool = True,
    data_dir: str | os.PathLike | None = None,
    process_index: int = 0,
    process_count: int = 1,
    backend: str = "local",
    checkpoint_every: int | None = None,
    refill_every: int | None = None,
    allow_data_change: bool = False,
    chunk_width: int | None = None,
) -> tuple[StoreView, dict[str, float]]:
    """Builds (or resumes) the store for ``spec`` at ``out``.

    Everything is validated before anything is written: unknown machine names, a path that
    is not a store, a store of another spec, an ``out`` inside a store or the data folder,
    a ``block_size`` or ``chunk_width`` (padding included) too large for this machine, or a
    ``process_index`` outside ``0..process_count-1`` raise without touching the disk.
    ``block_size="auto"`` sizes blocks for this machine's devices. Unless
    ``process_count > 1`` (workers sharing the store on purpose), the store's writer lock
    (``<out>.lock`` beside its real path) is held for the whole run.

    ``process_index``/``process_count`` split the blocks between independent processes (any
    scheduler: SLURM array tasks, several hosts on a shared filesystem); each writes only its
    own chunks, so they may run at once on one store. ``backend="ray"`` runs each pending
    block as a Ray task on the connected (or a new local) Ray cluster. ``checkpoint_every=K``
    saves in-flight blocks every K epochs (orbax, in ``<out>.ckpt/``) so a killed run resumes
    mid-block. ``refill_every=K`` trains a pool of ``block_size`` slots in K-epoch segments,
    retiring stopped networks and refilling their slots with pending ones. ``chunk_width``:
    networks per compiled chunk (default: ``task_width(spec, block_size)``, recorded in the
    store and reused on resume). Every path trains through the same chunk programs, so they
    all give the same bits on one machine and backend. DS4 stores record
    the SHA-256 of their data files; resuming with other files is refused unless
    ``allow_data_change``.

    Returns:
      ``(store view, run summary)``; the summary's ``block_size`` is the one the store
      trains with.
    """
    if not isinstance(process_count, int) or process_count < 1:
        raise SpecError(f"`process_count`: expected a positive integer, got {process_count!r}")
    if not isinstance(process_index, int) or not 0 <= process_index < process_count:
        raise SpecError(f"`process_index`: expected 0..{process_count - 1}, got "
                        f"{process_index!r}")
    if backend not in ("local", "ray"):
        raise SpecError(f"`backend`: expected 'local' or 'ray', got {backend!r}")
    if backend == "ray" and (checkpoint_every or refill_every):
        raise SpecError("`backend` ray trains whole blocks as retried Ray tasks; it does not "
                        "support `checkpoint_every` or `refill_every`")
    if chunk_width is not None and (not isinstance(chunk_width, int) or chunk_width <= 0):
        raise SpecError(f"`chunk_width`: expected a positive integer, got {chunk_width!r}")
    from mlds_jax.tasks import data_dir as data_root

    if allow_data_change and not task_of(spec).images:
        raise SpecError(f"`allow_data_change`: {spec.name} trains on no data files (only DS4 "
                        "datasets record and check their image files' SHA-256); drop it")
    if data_dir is not None and not task_of(spec).images:
        raise SpecError(f"`data_dir`: {spec.name} trains on no data files (its networks draw "
                        "their sequences from their keys); drop it")
    block_size = resolve_block_size(spec, block_size, chunk_width)
    data_inputs = [data_root(data_dir)] if task_of(spec).images else []  # its image set
    check_output_path(out, data_inputs, resume=True)
    if os.path.isdir(out) and os.path.isfile(os.path.join(out, "zarr.json")):
        try:
            stored = read_root_attrs(out)
        except StoreError:
            stored = None  # not a store: open_or_create refuses it with its own message
        if stored is not None:
            _check_stored_sizes(spec, out, stored)
            _check_same_width(out, stored, chunk_width)  # before any repair writes
    lock = writer_lock(out) if process_count == 1 else contextlib.nullcontext()
    with lock:  # one writer per store (workers sharing it on purpose take none)
        view, summary = _generate(spec, out, block_size, progress, data_dir, process_index,
                                  process_count, backend, checkpoint_every, refill_every,
                                  allow_data_change, chunk_width)
    return view, {**summary, "block_size": read_root_attrs(out)["block_size"]}


def _generate(spec, out, block_size: int, progress: bool, data_dir, process_index: int,
              process_count: int, backend: str, checkpoint_every: int | None,
              refill_every: int | None, allow_data_change: bool, chunk_width: int | None
              ) -> tuple[StoreView, dict[str, float]]:
    """:func:`generate` once its arguments are checked and the store's lock is held."""
    # the first line at once: preparing can take seconds (a first run on a machine compiles
    # the fused GRU kernel; DS4 loads its image set), then the bar compiles the chunk program
    status_line(f"{spec.name}: {spec.n_networks} networks into {os.fspath(out)}: preparing "
                "the task, the store and the training program", enabled=progress)
    prepared = prepare_task(spec, out, data_dir, allow_data_change)
    recording, recording_arrays = recording_for(spec, prepared.data)
    writer = StoreWriter.open_or_create(
        out, spec, block_size=block_size, layout=prepared.layout,
        planned=planned_arrays(spec),
        provenance={**provenance(), **prepared.provenance,
                    "chunk_width": chunk_width or task_width(spec, block_size=block_size),
                    "backend": jax.default_backend()},
        tables=prepared.tables, task=spec.task,
        recording=recording, recording_arrays=recording_arrays,
    )
    attrs = read_root_attrs(out)  # the store's own choices win on a resume
    files = prepared.provenance.get("data_files")
    if files and not attrs.get("data_files"):  # (allowed) a store made before the record
        attrs = _record_data_files(out, files)
    spec = spec_as_stored(spec, attrs)  # e.g. a store begun before snapshots keeps none
    width = stored_chunk_width(attrs)
    _check_same_width(out, attrs, chunk_width)
    check_same_setup(out, attrs, "resume it", SpecError,
                     instead="write a new store (another `out`)")
    # Checkpoints belong to one store layout: a directory per (spec, size, block, width), so
    # a stale checkpoint of another spec or width is never restored into this store.
    checkpoint_dir = (f"{os.fspath(out).rstrip('/')}.ckpt/{spec.digest[:16]}-"
                      f"n{spec.n_networks}-b{writer.block_size}-w{width}")
    if process_count > 1:
        checkpoint_dir += f"/process-{process_index}-of-{process_count}"
    chosen: Backend
    if backend == "ray":  # each worker builds its own writer and trainer
        chosen = RayBackend(
            functools.partial(StoreWriter, writer.path, spec, writer.block_size, writer.task),
            functools.partial(_ray_trainer, spec, data_dir, width))
    elif refill_every:
        chosen = RefillBackend(make_runner(spec, prepared.data, width), refill_every,
                               checkpoint_every=checkpoint_every, checkpoint_dir=checkpoint_dir)
    else:
        chosen = LocalBackend(make_runner(spec, prepared.data, width), checkpoint_every,
                              checkpoint_dir)
    summary = chosen.run(spec, writer, progress=progress, process_index=process_index,
                         process_count=process_count)
    _finish(out)
    return open_store(out), summary


def _finish(out: str | os.PathLike) -> None:
    """Once every block is written: CF attributes, the dataset card, consolidated metadata."""
    from mlds_jax.store import finish_store

    finish_store(out)


def recording_for(spec: DatasetSpec | ImageDatasetSpec, data: Any = None
                  ) -> tuple[dict[str, Any] | None, dict[str, np.ndarray]]:
    """``(root attribute recording, store-wide arrays)`` of a new store of ``spec``: the
    snapshot epochs (``snapshots/epoch``) and the probe set (``probe/*``); ``(None, {})``
    when the spec keeps no snapshots (``snapshot_epochs = "none"``)."""
    from mlds_jax.spec import probe_count, snapshot_schedule
    from mlds_jax.train import probe_set

    epochs = snapshot_schedule(spec.train)
    if not epochs:
        return None, {}
    probes = {f"probe/{k}": v for k, v in probe_set(spec, data).items()}
    n_probe = probes["probe/inputs"].shape[0] if probes else 0
    out_shape = ((n_probe, 10) if task_of(spec).images
                 else (n_probe, spec.train.seq_len, spec.model.output_size))
    return ({"snapshot_epochs": list(epochs), "probes": probe_count(spec),
             "probe_output_shape": list(out_shape)},
            {"snapshots/epoch": np.asarray(epochs, np.int32), **probes})


def spec_as_stored(spec: DatasetSpec | ImageDatasetSpec, attrs: dict[str, Any]
                   ) -> DatasetSpec | ImageDatasetSpec:
    """``spec`` recording what the store with root ``attrs`` records (its snapshot epochs and
    probe count; none for a store begun before snapshots existed). They never change a
    network, so a store resumes with what it was begun with whatever the spec asks."""
    import dataclasses

    from mlds_jax.spec import probe_count, snapshot_schedule

    rec = attrs.get("recording") or {}
    epochs = tuple(int(e) for e in rec.get("snapshot_epochs") or ())
    probes = int(rec.get("probes") or 0)
    if snapshot_schedule(spec.train) == epochs and probe_count(spec) == probes:
        return spec
    train = dataclasses.replace(spec.train, snapshot_epochs=epochs or "none", probes=probes)
    return dataclasses.replace(spec, train=train)


def _record_data_files(out, files: dict[str, Any]) -> dict[str, Any]:
    """Adds the ``data_files`` record (SHA-256 of each image file) to a DS4 store made
    before stores recorded it; returns the new root attributes."""
    group = zarr.open_group(str(out), mode="r+", use_consolidated=False)
    attrs = {**group.attrs["mlds_jax"], "data_files": files}
    group.attrs["mlds_jax"] = attrs
    return attrs


class PreparedTask(NamedTuple):
    """What a task needs before its store is opened: shared training data (None for the
    sequence task), the parameter layout, extra tables and provenance for the store."""

    data: Any
    layout: list[dict]
    tables: dict[str, np.ndarray]
    provenance: dict[str, Any]


def prepare_task(spec: DatasetSpec | ImageDatasetSpec, out=None, data_dir=None,
                 allow_data_change: bool = False) -> PreparedTask:
    """Loads and checks what ``spec``'s task needs, before anything is written. DS4: load,
    check and trigger the image set once; the data files' SHA-256 go into the provenance and
    must match on a resume (unless ``allow_data_change``)."""
    return PREPARERS[task_of(spec)](spec, out, data_dir, allow_data_change)


def _prepare_sequence(spec: DatasetSpec, out, data_dir, allow_data_change: bool
                      ) -> PreparedTask:
    machines = build_machines(spec)  # UnknownDatasetError names a bad machine
    check_widths(spec, machines)
    next_state, output = stack_tables(machines)
    return PreparedTask(None, task_layout(spec).to_records(),
                        {"next_state": next_state, "output": output},
                        {"gru_kernel": resolve_gru_kernel()})


def _prepare_images(spec: ImageDatasetSpec, out, data_dir, allow_data_change: bool
                    ) -> PreparedTask:
    arrays = load_images(spec, data_dir)
    files = data_files(spec, data_dir, arrays)
    if out is not None and not allow_data_change and os.path.isdir(out):
        try:
            stored = read_root_attrs(out).get("data_files")
            if not stored:
                raise DataError(
                    f"{out}: records no SHA-256 of the image files it was trained from (made "
                    "before stores recorded them), so these files cannot be checked against "
                    "them; if they are the same files, resume once with `allow_data_change`: "
                    "that records their SHA-256 and every later resume checks them (or use a "
                    "new `out`)")
        except StoreError:
            stored = None  # not a store: open_or_create refuses it with its own message
        check_same_data(os.fspath(out), stored, files)
    return PreparedTask(prepare_images(spec, arrays), task_layout(spec).to_records(),
                        {}, {"data_files": files})


# Each task's preparation (see prepare_task).
PREPARERS = {SEQUENCE: _prepare_sequence, IMAGE: _prepare_images}


@functools.lru_cache(maxsize=4)
def _ray_trainer(spec, data_dir, width: int):
    """A Ray worker's block trainer (data loaded once per worker process)."""
    return make_block_trainer(spec, prepare_task(spec, None, data_dir).data, width)
