"""DS3: seeded random automata that are reachable, minimal and pairwise distinct."""

from __future__ import annotations

import numpy as np

from mlds_jax.errors import SpecError
from mlds_jax.spec import AutomataSpec
from mlds_jax.tasks._machines import MealyMachine


def reachable(next_state: np.ndarray) -> set[int]:
    """States reachable from state 0."""
    seen, frontier = {0}, [0]
    while frontier:
        for t in next_state[frontier.pop()]:
            if int(t) not in seen:
                seen.add(int(t))
                frontier.append(int(t))
    return seen


def equivalence_classes(next_state: np.ndarray, output: np.ndarray) -> np.ndarray:
    """Mealy-machine state equivalence by partition refinement (Moore's algorithm).

    Returns:
      int ``[n_states]``: a block label per state; two states are equivalent (no input
      sequence tells them apart) iff their labels are equal.
    """
    labels = _relabel([tuple(row) for row in output])
    while True:
        keys = [(labels[s], *labels[next_state[s]]) for s in range(len(labels))]
        new = _relabel(keys)
        if new.max() == labels.max():
            return new
        labels = new


def _relabel(keys: list) -> np.ndarray:
    index: dict = {}
    return np.array([index.setdefault(k, len(index)) for k in keys])


def is_minimal(next_state: np.ndarray, output: np.ndarray) -> bool:
    """True when no two states of the machine are equivalent."""
    return len(set(equivalence_classes(next_state, output).tolist())) == len(next_state)


def canonical_form(next_state: np.ndarray, output: np.ndarray) -> bytes:
    """States renumbered in breadth-first order from 0 (symbols in order). Two reachable,
    minimal machines behave the same iff their canonical forms are equal."""
    order, pos = [0], {0: 0}
    for s in order:
        for t in next_state[s]:
            if int(t) not in pos:
                pos[int(t)] = len(order)
                order.append(int(t))
    ns = np.array([[pos[int(t)] for t in next_state[s]] for s in order], np.int32)
    out = output[order].astype(np.int32)
    return ns.tobytes() + b"|" + out.tobytes()


def random_automata(spec: AutomataSpec, max_tries: int = 100_000) -> list[MealyMachine]:
    """Draws ``spec.n_automata`` automata, deterministically from ``spec.seed``.

    Rejection sampling: a draw is kept only if every state is reachable from 0, no two states
    are equivalent, every state's output row is not constant across all states (the output
    depends on the state), and its canonical form differs from all kept automata.
    """
    rng = np.random.default_rng([spec.seed, 0x44533])
    n_in, n_out = 2**spec.input_bits, 2**spec.output_bits
    kept, forms = [], set()
    for _ in range(max_tries):
        if len(kept) == spec.n_automata:
            break
        n = int(rng.integers(spec.min_states, spec.max_states + 1))
        ns = rng.integers(0, n, (n, n_in)).astype(np.int32)
        out = rng.integers(0, n_out, (n, n_in)).astype(np.int32)
        if len(reachable(ns)) != n or not is_minimal(ns, out):
            continue
        form = canonical_form(ns, out)
        if form in forms:
            continue
        forms.add(form)
        name = f"Automaton{len(kept):03d}"
        kept.append(MealyMachine(name, ns, out, input_bits=spec.input_bits,
                                 output_bits=spec.output_bits,
                                 description=f"random automaton, {n} states"))
    if len(kept) < spec.n_automata:
        raise SpecError(f"`AutomataSpec`: found only {len(kept)} distinct minimal automata "
                        f"in {max_tries} draws; allow more states or input bits")
    return kept
