"""Random input sequences and their target outputs for one network."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mlds_jax.tasks._machines import simulate


def make_sequences(
    key: jax.Array,
    next_state: jax.Array,
    output: jax.Array,
    n_seq: int,
    seq_len: int,
    input_bits: int,
    output_bits: int,
) -> tuple[jax.Array, jax.Array]:
    """Draws i.i.d. fair input bits and runs the machine on them.

    Args:
      key: PRNG key of this network's data stream.
      next_state, output: int32 ``[n_states, n_inputs]`` tables of one machine.

    Returns:
      ``(inputs, targets)``: float32 ``[n_seq, time, input_bits]`` and
      float32 ``[n_seq, time, output_bits]``, values 0/1.
    """
    bits = jax.random.bernoulli(key, 0.5, (n_seq, seq_len, input_bits)).astype(jnp.int32)
    syms = jax.vmap(simulate, in_axes=(None, None, 0))(next_state, output, bits)
    shifts = jnp.arange(output_bits, dtype=jnp.int32).reshape(1, 1, output_bits)
    out = (syms[..., None] >> shifts) & 1
    return bits.astype(jnp.float32), out.astype(jnp.float32)
