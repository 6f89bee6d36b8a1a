"""Training-input curriculum for the address (TrainSpec.class_address_curriculum) and fresh
training data per epoch (TrainSpec.fresh_train_data): the data mixture's properties,
determinism, validation and round trips (two tiny 2-epoch runs, no long training)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlds_jax.errors import SpecError
from mlds_jax.spec import DatasetSpec, TrainSpec, ds1, ds3, load_spec_file
from mlds_jax.tasks import address_mask, get_machine, make_sequences, simulate
from mlds_jax.train import (
    curriculum_stage,
    fresh_data_classes,
    make_train,
    make_train_parts,
    network_inputs,
    training_address_cells,
)

CUR = {"EightBitMachine": [2, 4, 8]}
# the DS1 recipe itself sets the curriculum, its stages, fresh data, a cosine step for
# EightBit and restarts: these tests start from the recipe without them
PLAIN = dict(class_address_curriculum=None, fresh_train_data=None, lr_schedule=None,
             address_curriculum_stages=None, max_restarts=None)


def _ds1(per_class, **kw):
    return ds1(per_class, **{**PLAIN, **kw})


def _addresses(x):
    """float ``[..., 5]`` inputs -> int addresses ``[...]`` (bits 2..4)."""
    b = np.asarray(x).astype(int)
    return b[..., 2] + 2 * b[..., 3] + 4 * b[..., 4]


def test_address_mask_keeps_low_address_bits():
    mask = np.asarray(address_mask(jnp.array([1, 2, 4, 8]), 5))[:, 0]
    np.testing.assert_array_equal(mask, [[1, 1, 0, 0, 0], [1, 1, 1, 0, 0],
                                         [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])


def test_restricted_sequences_stay_in_their_cells_and_follow_the_machine():
    m = get_machine("EightBitMachine")
    ns, out = jnp.asarray(m.next_state), jnp.asarray(m.output)
    cells = jnp.asarray(np.resize([1, 2, 4, 8], 400))
    key = jax.random.PRNGKey(3)
    x, y = make_sequences(key, ns, out, 400, 16, 5, 1, cells)
    a = _addresses(x)
    assert (a < np.asarray(cells)[:, None]).all()
    for k in (2, 4, 8):  # every allowed cell is used
        assert set(np.unique(a[np.asarray(cells) == k])) == set(range(k))
    assert 0.45 < float(np.asarray(x)[..., :2].mean()) < 0.55  # we and d stay fair
    sym = jax.vmap(simulate, in_axes=(None, None, 0))(ns, out, x.astype(jnp.int32))
    np.testing.assert_array_equal(np.asarray(y)[..., 0], np.asarray(sym))
    # 8 cells everywhere is exactly the unrestricted draw
    full = make_sequences(key, ns, out, 400, 16, 5, 1, jnp.full((400,), 8))
    plain = make_sequences(key, ns, out, 400, 16, 5, 1)
    for p, q in zip(full, plain):
        np.testing.assert_array_equal(np.asarray(p), np.asarray(q))


def test_tables_cycle_per_class():
    spec = ds1(2, class_address_curriculum=CUR, fresh_train_data=["EightBitMachine"])
    table = training_address_cells(spec)[0]  # the default recipe's first stage
    assert table.shape == (5, spec.train.n_train)
    eb = spec.classes.index("EightBitMachine")
    np.testing.assert_array_equal(table[eb, :6], [2, 4, 8, 2, 4, 8])
    assert (np.delete(table, eb, axis=0) == 8).all()
    np.testing.assert_array_equal(fresh_data_classes(spec), np.arange(5) == eb)
    assert training_address_cells(_ds1(2)) is None and fresh_data_classes(_ds1(2)) is None


def test_stages_drop_the_smallest_cells_in_turn():
    spec = ds1(2, class_address_curriculum=CUR, address_curriculum_stages=[0.25, 0.5],
               max_epochs=100)
    assert spec.train.curriculum_stage_epochs() == (25, 50)
    table = training_address_cells(spec)
    assert table.shape == (3, 5, spec.train.n_train)
    eb = spec.classes.index("EightBitMachine")
    np.testing.assert_array_equal(table[0, eb, :6], [2, 4, 8, 2, 4, 8])
    np.testing.assert_array_equal(table[1, eb, :4], [4, 8, 4, 8])
    assert (table[2] == 8).all() and (np.delete(table, eb, axis=1) == 8).all()
    # a curriculum keeps its last entry however many stages pass
    short = ds1(2, class_address_curriculum={"EightBitMachine": [4]},
                address_curriculum_stages=[0.5, 0.75])
    assert (training_address_cells(short)[:, eb] == 4).all()
    epochs = jnp.arange(100)
    np.testing.assert_array_equal(np.asarray(jax.vmap(lambda e: curriculum_stage(spec, e))(
        epochs)), (np.arange(100) >= 25).astype(int) + (np.arange(100) >= 50))


def test_a_stage_changes_the_data_from_its_epoch_on():
    """No fresh data: the EightBit set is the same draw, re-masked from the stage's epoch.
    Epoch 0 runs the same program on the same data as without stages (equal losses); epoch
    1 (the stage at 0.5 of 2 epochs) trains on [8]-cell sequences instead of [2]."""
    kw = dict(**SMALL, class_address_curriculum={"EightBitMachine": [2, 8]})
    static, staged = _ds1(2, **kw), _ds1(2, **kw, address_curriculum_stages=[0.5])
    inputs = network_inputs(static, np.array([2]))  # the same EightBit network in both
    a, b = _run(static, inputs), _run(staged, inputs)
    assert a[0][0, 0] == b[0][0, 0] and a[0][0, 1] != b[0][0, 1]
    # without stages, the same spec trains as before (the field is left out of the dict)
    assert "address_curriculum_stages" not in static.to_dict()["train"]
    assert staged.digest != static.digest
    assert DatasetSpec.from_dict(staged.to_dict()) == staged


def test_segments_across_stage_boundaries_equal_a_whole_run():
    """Refill and checkpoints split a run into segments: with stages at epochs 1 and 2 of 3,
    splits [1, 1, 1] and [2, 5] (the last one past the cap) give the whole run's bits."""
    spec = _ds1(2, **{**SMALL, "max_epochs": 3}, class_address_curriculum=CUR,
                address_curriculum_stages=[0.3, 0.6], fresh_train_data=["EightBitMachine"])
    assert spec.train.curriculum_stage_epochs() == (1, 2)
    parts = make_train_parts(spec)
    inputs = jax.tree.map(lambda a: a[0], network_inputs(spec, np.array([2])))
    run = jax.jit(parts.segment)  # one program: the segment length is traced
    whole = parts.finish(inputs, run(inputs, parts.init(inputs), jnp.int32(3)))
    for split in ((1, 1, 1), (2, 5)):
        state = parts.init(inputs)
        for n in split:
            state = run(inputs, state, jnp.int32(n))
        pieces = parts.finish(inputs, state)
        for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(pieces)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _run(spec, inputs):
    r = jax.jit(jax.vmap(make_train(spec)))(inputs)
    return np.asarray(r.train_loss), np.asarray(r.params)


