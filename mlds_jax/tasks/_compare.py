"""Comparing two machines over the same encoding (for DS2's documented edits)."""

from __future__ import annotations

import numpy as np

from mlds_jax.tasks._machines import MealyMachine


def table_diff(a: MealyMachine, b: MealyMachine) -> list[tuple[int, int]]:
    """``(state, symbol)`` entries where next state or output differ (same state numbering)."""
    if a.next_state.shape != b.next_state.shape:
        raise ValueError(f"table shapes differ: {a.next_state.shape} vs {b.next_state.shape}")
    diff = (a.next_state != b.next_state) | (a.output != b.output)
    return [(int(s), int(x)) for s, x in zip(*np.nonzero(diff))]


def disagreement(a: MealyMachine, b: MealyMachine, n_seq: int = 2000, seq_len: int = 16,
                 seed: int = 0) -> dict[str, float]:
    """How often two machines disagree on i.i.d. fair input bits.

    Returns:
      ``{"sequences": share of sequences with any differing output bit,
      "bits": share of differing output bits}``.
    """
    rng = np.random.default_rng(seed)
    seqs = rng.integers(0, 2, (n_seq, seq_len, a.input_bits))
    oa = np.stack([a.run(s) for s in seqs])
    ob = np.stack([b.run(s) for s in seqs])
    differ = oa != ob
    return {"sequences": float(differ.reshape(n_seq, -1).any(1).mean()),
            "bits": float(differ.mean())}
