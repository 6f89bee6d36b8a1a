"""The sequence task (DS1-DS3): ``make_train(spec)`` returns a pure one-network
``train(inputs)`` (the reference); :func:`make_sequence_parts` splits it into the
:class:`TaskParts` that the chunk runner trains blocks with.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from mlds_jax.models import apply_gru_batch, gru_layout, init_gru
from mlds_jax.spec import DatasetSpec
from mlds_jax.tasks import build_machines, make_sequences, stack_tables
from mlds_jax.train._keys import SHUFFLE, TRAIN_DATA, VAL_DATA, NetworkInputs, init_key
from mlds_jax.train._record import Recorder, sequence_probe_inputs
from mlds_jax.train._runner import TaskParts
from mlds_jax.train._step import epoch_guard, network_optimiser, unguarded_update


class TrainResult(NamedTuple):
    """One network's outcome (a block adds a leading ``[n_models]`` axis to each field)."""

    params: jax.Array  # float32 [n_params]; failed: as its failing epoch began
    failed: jax.Array  # bool []: a loss or the parameters became NaN/inf (it then stops)
    stopped_early: jax.Array  # bool []: val loss fell under the threshold before the cap
    epochs: jax.Array  # int32 []: epochs run, over every attempt
    train_loss: jax.Array  # float32 [epoch_cap]: mean train loss per epoch (NaN: not run)
    val_loss: jax.Array  # float32 [epoch_cap]: val loss after each epoch (NaN: not run)
    final_train_loss: jax.Array  # float32 []
    final_val_loss: jax.Array  # float32 []
    val_bit_accuracy: jax.Array  # float32 []: fraction of validation output bits right
    learnt: jax.Array  # bool []: not failed and spec.is_learnt (val_bit_accuracy >= threshold)
    restarts: jax.Array  # int32 []: times re-initialised (TrainSpec.max_restarts)
    snapshot_params: jax.Array  # float32 [n_snapshots, n_params]: weights after each
    # snapshot epoch (TrainSpec.snapshot_epochs; an epoch not reached: the final weights)
    snapshot_reached: jax.Array  # bool [n_snapshots]: the network trained to that epoch
    probe_outputs: jax.Array  # float32 [n_snapshots, n_probe, time, outputs]: logits on
    # the spec's probe sequences at each snapshot


class _Carry(NamedTuple):
    params: jax.Array
    opt_state: optax.OptState
    epoch: jax.Array
    stopped: jax.Array
    failed: jax.Array
    train_hist: jax.Array
    val_hist: jax.Array
    restarts: jax.Array  # int32 []: attempts before the current one
    snaps: jax.Array | None = None  # float32 [n_snapshots, n_params] (None: none kept)


def sequence_loss(params, x: jax.Array, y: jax.Array, spec: DatasetSpec) -> jax.Array:
    """Mean binary cross-entropy of one network on a batch.

    Args:
      params: ``[n_params]`` (or its ``{name: tensor}`` dict); x: ``[batch, time, features]``;
      y: ``[batch, time, outputs]``.
    """
    logits = apply_gru_batch(params, x, spec.model)
    return optax.sigmoid_binary_cross_entropy(logits, y).mean()


def bit_accuracy(params: jax.Array, x: jax.Array, y: jax.Array, spec: DatasetSpec) -> jax.Array:
    """Fraction of output bits predicted right (logit > 0 means 1)."""
    logits = apply_gru_batch(params, x, spec.model)
    return jnp.mean((logits > 0) == (y > 0.5))


class TrainParts(NamedTuple):
    """A run split in three pure pieces (each for ONE network), so long runs can stop after
    any number of epochs, be checkpointed, and continue:

    * ``init(inputs) -> state``
    * ``segment(inputs, state, n_epochs) -> state`` (runs up to ``n_epochs`` more epochs;
      ``n_epochs`` may be traced, so one compiled program serves every segment length). A
      network's segment also ends with its attempt: when that attempt is to restart, the
      restart happens at the end of the segment and its next attempt trains in the next
      one, so a whole run is ``spec.train.attempts`` segments of ``epoch_cap`` epochs.
    * ``finish(inputs, state) -> TrainResult``

    ``state`` is a pytree of arrays (parameters, optimiser state, epoch, stop flags,
    histories); the training data is re-derived from the network's key in each piece.
    """

    init: object
    segment: object
    finish: object