SMALL = dict(max_epochs=2, n_train=32, n_val=8)


def test_runs_are_a_pure_function_of_spec_and_index():
    fresh = _ds1(2, **SMALL, class_address_curriculum=CUR, fresh_train_data=["EightBitMachine"])
    a = _run(fresh, network_inputs(fresh, np.array([2, 3])))  # EightBit replicates 0, 1
    b = _run(fresh, network_inputs(fresh, np.array([3])))
    np.testing.assert_array_equal(a[0][1], b[0][0])
    np.testing.assert_array_equal(a[1][1], b[1][0])


def test_only_the_named_classes_change():
    plain = _ds1(2, **SMALL)
    inputs = network_inputs(plain, np.array([2]))  # one EightBit network, same key in each
    other = _ds1(2, **SMALL, class_address_curriculum={"ParityMachine": [2]},
                fresh_train_data=["ParityMachine"])
    base = _run(plain, inputs)
    for p, q in zip(base, _run(other, inputs)):  # EightBit not named: same run
        np.testing.assert_array_equal(p, q)
    for named in (_ds1(2, **SMALL, class_address_curriculum=CUR),
                  _ds1(2, **SMALL, fresh_train_data=["EightBitMachine"])):
        assert not np.array_equal(_run(named, inputs)[0], base[0])


