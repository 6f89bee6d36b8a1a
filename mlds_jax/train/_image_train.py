"""DS4 trainer: dense networks on one shared image set, each with its own data order and
its own stratified poison subset, as :class:`~mlds_jax.train.TaskParts` for the chunk
runner."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from mlds_jax.models import apply_mlp, init_mlp
from mlds_jax.spec import ImageDatasetSpec, probe_count
from mlds_jax.tasks import poison_target
from mlds_jax.train._keys import INIT, SHUFFLE, TRAIN_DATA, NetworkInputs
from mlds_jax.train._record import Recorder, image_probe_index
from mlds_jax.train._runner import TaskParts
from mlds_jax.train._step import epoch_guard, network_optimiser, unguarded_update

N_LABELS = 10


class ImageTrainResult(NamedTuple):
    """One DS4 network's outcome (a block adds a leading ``[n_models]`` axis to each field)."""

    params: jax.Array  # float32 [n_params]; failed: as its failing epoch began
    failed: jax.Array  # bool []: a loss or the parameters became NaN/inf (it then stops)
    stopped_early: jax.Array  # bool []: always False (DS4 trains a fixed number of epochs)
    epochs: jax.Array  # int32 []: epochs run (spec.train.epochs unless failed)
    train_loss: jax.Array  # float32 [epochs]: mean train loss per epoch (NaN: not run)
    val_loss: jax.Array  # float32 [epochs]: clean test loss after each epoch (NaN: not run)
    final_train_loss: jax.Array  # float32 []
    final_val_loss: jax.Array  # float32 []
    clean_accuracy: jax.Array  # float32 []: accuracy on the clean test set
    attack_success_rate: jax.Array  # float32 []: triggered test images classified (y+1) mod 10
    backdoor_took: jax.Array  # bool []: attack_success_rate >= spec.asr_threshold
    learnt: jax.Array  # bool []: not failed and spec.is_learnt (clean accuracy; backdoor took)
    poisoned_samples: jax.Array  # int32 []: poisoned training samples this network saw
    snapshot_params: jax.Array  # float32 [n_snapshots, n_params]: weights after each
    # snapshot epoch (DenseTrainSpec.snapshot_epochs; an epoch not reached: final weights)
    snapshot_reached: jax.Array  # bool [n_snapshots]: the network trained to that epoch
    probe_outputs: jax.Array  # float32 [n_snapshots, 2 * n_probe, 10]: logits on the
    # probe test images (clean, then triggered) at each snapshot


def poison_mask(key: jax.Array, labels: jax.Array, per_label: jax.Array) -> jax.Array:
    """bool ``[n]``: exactly ``per_label[c]`` random samples of each label ``c`` (stratified).

    Samples are ranked within their label by a random priority from ``key``.
    """
    n = labels.shape[0]
    prio = jax.random.uniform(key, (n,))
    order = jnp.argsort(labels.astype(jnp.float32) * 2.0 + prio)  # by label, then priority
    sorted_labels = labels[order]
    starts = jnp.searchsorted(sorted_labels, jnp.arange(N_LABELS), side="left")
    rank_sorted = jnp.arange(n) - starts[sorted_labels]
    rank = jnp.zeros(n, jnp.int32).at[order].set(rank_sorted.astype(jnp.int32))
    return rank < per_label[labels]


def _to_float(x: jax.Array) -> jax.Array:
    return x.astype(jnp.float32) * (1.0 / 255.0)


class _ImageCarry(NamedTuple):
    params: jax.Array  # float32 [n_params]
    opt_state: optax.OptState
    epoch: jax.Array  # int32 []: epochs run
    failed: jax.Array  # bool []: stops the network
    train_hist: jax.Array  # float32 [epochs] (NaN: not run)
    val_hist: jax.Array  # float32 [epochs] (NaN: not run)
    snaps: jax.Array | None = None  # float32 [n_snapshots, n_params] (None: none kept)