def training_address_cells(spec: DatasetSpec) -> np.ndarray | None:
    """int32 ``[n_stages, n_classes, n_train]``: how many address cells training sequence
    ``j`` of each class may use at each stage of the curriculum
    (``TrainSpec.class_address_curriculum``: ``cells[j % len(cells)]``, where stage ``s``
    drops the first ``s`` entries but keeps the last; 8, every address, for classes without
    one). ``n_stages`` is 1 + the number of ``TrainSpec.address_curriculum_stages``.
    ``None`` when the spec sets no curriculum."""
    t = spec.train
    if t.class_address_curriculum is None:
        return None
    n_stages = 1 + len(t.address_curriculum_stages or ())
    table = np.full((n_stages, len(spec.classes), t.n_train), 8, np.int32)
    for name, cells in t.class_address_curriculum:
        for s in range(n_stages):
            stage_cells = np.asarray(cells[min(s, len(cells) - 1):], np.int32)
            table[s, spec.classes.index(name)] = np.resize(stage_cells, t.n_train)
    return table


def curriculum_stage(spec: DatasetSpec, epoch: jax.Array) -> jax.Array:
    """int32 ``[]``: the curriculum stage of ``epoch`` (counted from 0): how many of
    ``TrainSpec.curriculum_stage_epochs()`` it has reached."""
    bounds = jnp.asarray(spec.train.curriculum_stage_epochs(), jnp.int32)
    return jnp.sum(epoch >= bounds).astype(jnp.int32)


def fresh_data_classes(spec: DatasetSpec) -> np.ndarray | None:
    """bool ``[n_classes]``: classes whose training sequences are redrawn every epoch
    (``TrainSpec.fresh_train_data``); ``None`` when the spec names none."""
    if spec.train.fresh_train_data is None:
        return None
    return np.asarray([c in spec.train.fresh_train_data for c in spec.classes])