def test_unset_fields_keep_dicts_and_digests():
    d = _ds1(3).to_dict()["train"]
    assert "class_address_curriculum" not in d and "fresh_train_data" not in d
    spec = _ds1(3, class_address_curriculum=CUR, fresh_train_data=["EightBitMachine"])
    assert spec.digest != _ds1(3).digest
    assert spec.train.class_address_curriculum == (("EightBitMachine", (2, 4, 8)),)
    back = DatasetSpec.from_dict(spec.to_dict())
    assert back == spec and hash(back) == hash(spec)


def test_toml_round_trip(tmp_path):
    p = tmp_path / "eb.toml"
    p.write_text('name = "eb"\nclasses = ["EightBitMachine", "ParityMachine"]\n'
                 'per_class = 2\n[train]\nfresh_train_data = ["EightBitMachine"]\n'
                 'class_address_curriculum = {EightBitMachine = [1, 2, 4, 8]}\n')
    spec = load_spec_file(p)
    assert spec.train.address_curriculum_stages is None
    assert spec.train.class_address_curriculum == (("EightBitMachine", (1, 2, 4, 8)),)
    p.write_text(p.read_text() + "address_curriculum_stages = [0.4, 0.8]\n")
    assert load_spec_file(p).train.curriculum_stage_epochs() == (160, 320)  # 400 epochs
    assert spec.train.fresh_train_data == ("EightBitMachine",)


@pytest.mark.parametrize("kwargs, match", [
    (dict(class_address_curriculum={"EightBitMachine": [3]}), r"cell counts from"),
    (dict(class_address_curriculum={"EightBitMachine": []}), r"cell counts from"),
    (dict(class_address_curriculum={"EightBitMachine": [True]}), r"cell counts from"),
    (dict(class_address_curriculum=[("EightBitMachine",)]), r"\(class name, cells\) pairs"),
    (dict(class_address_curriculum=(("EightBitMachine", (2,)), ("EightBitMachine", (4,)))),
     r"each class at most once"),
    (dict(fresh_train_data=[]), r"non-empty list of distinct class names"),
    (dict(address_curriculum_stages=[0.5]), r"set together with class_address_curriculum"),
    (dict(class_address_curriculum=CUR, address_curriculum_stages=[0.5, 0.9], max_epochs=2),
     r"the last one rounds to epoch 2 and would never be reached"),
    *((dict(class_address_curriculum=CUR, address_curriculum_stages=v),
       r"increasing list of fractions of max_epochs in \(0, 1\)")
      for v in ([], [0.5, 0.5], [0.6, 0.3], [0.0], [1.0], ["0.5"], 0.5, [True])),
    (dict(fresh_train_data="EightBitMachine"), r"non-empty list of distinct class names"),
])
def test_train_spec_refuses(kwargs, match):
    with pytest.raises(SpecError, match=match):
        TrainSpec(**kwargs)


def test_dataset_spec_refuses_unknown_classes_and_ds3():
    with pytest.raises(SpecError, match=r"`TrainSpec.class_address_curriculum`: expected names"):
        ds1(2, class_address_curriculum={"Nope": [2]})
    with pytest.raises(SpecError, match=r"`TrainSpec.fresh_train_data`: expected names"):
        ds1(2, fresh_train_data=["Nope"])
    with pytest.raises(SpecError, match=r"DS1 input encoding"):
        ds3(1, class_address_curriculum={"Automaton000": [2]})


def test_cosine_schedule_starts_at_the_rate_and_then_decays():
    small = dict(max_epochs=2, n_train=32, n_val=8)  # one step per epoch
    const, cos = _ds1(2, **small), _ds1(2, **small, lr_schedule="cosine")
    assert "lr_schedule" not in const.to_dict()["train"]
    assert DatasetSpec.from_dict(cos.to_dict()) == cos and cos.digest != const.digest
    inputs = network_inputs(const, np.array([0]))  # the same network under both recipes
    rc, rs = (jax.jit(jax.vmap(make_train(s)))(inputs) for s in (const, cos))
    # step 0 takes the full rate (same losses before and after it); step 1 a decayed one
    np.testing.assert_allclose(np.asarray(rc.train_loss), np.asarray(rs.train_loss), rtol=1e-6)
    assert not np.allclose(np.asarray(rc.params), np.asarray(rs.params), rtol=0, atol=1e-7)
    with pytest.raises(SpecError, match=r"`TrainSpec.lr_schedule`: expected one of"):
        TrainSpec(lr_schedule="linear")
