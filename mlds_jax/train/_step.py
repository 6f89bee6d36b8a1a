"""The optimiser step shared by every trainer and its NaN guard, taken once per epoch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def _all_finite(tree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


# A cosine schedule ends at this fraction of the network's rate.
COSINE_FLOOR = 0.05


def network_optimiser(inputs, decay_steps: int | None = None) -> optax.GradientTransformation:
    """ONE network's optimiser: Adam with the network's own step size
    (``inputs.learning_rate``, float32 [], a per-network input, so a sweep of learning rates
    never recompiles). The rate enters here only; it is not stored in the optimiser state.

    ``decay_steps``: ``None`` keeps the rate constant; else it follows a cosine from the rate
    down to ``COSINE_FLOOR`` times it over that many steps (``TrainSpec.lr_schedule =
    "cosine"``; the step count then lives in the optimiser state)."""
    if decay_steps is None:
        return _standard_promotion(optax.adam(inputs.learning_rate))
    return _standard_promotion(optax.adam(optax.cosine_decay_schedule(
        inputs.learning_rate, decay_steps, alpha=COSINE_FLOOR)))


def _standard_promotion(tx: optax.GradientTransformation) -> optax.GradientTransformation:
    """``tx`` whose update is traced under JAX's standard dtype promotion, whatever the
    caller's setting: optax's Adam raises a Python float to its int32 step count
    (``decay**count``), which ``jax_numpy_dtype_promotion="strict"`` (the test suite's
    setting) refuses. The traced operations, and so the floats, are the same."""

    def update(updates, state, params=None):
        with jax.numpy_dtype_promotion("standard"):
            return tx.update(updates, state, params)

    return optax.GradientTransformation(tx.init, update)


def unguarded_update(optimiser: optax.GradientTransformation, loss: jax.Array, grads,
                     params, opt_state, bad: jax.Array):
    """One optimiser step for ONE network, always taken; ``bad`` (bool ``[]``) accumulates
    whether a loss of the epoch so far was not finite. The only per-step cost of the NaN
    guard is that scalar: the parameters are checked, and a diverged network restored, once
    per epoch by :func:`epoch_guard`.

    Returns:
      ``(params, opt_state, bad)``.
    """
    updates, opt_state = optimiser.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, bad | ~jnp.isfinite(loss)


def epoch_guard(bad: jax.Array, params, opt_state, start_params, start_opt_state):
    """The NaN guard at the end of ONE network's epoch: the epoch is kept if ``bad`` (from
    :func:`unguarded_update`, or any other non-finite value the trainer checked) is False
    and every parameter is finite; otherwise the network has failed and its parameters and
    optimiser state go back to ``start_params`` / ``start_opt_state``, their values when the
    epoch began (inside ``jit`` a diverging network is masked, never raised on; steps after
    its first non-finite loss are discarded with the rest of the epoch).

    Returns:
      ``(params, opt_state, failed)``, ``failed`` bool ``[]``: this epoch diverged.
    """
    ok = ~bad & _all_finite(params)
    params = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), params, start_params)
    opt_state = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), opt_state,
                                       start_opt_state)
    return params, opt_state, ~ok
