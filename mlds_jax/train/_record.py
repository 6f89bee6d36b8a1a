"""Recording along training: weight snapshots and probe outputs, inside the compiled run.

A network's state carries ``snaps`` (float32 ``[n_snapshots, n_params]``; ``None`` when the
spec keeps none): the epoch loop copies the parameters into the slot of each snapshot epoch
it finishes (:meth:`Recorder.take`; DS4 runs the loop up to each snapshot epoch and writes
the slot between loops, :meth:`Recorder.loop`), so snapshots cost no host round trip.
``finish`` then fills the slots of epochs
the network never reached with its final weights (flagged: ``reached`` is False) and runs
the network on the spec's fixed probe set at every snapshot. None of this touches the
parameters, optimiser state or data order: a network's floats are the same with or without
recording (tested against pinned digests).

The probe set is derived from the spec alone (its seed and the second word of its digest,
so it never coincides with a network's key): DS1-DS3 ``K`` sequences of fair input bits;
DS4 ``K`` test images drawn without replacement, each shown clean and with the eval trigger.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from mlds_jax.spec import probe_count, snapshot_schedule, task_of


def probe_key(spec) -> jax.Array:
    """The key the probe set is drawn from: ``PRNGKey(seed)`` folded with the digest's second
    32-bit word (network keys fold in the first)."""
    return jax.random.fold_in(jax.random.PRNGKey(spec.seed), int(spec.digest[8:16], 16))


def sequence_probe_inputs(spec) -> np.ndarray:
    """float32 ``[n_probe, time, features]``: the DS1-DS3 probe sequences (fair input bits,
    ``seq_len`` steps), the same for every network of the spec."""
    k = probe_count(spec)
    with jax.ensure_compile_time_eval():  # concrete even when called while tracing
        bits = jax.random.bernoulli(probe_key(spec), 0.5, (k, spec.train.seq_len,
                                                           spec.model.input_size))
        return np.asarray(bits, np.float32)


def image_probe_index(spec, n_test: int) -> np.ndarray:
    """int32 ``[n_probe]``: the DS4 probe images' rows in the test split (sorted; at most
    ``n_test``)."""
    k = min(probe_count(spec), n_test)
    with jax.ensure_compile_time_eval():  # concrete even when called while tracing
        idx = jax.random.choice(probe_key(spec), n_test, (k,), replace=False)
        return np.sort(np.asarray(idx, np.int32))


def image_probe_inputs(spec, data) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [2 * n_probe, 784], triggered bool [2 * n_probe])``: the probe test
    images clean, then the same images with the eval trigger."""
    idx = image_probe_index(spec, int(np.shape(data.test_y)[0]))
    x = np.concatenate([np.asarray(data.test_x)[idx], np.asarray(data.test_trig)[idx]])
    return x, np.repeat([False, True], idx.size)


def probe_set(spec, data=None) -> dict[str, np.ndarray]:
    """The store's ``probe/*`` arrays (written once per store): ``inputs`` and, for DS4,
    ``test_index`` (int32: row in the test split), ``triggered`` (bool) and ``label``
    (int32: the image's true label). Empty when the spec records no probes."""
    if probe_count(spec) == 0:
        return {}
    if not task_of(spec).images:
        return {"inputs": sequence_probe_inputs(spec)}
    idx = image_probe_index(spec, int(np.shape(data.test_y)[0]))
    x, trig = image_probe_inputs(spec, data)
    return {"inputs": x, "test_index": np.concatenate([idx, idx]), "triggered": trig,
            "label": np.asarray(data.test_y)[np.concatenate([idx, idx])].astype(np.int32)}


