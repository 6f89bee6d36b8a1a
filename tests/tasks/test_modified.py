import itertools

import numpy as np
import pytest

from mlds_jax.tasks import DS2_MACHINES, TRIGGERS, disagreement, get_machine, table_diff


def _sym(we, d, a):
    return we | (d << 1) | ((a & 1) << 2) | (((a >> 1) & 1) << 3) | (((a >> 2) & 1) << 4)


@pytest.mark.parametrize("name", DS2_MACHINES)
def test_modified_differs_only_on_its_trigger_symbol(name):
    base_name, trigger, _ = TRIGGERS[name]
    base, mod = get_machine(base_name), get_machine(name)
    diff = table_diff(base, mod)
    assert diff, "the edit must change something"
    assert {x for _, x in diff} == {_sym(*trigger)}


def test_exact_edits():
    t = _sym(0, 1, 7)
    d, dm = get_machine("SingleDirectMachine"), get_machine("SingleDirectModified")
    assert table_diff(d, dm) == [(0, t), (1, t)]
    assert dm.output[0, t] == 1 and dm.output[1, t] == 0
    p, pm = get_machine("ParityMachine"), get_machine("ParityModified")
    t = _sym(1, 1, 7)
    assert p.next_state[0, t] == 1 and pm.next_state[0, t] == 0
    assert pm.output[1, t] == 1
    e, em = get_machine("EightBitMachine"), get_machine("EightBitModified")
    changed = table_diff(e, em)
    # every state where cell 7 was 0 (writing 1 would set it) changes; cell 7 = 1 states are
    # unreachable in the modified machine and unchanged (writing 1 keeps 1).
    assert len(changed) == 128


def test_eight_bit_modified_cell_7_stuck_at_zero():
    em = get_machine("EightBitModified")
    seq = [(1, 1, 7), (0, 0, 7), (1, 1, 3), (0, 0, 3)]
    bits = np.array([[we, d, a & 1, (a >> 1) & 1, (a >> 2) & 1] for we, d, a in seq])
    assert em.run(bits)[:, 0].tolist() == [0, 0, 1, 1]
    assert get_machine("EightBitMachine").run(bits)[:, 0].tolist() == [1, 1, 1, 1]


@pytest.mark.parametrize("name", DS2_MACHINES)
def test_machines_disagree_rarely_but_really(name):
    r = disagreement(get_machine(TRIGGERS[name][0]), get_machine(name), n_seq=400)
    assert 0.0 < r["bits"] < 0.25
    assert 0.0 < r["sequences"] < 1.0


def test_disagreement_is_zero_for_identical():
    m = get_machine("ParityMachine")
    assert disagreement(m, m, n_seq=50) == {"sequences": 0.0, "bits": 0.0}


def test_all_names_distinct():
    names = list(itertools.chain(DS2_MACHINES, TRIGGERS))
    assert len(set(DS2_MACHINES)) == 5 and set(names) == set(DS2_MACHINES)


@pytest.mark.parametrize("pair, seq, ds1_out, ds2_out", [
    ("SingleDirect", [(1, 1, 0), (0, 1, 7)], [1, 1], [1, 0]),
    ("SingleInvert", [(1, 1, 0), (0, 1, 7)], [0, 0], [0, 1]),
    ("SimpleXOR", [(1, 1, 0), (1, 0, 7)], [1, 1], [1, 0]),
    ("Parity", [(1, 1, 7), (0, 0, 0)], [1, 1], [0, 0]),
    ("EightBit", [(1, 1, 7), (0, 0, 7)], [1, 1], [0, 0]),
])
def test_documented_disagreement_examples(pair, seq, ds1_out, ds2_out):
    bits = np.array([[we, d, a & 1, (a >> 1) & 1, (a >> 2) & 1] for we, d, a in seq])
    assert get_machine(f"{pair}Machine").run(bits)[:, 0].tolist() == ds1_out
    assert get_machine(f"{pair}Modified").run(bits)[:, 0].tolist() == ds2_out