def make_train_parts(spec: DatasetSpec) -> TrainParts:
    """The pieces of :func:`make_train`; ``make_train`` is their composition."""
    t, m = spec.train, spec.model
    machines = build_machines(spec)
    next_state, output = (jnp.asarray(a) for a in stack_tables(machines))
    in_bits, out_bits = machines[0].input_bits, machines[0].output_bits
    layout = gru_layout(m)
    tensor_loss_and_grad = jax.value_and_grad(sequence_loss)

    def loss_and_grad(params, x, y, spec):
        # Differentiate with respect to the named tensors and concatenate their gradients
        # once: the gradient of a flat vector's slices is assembled by one pad-and-add per
        # tensor (measured: 8% of a CPU step).
        loss, grads = tensor_loss_and_grad(layout.unflatten(params), x, y, spec)
        return loss, layout.flatten(grads)

    decay = t.max_epochs * t.steps_per_epoch if t.lr_schedule == "cosine" else None
    cells_table = training_address_cells(spec)
    active_epoch = functools.partial(_attempt_epoch, max_epochs=t.max_epochs)
    fresh_table = fresh_data_classes(spec)
    recorder = Recorder(spec)
    probe_x = jnp.asarray(sequence_probe_inputs(spec))
    # The training set changes between epochs for fresh-data classes and curriculum stages.
    per_epoch_data = fresh_table is not None or bool(t.curriculum_stage_epochs())

    def train_data(inputs: NetworkInputs, epoch: jax.Array | None = None,
                   attempt_epoch: jax.Array | None = None):
        """The training set of ``epoch`` (``None``: the first), ``[n_train, time, bits]``
        each; a fresh-data class draws it from ``(key, epoch)``, every other class from its
        key alone; the address cells follow the curriculum stage of ``attempt_epoch`` (the
        epoch counted from the start of the network's current attempt)."""
        key = jax.random.fold_in(inputs.order_root, TRAIN_DATA)
        if fresh_table is not None and epoch is not None:
            key = jnp.where(jnp.asarray(fresh_table)[inputs.class_id],
                            jax.random.fold_in(key, epoch), key)
        cells = None
        if cells_table is not None:
            stage = 0 if epoch is None else curriculum_stage(spec, attempt_epoch)
            cells = jnp.asarray(cells_table)[stage, inputs.class_id]
        return make_sequences(key, next_state[inputs.class_id], output[inputs.class_id],
                              t.n_train, t.seq_len, in_bits, out_bits, cells)

    def val_data(inputs: NetworkInputs):
        """The validation set, ``[n_val, time, bits]`` each (fair inputs, from the key)."""
        return make_sequences(jax.random.fold_in(inputs.order_root, VAL_DATA),
                              next_state[inputs.class_id], output[inputs.class_id],
                              t.n_val, t.seq_len, in_bits, out_bits)

    def init(inputs: NetworkInputs) -> _Carry:
        params = init_gru(init_key(inputs.init_root), m)
        opt_state = network_optimiser(inputs, decay).init(params)
        nan_hist = jnp.full((t.epoch_cap,), jnp.nan, jnp.float32)
        zero = jnp.zeros((), jnp.int32)
        return _Carry(params, opt_state, zero, jnp.zeros((), bool), jnp.zeros((), bool),
                      nan_hist, nan_hist, zero, recorder.init(params))

    def restart_if_stuck(inputs: NetworkInputs, c: _Carry, x_va, y_va) -> _Carry:
        """``c`` re-initialised (attempt ``restarts + 1``) when its attempt has run all
        ``max_epochs`` unlearnt and restarts are left; unchanged otherwise (so applying it
        twice is applying it once)."""
        acc = bit_accuracy(c.params, x_va, y_va, spec)
        restart = (active_epoch(c) == t.max_epochs) & ~c.stopped & ~c.failed & (
            c.restarts < t.max_restarts) & ~spec.is_learnt({"val_bit_accuracy": acc})
        restarts = c.restarts + restart.astype(jnp.int32)
        fresh = init_gru(init_key(inputs.init_root, restarts), m)
        fresh_opt = network_optimiser(inputs, decay).init(fresh)
        pick = functools.partial(jax.tree_util.tree_map,
                                 lambda a, b: jnp.where(restart, a, b))
        return c._replace(params=pick(fresh, c.params),
                          opt_state=pick(fresh_opt, c.opt_state), restarts=restarts)

    def segment(inputs: NetworkInputs, c: _Carry, n_epochs: int) -> _Carry:
        x_va, y_va = val_data(inputs)
        # drawn once per segment unless the set changes between epochs
        fixed = None if per_epoch_data else train_data(inputs)
        shuffle_key = jax.random.fold_in(inputs.order_root, SHUFFLE)
        limit = jnp.minimum(c.epoch + n_epochs, t.epoch_cap)

        def epoch_body(c: _Carry) -> _Carry:
            # With fresh-data classes or curriculum stages the set is redrawn each epoch.
            x, y = train_data(inputs, c.epoch, active_epoch(c)) if fixed is None else fixed

            def sgd_step(c, batch_idx):
                params, opt_state, bad = c
                loss, grads = loss_and_grad(params, x[batch_idx], y[batch_idx], spec)
                step = unguarded_update(network_optimiser(inputs, decay), loss, grads, params,
                                        opt_state, bad)
                return step, loss

            perm = jax.random.permutation(jax.random.fold_in(shuffle_key, c.epoch), t.n_train)
            batches = perm.reshape(t.steps_per_epoch, t.batch_size)
            (params, opt_state, bad), losses = jax.lax.scan(
                sgd_step, (c.params, c.opt_state, jnp.zeros((), bool)), batches)
            val = sequence_loss(params, x_va, y_va, spec)
            # a diverged epoch is undone: back to the parameters it started from
            params, opt_state, failed = epoch_guard(bad | ~jnp.isfinite(val), params,
                                                    opt_state, c.params, c.opt_state)
            return _Carry(
                params=params,
                opt_state=opt_state,
                epoch=c.epoch + 1,
                stopped=~failed & (val < t.stop_val_loss),
                failed=failed,
                train_hist=c.train_hist.at[c.epoch].set(losses.mean()),
                val_hist=c.val_hist.at[c.epoch].set(val),
                restarts=c.restarts,
                snaps=recorder.take(c.snaps, params, c.epoch + 1),
            )

        def epoch_cond(c: _Carry) -> jax.Array:
            return (c.epoch < limit) & (active_epoch(c) < t.max_epochs) & ~c.stopped & ~c.failed

        c = jax.lax.while_loop(epoch_cond, epoch_body, c)
        # Once per segment, not per epoch: under vmap every epoch would compute each
        # network's fresh parameters, Adam state and bit accuracy only to select them away.
        # A network whose attempt ended in this segment waits for the segment's end.
        if not t.max_restarts:
            return c
        c = restart_if_stuck(inputs, c, x_va, y_va)
        # A restarted network's snapshot at its attempt's last epoch holds the state a
        # checkpointed run holds there: the re-initialised weights (unchanged otherwise).
        return c._replace(snaps=recorder.take(c.snaps, c.params, c.epoch))

    def finish(inputs: NetworkInputs, c: _Carry) -> TrainResult:
        x_va, y_va = val_data(inputs)
        last = jnp.maximum(c.epoch - 1, 0)
        acc = bit_accuracy(c.params, x_va, y_va, spec)
        snaps, reached, outputs = recorder.finish(
            c.snaps, c.params, c.epoch - c.failed.astype(jnp.int32),
            lambda p: apply_gru_batch(p, probe_x, spec.model), layout.n_params,
            (probe_x.shape[0], t.seq_len, m.output_size))
        return TrainResult(
            params=c.params,
            failed=c.failed,
            stopped_early=c.stopped,
            epochs=c.epoch,
            train_loss=c.train_hist,
            val_loss=c.val_hist,
            final_train_loss=c.train_hist[last],
            final_val_loss=sequence_loss(c.params, x_va, y_va, spec),
            val_bit_accuracy=acc,
            learnt=~c.failed & spec.is_learnt({"val_bit_accuracy": acc}),
            restarts=c.restarts,
            snapshot_params=snaps,
            snapshot_reached=reached,
            probe_outputs=outputs,
        )

    return TrainParts(init, segment, finish)


