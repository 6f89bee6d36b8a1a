"""Per-network random keys and inputs: pure functions of (spec, network index)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from mlds_jax.spec import (
    DatasetSpec,
    network_grid_index,
    network_learning_rates,
    network_seeds,
)

# Fixed stream ids: fold_in(network_key, STREAM) gives each use its own key.
INIT, TRAIN_DATA, VAL_DATA, SHUFFLE, RESTART = 0, 1, 2, 3, 4
# Domains of the roots drawn from a spec's seeds (``init_seeds``, ``order_seeds``):
# ``fold_in(PRNGKey(seed), DOMAIN)``, so an init seed and an order seed of equal value differ.
INIT_SEED_DOMAIN, ORDER_SEED_DOMAIN = 0x696E6974, 0x6F726472  # "init", "ordr"


def init_key(network_key: jax.Array, attempt: jax.Array | int = 0) -> jax.Array:
    """The key that initialises attempt ``attempt`` (0: the first run; k > 0: the k-th
    restart, ``TrainSpec.max_restarts``) of the network with key ``network_key``."""
    first = jax.random.fold_in(network_key, INIT)
    again = jax.random.fold_in(jax.random.fold_in(network_key, RESTART), attempt)
    return jnp.where(jnp.asarray(attempt) == 0, first, again)


class NetworkInputs(NamedTuple):
    """What varies per network; every field has a leading ``[n_models]`` axis in a block."""

    key: jax.Array  # uint32 [2]: raw PRNG key data
    class_id: jax.Array  # int32 []
    learning_rate: jax.Array  # float32 []
    grid_index: jax.Array  # int32 []: position in the spec's grid (replicate % k; 0: none)
    # uint32 [2]: the root of the INIT and RESTART streams: ``key``, or drawn from the
    # network's init seed alone when the spec sets ``init_seeds``
    init_root: jax.Array
    # uint32 [2]: the root of the SHUFFLE stream (and DS1-DS3's TRAIN_DATA and VAL_DATA):
    # ``key``, or drawn from the network's order seed alone when the spec sets ``order_seeds``
    order_root: jax.Array


def network_index_parts(spec: DatasetSpec, indices) -> tuple[np.ndarray, np.ndarray]:
    """Global network indices ``[n]`` -> ``(class_id, replicate)``, each int ``[n]``."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= spec.n_networks):
        raise IndexError(f"network indices must lie in [0, {spec.n_networks}); got {idx}")
    return idx // spec.per_class, idx % spec.per_class


def network_keys(spec: DatasetSpec, indices) -> np.ndarray:
    """uint32 ``[n, 2]`` keys: PRNGKey(seed) folded with the spec digest, class and replicate.

    ``per_class`` is not in the digest, so network (class c, replicate r) has the same key in
    every size of a dataset.
    """
    cls, rep = network_index_parts(spec, indices)
    root = jax.random.fold_in(jax.random.PRNGKey(spec.seed), int(spec.digest[:8], 16))

    def one(c, r):
        return jax.random.fold_in(jax.random.fold_in(root, c), r)

    keys = jax.vmap(one)(jnp.asarray(cls, jnp.uint32), jnp.asarray(rep, jnp.uint32))
    return np.asarray(keys, dtype=np.uint32)


def seed_roots(seeds, domain: int) -> np.ndarray:
    """uint32 ``[n, 2]``: ``fold_in(PRNGKey(seed), domain)`` for each of ``seeds`` ``[n]``
    (a function of the seed alone: no spec digest, class or index)."""
    s = jnp.asarray(np.asarray(seeds, np.int64).astype(np.uint32))
    keys = jax.vmap(lambda x: jax.random.fold_in(jax.random.PRNGKey(x), domain))(s)
    return np.asarray(keys, dtype=np.uint32).reshape(-1, 2)


def network_roots(spec: DatasetSpec, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint32 ``[n, 2]`` each: ``(key, init_root, order_root)`` of networks ``indices``; a
    root is the network key unless the spec sets that seed (``mlds_jax.spec._seeds``)."""
    _, rep = network_index_parts(spec, indices)
    key = network_keys(spec, indices)
    seeds = network_seeds(spec, rep)
    init = seed_roots(seeds["init_seed"], INIT_SEED_DOMAIN) if "init_seed" in seeds else key
    order = (seed_roots(seeds["order_seed"], ORDER_SEED_DOMAIN) if "order_seed" in seeds
             else key)
    return key, init, order


def network_inputs(spec: DatasetSpec, indices) -> NetworkInputs:
    """Builds the per-network input arrays for global network ``indices`` ``[n]``."""
    cls, rep = network_index_parts(spec, indices)
    key, init, order = network_roots(spec, indices)
    return NetworkInputs(
        key=jnp.asarray(key),
        class_id=jnp.asarray(cls, jnp.int32),
        learning_rate=jnp.asarray(network_learning_rates(spec, cls, rep), jnp.float32),
        grid_index=jnp.asarray(network_grid_index(spec, rep), jnp.int32),
        init_root=jnp.asarray(init),
        order_root=jnp.asarray(order),
    )
