import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlds_jax.errors import SpecError, UnknownDatasetError
from mlds_jax.tasks import DS1_MACHINES, MealyMachine, get_machine, simulate, stack_tables


def _fields(bits):
    we, d = int(bits[0]), int(bits[1])
    a = int(bits[2]) + 2 * int(bits[3]) + 4 * int(bits[4])
    return we, d, a


# Independent, plain-Python statements of each machine's documented semantics.
def ref_single_direct(seq):
    s, out = 0, []
    for b in seq:
        we, d, _ = _fields(b)
        s = d if we else s
        out.append(s)
    return out


def ref_single_invert(seq):
    return [1 - o for o in ref_single_direct(seq)]


def ref_simple_xor(seq):
    s, out = 0, []
    for b in seq:
        we, d, _ = _fields(b)
        out.append(s ^ d)
        s = d if we else s
    return out


def ref_parity(seq):
    p, out = 0, []
    for b in seq:
        we, d, _ = _fields(b)
        p ^= d & we
        out.append(p)
    return out


def ref_eight_bit(seq):
    mem, out = [0] * 8, []
    for b in seq:
        we, d, a = _fields(b)
        if we:
            mem[a] = d
        out.append(mem[a])
    return out


REFS = {
    "SingleDirectMachine": ref_single_direct,
    "SingleInvertMachine": ref_single_invert,
    "SimpleXORMachine": ref_simple_xor,
    "ParityMachine": ref_parity,
    "EightBitMachine": ref_eight_bit,
}


def test_five_ds1_machines():
    assert set(DS1_MACHINES) == set(REFS)


@pytest.mark.parametrize("name", sorted(REFS))
def test_tables_match_reference_semantics(name):
    m = get_machine(name)
    rng = np.random.default_rng(0)
    seqs = rng.integers(0, 2, (50, 40, 5))
    for seq in seqs:
        assert m.run(seq)[:, 0].tolist() == REFS[name](seq)


@pytest.mark.parametrize("name", sorted(REFS))
def test_jax_simulate_equals_numpy_run(name):
    m = get_machine(name)
    seqs = np.random.default_rng(1).integers(0, 2, (20, 30, 5))
    jax_out = jax.jit(jax.vmap(simulate, in_axes=(None, None, 0)))(
        jnp.asarray(m.next_state), jnp.asarray(m.output), jnp.asarray(seqs))
    np.testing.assert_array_equal(np.asarray(jax_out), [m.run(s)[:, 0] for s in seqs])


def test_simulate_vmaps_over_machines_with_padding():
    machines = [get_machine(n) for n in DS1_MACHINES]
    ns, out = stack_tables(machines)
    assert ns.shape == (5, 256, 32)
    seq = np.random.default_rng(2).integers(0, 2, (25, 5))
    got = jax.vmap(simulate, in_axes=(0, 0, None))(jnp.asarray(ns), jnp.asarray(out), seq)
    for k, m in enumerate(machines):
        np.testing.assert_array_equal(np.asarray(got[k]), m.run(seq)[:, 0])


def test_worked_examples_from_docs():
    # we, d, a for each step; the sequences printed in docs/machines.md.
    steps = [(1, 1, 0), (0, 0, 3), (1, 0, 3), (0, 1, 0), (1, 1, 5), (0, 0, 5)]
    bits = np.array([[we, d, a & 1, (a >> 1) & 1, (a >> 2) & 1] for we, d, a in steps])
    expect = {
        "SingleDirectMachine": [1, 1, 0, 0, 1, 1],
        "SingleInvertMachine": [0, 0, 1, 1, 0, 0],
        "SimpleXORMachine": [1, 1, 1, 1, 1, 1],
        "ParityMachine": [1, 1, 1, 1, 0, 0],
        "EightBitMachine": [1, 0, 0, 1, 1, 1],
    }
    for name, out in expect.items():
        assert get_machine(name).run(bits)[:, 0].tolist() == out, name


def test_eight_bit_has_all_256_states_reachable():
    m = get_machine("EightBitMachine")
    seen, frontier = {0}, [0]
    while frontier:
        s = frontier.pop()
        for t in m.next_state[s]:
            if int(t) not in seen:
                seen.add(int(t))
                frontier.append(int(t))
    assert len(seen) == 256


def test_unknown_machine_names_known_ones():
    with pytest.raises(UnknownDatasetError, match="unknown machine 'Nope'.*ParityMachine"):
        get_machine("Nope")


def test_bad_tables_rejected():
    with pytest.raises(SpecError, match="next_state: expected shape"):
        MealyMachine("x", np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(SpecError, match="states out of range"):
        MealyMachine("x", np.full((2, 32), 5), np.zeros((2, 32)))


def test_every_input_symbol_used_by_eight_bit():
    m = get_machine("EightBitMachine")
    # Each address bit matters: flipping it changes some output from some state.
    for bit in (2, 3, 4):
        differs = any(
            m.output[s, sym] != m.output[s, sym ^ (1 << bit)]
            for s, sym in itertools.product(range(256), range(32))
        )
        assert differs
