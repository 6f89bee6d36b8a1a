"""Rebuilding a stored network from its row: its initial weights, or its weights after any
epoch, bit for bit.

A network is a pure function of (spec, index), trained by the same fixed-width chunk program
whatever run it was part of (``mlds_jax.train._runner``). So its state after epoch ``e`` is
rebuilt by running that program (a chunk of the store's recorded width, every row this
network) for ``e`` epochs, in the segments a checkpointed run would take: one per attempt,
so a restart at an attempt's end happens as it did in training. Bits are promised on the
backend (and, for GRUs, the kernel path) that made the store; another one is refused.
"""

from __future__ import annotations

import os

import numpy as np

from mlds_jax.errors import StoreError
from mlds_jax.spec import task_of
from mlds_jax.store._setup import check_same_setup, stored_chunk_width


def _runner(store, data_dir):
    from mlds_jax.train import make_runner

    spec, data = store.spec, None
    if task_of(spec).images:
        from mlds_jax.tasks import check_same_data, data_files, load_images, prepare_images

        arrays = load_images(spec, data_dir)
        check_same_data(os.fspath(store.path), store.attrs.get("data_files"),
                        data_files(spec, data_dir, arrays))
        data = prepare_images(spec, arrays)
    return make_runner(spec, data, stored_chunk_width(store.attrs))


def regenerate_params(store, i: int, epoch: int | None = None,
                      data_dir: str | os.PathLike | None = None) -> np.ndarray:
    """float32 ``[n_params]``: network ``i`` of ``store`` rebuilt from its row: ``epoch``
    ``None``, its final weights (equal to the stored ``params``); ``0``, its initial weights;
    ``e``, its weights after ``e`` epochs (counted over every attempt, as the histories are;
    a network that stopped or failed before ``e`` keeps the weights it ended with)."""
    from mlds_jax.train import network_inputs

    spec = store.spec
    cap = spec.train.epoch_cap
    if epoch is not None and (not isinstance(epoch, int | np.integer)
                              or isinstance(epoch, bool) or not 0 <= int(epoch) <= cap):
        raise StoreError(f"{store.path}: epoch {epoch!r}: expected an integer in [0, {cap}] "
                         "(the spec's epoch cap) or None (the final weights)")
    check_same_setup(store.path, store.attrs, "regenerate them")
    runner = _runner(store, None if data_dir is None else str(data_dir))
    chunks = runner.split(network_inputs(spec, np.full(1, i)))
    states = runner.init(chunks)
    if epoch is None:
        states = runner.run(chunks, states, cap)
    else:
        for _ in range(runner.attempts):  # a segment ends where an attempt ends
            ran = int(np.asarray(states[0].epoch)[0])
            if ran >= epoch or not runner.active(states)[0]:
                break
            states = runner.segment(chunks, states, int(epoch) - ran)
    return np.asarray(states[0].params)[0]
