"""The NaN-guarded optimiser step shared by every trainer."""

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
        return optax.adam(inputs.learning_rate)
    return optax.adam(optax.cosine_decay_schedule(inputs.learning_rate, decay_steps,
                                                  alpha=COSINE_FLOOR))


def guarded_update(optimiser: optax.GradientTransformation, loss: jax.Array, grads,
                   params, opt_state, failed: jax.Array):
    """One optimiser step for ONE network that is taken only if the loss and the new
    parameters are finite and the network has not failed before; otherwise the parameters
    and optimiser state stay as they were and the network is marked failed (inside ``jit``
    one diverging network is masked, never raised on).

    Returns:
      ``(params, opt_state, failed)``.
    """
    updates, new_opt = optimiser.update(grads, opt_state, params)
    new_params = optax.apply_updates(params, updates)
    ok = jnp.isfinite(loss) & _all_finite(new_params) & ~failed
    params = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new_params, params)
    opt_state = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new_opt, opt_state)
    return params, opt_state, failed | ~ok