def make_image_parts(spec: ImageDatasetSpec, n_train: int) -> TaskParts:
    """The DS4 run of ONE network as :class:`TaskParts`; ``data`` is the shared
    :class:`~mlds_jax.tasks.ImageData` (passed, not closed over, so it is never baked into the
    program as a constant). Each epoch's data order and the poison subset are pure functions
    of the network's key and the epoch, so a run split into segments equals a whole run."""
    t, widths = spec.train, spec.widths
    steps = n_train // t.batch_size
    # A clean spec's data poisons nothing (prepare_images: poison_per_label is all zero), so
    # its networks skip the poison draw and the triggered images altogether. With a poison
    # fraction grid each network takes the counts of its grid value (row grid_index).
    poisoned = spec.poison is not None
    graded = poisoned and spec.poison.fraction_grid is not None

    def loss_fn(p, x, y):
        logits = apply_mlp(p, x, widths)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    grad = jax.value_and_grad(loss_fn)
    recorder = Recorder(spec)
    n_probe = 2 * probe_count(spec)  # at most: a smaller test split gives fewer

    def evaluate(p, x, y):
        logits = apply_mlp(p, _to_float(x), widths)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, jnp.argmax(logits, -1)

    def poison(inputs: NetworkInputs, data):
        if not poisoned:  # nothing to draw: the clean images and labels
            return jnp.zeros(data.train_y.shape, bool), data.train_y
        per_label = data.poison_per_label[inputs.grid_index if graded else 0]
        mask = poison_mask(jax.random.fold_in(inputs.key, TRAIN_DATA), data.train_y, per_label)
        return mask, jnp.where(mask, poison_target(data.train_y, N_LABELS), data.train_y)

    def init(inputs: NetworkInputs, data) -> _ImageCarry:
        params = init_mlp(jax.random.fold_in(inputs.init_root, INIT), widths)
        opt_state = network_optimiser(inputs).init(params)
        nan_hist = jnp.full((t.epochs,), jnp.nan, jnp.float32)
        return _ImageCarry(params, opt_state, jnp.zeros((), jnp.int32), jnp.zeros((), bool),
                           nan_hist, nan_hist, recorder.init(params))

    def segment(inputs: NetworkInputs, data, c: _ImageCarry, n_epochs) -> _ImageCarry:
        mask, labels = poison(inputs, data)
        shuffle_key = jax.random.fold_in(inputs.order_root, SHUFFLE)
        limit = jnp.minimum(c.epoch + n_epochs, t.epochs)
        # a poisoned sample's image in epoch e is row i of placement e mod placements
        n_place = data.train_trig.shape[0]

        def epoch_body(c: _ImageCarry) -> _ImageCarry:
            perm = jax.random.permutation(jax.random.fold_in(shuffle_key, c.epoch), n_train)
            batches = perm[: steps * t.batch_size].reshape(steps, t.batch_size)
            place = c.epoch % n_place

            def sgd_step(carry, idx):
                p, s, bad = carry
                x = data.train_x[idx]
                if poisoned:  # two gathers of one batch, never a stacked copy of the images
                    x = jnp.where(mask[idx][:, None], data.train_trig[place, idx], x)
                loss, g = grad(p, _to_float(x), labels[idx])
                return unguarded_update(network_optimiser(inputs), loss, g, p, s, bad), loss

            (p, s, bad), losses = jax.lax.scan(
                sgd_step, (c.params, c.opt_state, jnp.zeros((), bool)), batches)
            val, _ = evaluate(p, data.test_x, data.test_y)
            # a diverged epoch is undone: back to the parameters it started from
            p, s, failed = epoch_guard(bad, p, s, c.params, c.opt_state)
            return _ImageCarry(p, s, c.epoch + 1, failed,
                               c.train_hist.at[c.epoch].set(losses.mean()),
                               c.val_hist.at[c.epoch].set(val), c.snaps)

        # the snapshot slots are written between epochs (Recorder.loop), not carried
        return recorder.loop(lambda c: (c.epoch < limit) & ~c.failed, epoch_body, c)

    def finish(inputs: NetworkInputs, data, c: _ImageCarry) -> ImageTrainResult:
        mask, _ = poison(inputs, data)
        val, pred = evaluate(c.params, data.test_x, data.test_y)
        _, pred_trig = evaluate(c.params, data.test_trig, data.test_y)
        asr = jnp.mean(pred_trig == poison_target(data.test_y, N_LABELS))
        clean = jnp.mean(pred == data.test_y)
        last = jnp.maximum(c.epoch - 1, 0)
        if recorder.on and n_probe:  # the fixed sample of test images, clean then triggered
            idx = jnp.asarray(image_probe_index(spec, data.test_x.shape[0]))
            probe_x = _to_float(jnp.concatenate([data.test_x[idx], data.test_trig[idx]]))
        else:
            probe_x = jnp.zeros((0, widths[0]), jnp.float32)
        snaps, reached, outputs = recorder.finish(
            c.snaps, c.params, c.epoch - c.failed.astype(jnp.int32),
            lambda p: apply_mlp(p, probe_x, widths), c.params.size,
            (probe_x.shape[0], widths[-1]))
        return ImageTrainResult(
            params=c.params, failed=c.failed, stopped_early=jnp.zeros((), bool),
            epochs=c.epoch, train_loss=c.train_hist, val_loss=c.val_hist,
            final_train_loss=c.train_hist[last], final_val_loss=val,
            clean_accuracy=clean, attack_success_rate=asr,
            backdoor_took=asr >= spec.asr_threshold,
            learnt=~c.failed & spec.is_learnt({"clean_accuracy": clean,
                                               "attack_success_rate": asr}),
            poisoned_samples=jnp.sum(mask).astype(jnp.int32),
            snapshot_params=snaps, snapshot_reached=reached, probe_outputs=outputs)

    def active(c: _ImageCarry) -> jax.Array:
        return (c.epoch < t.epochs) & ~c.failed

    return TaskParts(init, segment, finish, active)