def _attempt_epoch(state: _Carry, max_epochs: int) -> jax.Array:
    """int32: epochs run in the network's current attempt (each earlier attempt ran all
    ``max_epochs``: only an attempt that reached the cap restarts)."""
    return state.epoch - state.restarts * max_epochs


def is_active(state: _Carry, spec: DatasetSpec) -> jax.Array:
    """bool (per network): still training (not stopped, not failed, its attempt under the
    epoch cap)."""
    return ((_attempt_epoch(state, spec.train.max_epochs) < spec.train.max_epochs)
            & ~state.stopped & ~state.failed)


def make_train(spec: DatasetSpec):
    """Returns ``train(inputs: NetworkInputs) -> TrainResult`` for ONE network.

    Everything static (architecture, step counts, tables of every class) is closed over;
    everything per-network comes in ``inputs``, so vmapping over a block never recompiles
    for new keys, classes or learning rates.
    """
    parts = make_train_parts(spec)

    def train(inputs: NetworkInputs) -> TrainResult:
        state = parts.init(inputs)
        for _ in range(spec.train.attempts):  # a segment ends where an attempt ends
            state = parts.segment(inputs, state, spec.train.epoch_cap)
        return parts.finish(inputs, state)

    return train


def make_sequence_parts(spec: DatasetSpec) -> TaskParts:
    """The DS1-DS3 run of ONE network as :class:`TaskParts` (``data`` is unused: each
    network generates its own sequences from its key)."""
    p = make_train_parts(spec)
    return TaskParts(
        init=lambda inputs, data: p.init(inputs),
        segment=lambda inputs, data, state, n_epochs: p.segment(inputs, state, n_epochs),
        finish=lambda inputs, data, state: p.finish(inputs, state),
        active=lambda state: is_active(state, spec),
        attempts=spec.train.attempts,
    )
