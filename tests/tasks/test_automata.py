import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlds_jax.errors import SpecError
from mlds_jax.spec import AutomataSpec, DatasetSpec, ds3
from mlds_jax.tasks import (
    build_machines,
    canonical_form,
    equivalence_classes,
    is_minimal,
    random_automata,
    reachable,
)


def _outputs(ns, out, start, seq):
    s, res = start, []
    for x in seq:
        res.append(int(out[s, x]))
        s = ns[s, x]
    return tuple(res)


def _brute_equivalent(ns, out, a, b):
    """States a, b equivalent iff no input sequence of length <= n tells them apart."""
    n, k = ns.shape
    for length in range(1, n + 1):
        for seq in itertools.product(range(k), repeat=length):
            if _outputs(ns, out, a, seq) != _outputs(ns, out, b, seq):
                return False
    return True


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 5).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.integers(0, n - 1), min_size=2 * n, max_size=2 * n),
    st.lists(st.integers(0, 1), min_size=2 * n, max_size=2 * n))))
def test_equivalence_matches_brute_force(args):
    n, ns, out = args
    ns = np.array(ns).reshape(n, 2)
    out = np.array(out).reshape(n, 2)
    labels = equivalence_classes(ns, out)
    for a in range(n):
        for b in range(a + 1, n):
            assert (labels[a] == labels[b]) == _brute_equivalent(ns, out, a, b)


def test_non_minimal_and_unreachable_detected():
    # states 1 and 2 behave identically
    ns = np.array([[1, 2], [1, 2], [1, 2]])
    out = np.array([[0, 1], [1, 0], [1, 0]])
    assert not is_minimal(ns, out)
    assert reachable(np.array([[0, 0], [1, 0]])) == {0}


def test_generator_is_deterministic_and_valid():
    spec = AutomataSpec(n_automata=100, seed=4)
    a, b = random_automata(spec), random_automata(spec)
    assert len(a) == 100
    forms = set()
    for m1, m2 in zip(a, b):
        np.testing.assert_array_equal(m1.next_state, m2.next_state)
        np.testing.assert_array_equal(m1.output, m2.output)
        assert spec.min_states <= m1.n_states <= spec.max_states
        assert len(reachable(m1.next_state)) == m1.n_states
        assert is_minimal(m1.next_state, m1.output)
        forms.add(canonical_form(m1.next_state, m1.output))
    assert len(forms) == 100  # pairwise distinct behaviour
    other = random_automata(AutomataSpec(n_automata=100, seed=5))
    assert any(not np.array_equal(x.output, y.output) or x.n_states != y.n_states
               for x, y in zip(a, other))


def test_canonical_form_is_relabelling_invariant():
    m = random_automata(AutomataSpec(n_automata=1, min_states=5, max_states=5))[0]
    perm = np.array([0, 3, 1, 4, 2])  # keep the start state 0
    inv = np.argsort(perm)
    ns = perm[m.next_state[inv]]
    out = m.output[inv]
    assert canonical_form(ns, out) == canonical_form(m.next_state, m.output)


def test_impossible_request_is_a_clear_error():
    # 2 states, 1 input bit, 1 output bit: far fewer than 500 distinct minimal machines
    with pytest.raises(SpecError, match="found only"):
        random_automata(AutomataSpec(n_automata=500, min_states=2, max_states=2,
                                     input_bits=1), max_tries=20_000)


def test_ds3_spec_builds_its_automata():
    spec = ds3(2)
    ms = build_machines(spec)
    assert [m.name for m in ms] == list(spec.classes)
    assert ms[0].input_bits == spec.model.input_size
    assert DatasetSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(SpecError, match="DatasetSpec.classes"):
        DatasetSpec("x", ("A",), 1, automata=AutomataSpec(n_automata=2))
