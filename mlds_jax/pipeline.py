"""Top-level wiring: spec -> planned store -> trained blocks -> finished store."""

from __future__ import annotations

import datetime
import functools
import os
import platform
from typing import Any

import jax
import jaxlib
import numpy as np
import zarr

from mlds_jax._version import __version__
from mlds_jax.coord import block_shardings, run_blocks
from mlds_jax.coord._ray import run_blocks_ray
from mlds_jax.coord._refill import run_blocks_refill
from mlds_jax.errors import SpecError, StoreError
from mlds_jax.models import gru_layout, mlp_layout
from mlds_jax.spec import DatasetSpec, ImageDatasetSpec
from mlds_jax.store import StoreView, StoreWriter, open_store, read_root_attrs
from mlds_jax.tasks import build_machines, stack_tables
from mlds_jax.tasks._images import check_same_data, data_files, load_images, prepare_images
from mlds_jax.train import make_block_trainer, network_index_parts, network_inputs
from mlds_jax.train._image_train import make_image_block_trainer

DEFAULT_BLOCK_SIZE = 64


def provenance() -> dict[str, Any]:
    """Versions and device recorded in a store's root attributes."""
    dev = jax.devices()[0]
    return {
        "library": "mlds-jax",
        "library_version": __version__,
        "jax_version": jax.__version__,
        "jaxlib_version": jaxlib.__version__,
        "zarr_version": zarr.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "device_kind": dev.device_kind,
        "platform": dev.platform,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def planned_arrays(spec: DatasetSpec) -> dict[str, np.ndarray]:
    """The per-network arrays known before training (class, replicate, key, learning rate)."""
    idx = np.arange(spec.n_networks)
    cls, rep = network_index_parts(spec, idx)
    inputs = network_inputs(spec, idx)
    return {
        "class_id": cls.astype(np.int32),
        "replicate": rep.astype(np.int32),
        "key": np.asarray(inputs.key, np.uint32),
        "learning_rate": np.asarray(inputs.learning_rate, np.float32),
    }


def check_widths(spec: DatasetSpec, machines) -> None:
    """The network's input/output widths must match the machines' encoding."""
    bits_in, bits_out = machines[0].input_bits, machines[0].output_bits
    if spec.model.input_size != bits_in:
        raise SpecError(f"`GRUSpec.input_size`: expected {bits_in} (the machines' input bits), "
                        f"got {spec.model.input_size}")
    if spec.model.output_size != bits_out:
        raise SpecError(f"`GRUSpec.output_size`: expected {bits_out} (the machines' output "
                        f"bits), got {spec.model.output_size}")


def generate(
    spec: DatasetSpec | ImageDatasetSpec,
    out: str | os.PathLike,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    progress: bool = True,
    data_dir: str | os.PathLike | None = None,
    process_index: int = 0,
    process_count: int = 1,
    backend: str = "local",
    checkpoint_every: int | None = None,
    refill_every: int | None = None,
    allow_data_change: bool = False,
) -> tuple[StoreView, dict[str, float]]:
    """Builds (or resumes) the store for ``spec`` at ``out``.

    Everything is validated before anything is written: unknown machine names, a path that
    is not a store, or a store of another spec raise without touching the disk.

    ``process_index``/``process_count`` split the blocks between independent processes (any
    scheduler: SLURM array tasks, several hosts on a shared filesystem); each writes only its
    own chunks, so they may run at once on one store. ``backend="ray"`` runs each pending
    block as a Ray task on the connected (or a new local) Ray cluster. ``checkpoint_every=K``
    saves in-flight blocks every K epochs (orbax, in ``<out>.ckpt/``) so a killed run resumes
    mid-block. ``refill_every=K`` trains a pool of ``block_size`` slots in K-epoch segments,
    retiring stopped networks and refilling their slots with pending ones. DS4 stores record
    the SHA-256 of their data files; resuming with other files is refused unless
    ``allow_data_change``.

    Returns:
      ``(store view, run summary)``.
    """
    if not isinstance(block_size, int) or block_size <= 0:
        raise SpecError(f"`block_size`: expected a positive integer, got {block_size!r}")
    if backend not in ("local", "ray"):
        raise SpecError(f"`backend`: expected 'local' or 'ray', got {backend!r}")
    if isinstance(spec, ImageDatasetSpec):
        if backend == "ray":
            raise SpecError("`backend`: the Ray backend runs DS1-DS3 for now, not DS4")
        return _generate_images(spec, out, block_size, progress, data_dir,
                                (process_index, process_count), allow_data_change)
    machines = build_machines(spec)  # UnknownDatasetError names a bad machine
    check_widths(spec, machines)
    next_state, output = stack_tables(machines)
    writer = StoreWriter.open_or_create(
        out, spec, block_size=block_size,
        layout=gru_layout(spec.model).to_records(),
        planned=planned_arrays(spec), provenance=provenance(),
        tables={"next_state": next_state, "output": output},
    )
    if refill_every:
        summary = run_blocks_refill(spec, writer, pool_size=writer.block_size,
                                    epochs_per_segment=refill_every, progress=progress,
                                    process_index=process_index,
                                    process_count=process_count)
    elif backend == "ray":
        sink_factory = functools.partial(StoreWriter, writer.path, spec, writer.block_size,
                                         writer.task)
        trainer_factory = functools.partial(make_block_trainer, spec)
        summary = run_blocks_ray(spec, writer, sink_factory, trainer_factory,
                                 process_index=process_index, process_count=process_count,
                                 progress=progress)
    else:
        summary = run_blocks(spec, writer, progress=progress, process_index=process_index,
                             process_count=process_count, checkpoint_every=checkpoint_every,
                             checkpoint_dir=f"{os.fspath(out).rstrip('/')}.ckpt")
    return open_store(out), summary


def _generate_images(spec: ImageDatasetSpec, out, block_size: int, progress: bool,
                     root, share: tuple[int, int], allow_data_change: bool = False
                     ) -> tuple[StoreView, dict[str, float]]:
    """DS4: load, check and trigger the image set once (before touching the store), then
    train. The data files' SHA-256 go into the provenance and must match on a resume."""
    arrays = load_images(spec, root)
    files = data_files(spec, root, arrays)
    if not allow_data_change and os.path.isdir(out):
        try:
            stored = read_root_attrs(out).get("data_files")
        except StoreError:
            stored = None  # not a store: open_or_create refuses it with its own message
        check_same_data(os.fspath(out), stored, files)
    data = prepare_images(spec, arrays)
    writer = StoreWriter.open_or_create(
        out, spec, block_size=block_size, layout=mlp_layout(spec.widths).to_records(),
        planned=planned_arrays(spec), provenance={**provenance(), "data_files": files},
        task="image",
    )
    shardings = block_shardings(writer.block_size)  # None on one device
    trainer = make_image_block_trainer(spec, data,
                                       shardings[1] if shardings is not None else None)
    summary = run_blocks(spec, writer, progress=progress, trainer=trainer,
                         process_index=share[0], process_count=share[1])
    return open_store(out), summary