class Recorder:
    """The snapshot schedule of a spec as pure pieces for one network's trainer.

    ``epochs``: int32 ``[n_snapshots]`` (empty: recording off, every piece a no-op)."""

    def __init__(self, spec):
        self.epochs = np.asarray(snapshot_schedule(spec.train), np.int32)
        self.on = self.epochs.size > 0

    def init(self, params: jax.Array) -> jax.Array | None:
        """``snaps [n_snapshots, n_params]``: the initial weights in epoch 0's slot, zeros
        elsewhere (``None`` when off)."""
        if not self.on:
            return None
        hit = jnp.asarray(self.epochs == 0)[:, None]
        return jnp.where(hit, params[None, :], jnp.zeros((self.epochs.size, params.size),
                                                         params.dtype))

    def take(self, snaps: jax.Array | None, params: jax.Array,
             epoch: jax.Array) -> jax.Array | None:
        """``snaps`` with ``params`` (the weights after ``epoch`` epochs) in the slots of
        epoch ``epoch``."""
        if not self.on:
            return None
        # one row read and written (not a select over every slot: on a small epoch, e.g. DS4
        # on the digits, that select alone cost ~5% of the run)
        epochs = jnp.asarray(self.epochs)
        k = jnp.clip(jnp.searchsorted(epochs, epoch), 0, epochs.size - 1).astype(jnp.int32)
        row = jnp.where(epochs[k] == epoch, params, snaps[k])
        return jax.lax.dynamic_update_index_in_dim(snaps, row, k, 0)

    def loop(self, cond, body, c):
        """``jax.lax.while_loop(cond, body, c)`` for a carry with fields ``params``,
        ``epoch`` and ``snaps``, where ``body`` runs one epoch and leaves ``snaps`` alone; the
        snapshot slots are written between epochs, as :meth:`take` would after each.

        Under ``vmap`` a while loop whose condition differs per network selects every carry
        field between the new and old value each iteration, and a per-network slot index
        turns the slot write into a scatter; with a DS4 network's 7 slots of 134,794 floats
        that copy + select took ~9% of a run on the digits. Here the snapshots stay out of
        the per-network loop: an outer ``scan`` over the slots (its index the same for every
        network) runs the epoch loop up to each snapshot epoch, then writes that one slot in
        place. The epochs run, and so every float, are those of the plain loop."""
        if not self.on:
            return jax.lax.while_loop(cond, body, c)
        epochs = jnp.asarray(self.epochs)
        n = self.epochs.size

        def stage(c, k):
            slot = jnp.minimum(k, n - 1)
            stop = jnp.where(k < n, epochs[slot], jnp.iinfo(jnp.int32).max)
            inner = jax.lax.while_loop(lambda s: cond(s) & (s.epoch < stop), body,
                                       c._replace(snaps=None))
            row = jnp.where((k < n) & (inner.epoch == stop), inner.params, c.snaps[slot])
            return inner._replace(
                snaps=jax.lax.dynamic_update_index_in_dim(c.snaps, row, slot, 0)), None

        return jax.lax.scan(stage, c, jnp.arange(n + 1, dtype=jnp.int32))[0]

    def finish(self, snaps: jax.Array | None, params: jax.Array, trained: jax.Array,
               probe_fn, n_params: int, probe_shape: tuple[int, ...]
               ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(snapshot_params [n_snapshots, n_params], reached bool [n_snapshots],
        probe_outputs float32 [n_snapshots, *probe_shape])``.

        ``trained``: epochs the network trained to the end (its epoch count, less a failed
        last epoch); a slot of a later epoch takes the final ``params``. ``probe_fn(params
        [n_params]) -> [*probe_shape]`` runs at each snapshot in turn (``lax.map``)."""
        if not self.on:
            return (jnp.zeros((0, n_params), jnp.float32), jnp.zeros((0,), bool),
                    jnp.zeros((0, *probe_shape), jnp.float32))
        reached = jnp.asarray(self.epochs) <= trained
        snaps = jnp.where(reached[:, None], snaps, params[None, :])
        if probe_shape[0] == 0:
            outputs = jnp.zeros((self.epochs.size, *probe_shape), jnp.float32)
        else:
            outputs = jax.lax.map(probe_fn, snaps)
        return snaps, reached, outputs
