"""DS4 trainer: dense networks on one shared image set, each with its own data order and
its own stratified poison subset; ``jit(vmap(train))`` over a block of networks."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from mlds_jax.models import apply_mlp, init_mlp
from mlds_jax.spec import ImageDatasetSpec
from mlds_jax.train._chunk import chunked_vmap, resolve_chunk
from mlds_jax.train._keys import INIT, SHUFFLE, TRAIN_DATA, NetworkInputs

N_LABELS = 10


class ImageTrainResult(NamedTuple):
    params: jax.Array  # float32 [n_params]
    failed: jax.Array  # bool []
    stopped_early: jax.Array  # bool []: always False (DS4 trains a fixed number of epochs)
    epochs: jax.Array  # int32 []
    train_loss: jax.Array  # float32 [epochs]: mean train loss per epoch
    val_loss: jax.Array  # float32 [epochs]: clean test loss after each epoch
    final_train_loss: jax.Array  # float32 []
    final_val_loss: jax.Array  # float32 []
    clean_accuracy: jax.Array  # float32 []: accuracy on the clean test set
    attack_success_rate: jax.Array  # float32 []: triggered test images classified (y+1) mod 10
    backdoor_took: jax.Array  # bool []: attack_success_rate >= spec.asr_threshold
    poisoned_samples: jax.Array  # int32 []: poisoned training samples this network saw


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


def make_image_train(spec: ImageDatasetSpec, n_train: int):
    """Returns ``train(inputs, data) -> ImageTrainResult`` for ONE network; ``data`` is the
    shared :class:`~mlds_jax.tasks.ImageData` (passed, not closed over, so it is never baked
    into the program as a constant)."""
    t, widths = spec.train, spec.widths
    steps = n_train // t.batch_size
    optimiser = optax.inject_hyperparams(optax.adam)(learning_rate=t.learning_rate)

    def loss_fn(p, x, y):
        logits = apply_mlp(p, x, widths)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    grad = jax.value_and_grad(loss_fn)

    def evaluate(p, x, y):
        logits = apply_mlp(p, _to_float(x), widths)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, jnp.argmax(logits, -1)

    def train(inputs: NetworkInputs, data) -> ImageTrainResult:
        key = inputs.key
        params = init_mlp(jax.random.fold_in(key, INIT), widths)
        opt_state = optimiser.init(params)
        opt_state.hyperparams["learning_rate"] = inputs.learning_rate
        mask = poison_mask(jax.random.fold_in(key, TRAIN_DATA), data.train_y,
                           data.poison_per_label)
        labels = jnp.where(mask, (data.train_y + 1) % N_LABELS, data.train_y)

        def sgd_step(c, idx):
            p, s, failed = c
            x = jnp.where(mask[idx][:, None], data.train_trig[idx], data.train_x[idx])
            loss, g = grad(p, _to_float(x), labels[idx])
            u, s_new = optimiser.update(g, s, p)
            p_new = optax.apply_updates(p, u)
            ok = jnp.isfinite(loss) & jnp.all(jnp.isfinite(p_new)) & ~failed
            p = jnp.where(ok, p_new, p)
            s = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), s_new, s)
            return (p, s, failed | ~ok), loss

        def epoch(c, e):
            perm = jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, SHUFFLE),
                                                             e), n_train)
            batches = perm[: steps * t.batch_size].reshape(steps, t.batch_size)
            c, losses = jax.lax.scan(sgd_step, c, batches)
            val, _ = evaluate(c[0], data.test_x, data.test_y)
            return c, (losses.mean(), val)

        (params, _, failed), (tr_hist, val_hist) = jax.lax.scan(
            epoch, (params, opt_state, jnp.zeros((), bool)), jnp.arange(t.epochs))
        val, pred = evaluate(params, data.test_x, data.test_y)
        _, pred_trig = evaluate(params, data.test_trig, data.test_y)
        asr = jnp.mean(pred_trig == (data.test_y + 1) % N_LABELS)
        return ImageTrainResult(
            params=params, failed=failed, stopped_early=jnp.zeros((), bool),
            epochs=jnp.asarray(t.epochs, jnp.int32), train_loss=tr_hist, val_loss=val_hist,
            final_train_loss=tr_hist[-1], final_val_loss=val,
            clean_accuracy=jnp.mean(pred == data.test_y), attack_success_rate=asr,
            backdoor_took=asr >= spec.asr_threshold,
            poisoned_samples=jnp.sum(mask).astype(jnp.int32))

    return train


@functools.lru_cache(maxsize=8)
def _compiled(spec: ImageDatasetSpec, n_train: int, chunk: int | None):
    return jax.jit(chunked_vmap(make_image_train(spec, n_train), in_axes=(0, None),
                                chunk=chunk))


def make_image_block_trainer(spec: ImageDatasetSpec, data, data_sharding=None,
                             chunk: int | None | str = "auto"):
    """``inputs [n_models] -> ImageTrainResult [n_models]`` with ``data`` placed on the
    device(s) once and shared by every block (``data_sharding``: e.g. replicated over the
    coordinator's ``models`` mesh; default: the default device).

    ``chunk``: networks evaluated together inside a block (:func:`chunked_vmap`); ``"auto"``
    is :func:`default_chunk` (8 on a single CPU device, the whole block at once otherwise,
    so a block sharded over several devices is never chunked), ``None`` the whole block.
    """
    data = jax.device_put(data, data_sharding)
    f = _compiled(spec, int(data.train_y.shape[0]), resolve_chunk(chunk))
    return ImageBlockTrainer(f, data)


class ImageBlockTrainer(NamedTuple):
    """``trainer(inputs)`` trains a block; ``jitted(inputs, data)`` is the compiled function
    (for ahead-of-time lowering) and ``data`` the device-resident image set."""

    jitted: object
    data: object

    def __call__(self, inputs: NetworkInputs) -> ImageTrainResult:
        return self.jitted(inputs, self.data)
