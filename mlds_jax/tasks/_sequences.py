"""Random input sequences and their target outputs for one network."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mlds_jax.tasks._machines import ADDR, simulate


def address_mask(address_cells: jax.Array, input_bits: int) -> jax.Array:
    """Per-sequence input masks that keep each sequence's address in its first cells.

    Args:
      address_cells: int ``[n_seq]``: sequence ``j`` may address cells ``0 ..
        address_cells[j] - 1`` only (a power of two in 1..8; 8 keeps every address).
      input_bits: width of the input bit vector (5, the DS1 encoding, whose bits 2..4 are the
        address).

    Returns:
      int32 ``[n_seq, 1, input_bits]``: 1 keeps an input bit, 0 clears it (address bit ``q``
      is kept iff ``2**q < address_cells[j]``, so a fair address becomes a fair address
      over the first ``address_cells[j]`` cells; every other bit is kept).
    """
    cells = jnp.asarray(address_cells, jnp.int32)[:, None]
    keep = [jnp.ones_like(cells) for _ in range(input_bits)]
    for q, bit in enumerate(ADDR):
        if bit < input_bits:
            keep[bit] = (cells > (1 << q)).astype(jnp.int32)
    return jnp.stack(keep, axis=-1)


def make_sequences(
    key: jax.Array,
    next_state: jax.Array,
    output: jax.Array,
    n_seq: int,
    seq_len: int,
    input_bits: int,
    output_bits: int,
    address_cells: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Draws i.i.d. fair input bits and runs the machine on them.

    Args:
      key: PRNG key of this network's data stream.
      next_state, output: int32 ``[n_states, n_inputs]`` tables of one machine.
      address_cells: optional int ``[n_seq]``: restrict sequence ``j`` to addresses below
        ``address_cells[j]`` (see :func:`address_mask`; the training-input curriculum of
        ``TrainSpec.class_address_curriculum``). ``None``, or 8 everywhere, draws exactly
        the unrestricted sequences.

    Returns:
      ``(inputs, targets)``: float32 ``[n_seq, time, input_bits]`` and
      float32 ``[n_seq, time, output_bits]``, values 0/1.
    """
    bits = jax.random.bernoulli(key, 0.5, (n_seq, seq_len, input_bits)).astype(jnp.int32)
    if address_cells is not None:
        bits = bits * address_mask(address_cells, input_bits)
    syms = jax.vmap(simulate, in_axes=(None, None, 0))(next_state, output, bits)
    shifts = jnp.arange(output_bits, dtype=jnp.int32).reshape(1, 1, output_bits)
    out = (syms[..., None] >> shifts) & 1
    return bits.astype(jnp.float32), out.astype(jnp.float32)
