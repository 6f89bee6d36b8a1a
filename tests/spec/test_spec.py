import dataclasses

import pytest

from mlds_jax.errors import SpecError, UnknownDatasetError
from mlds_jax.spec import DatasetSpec, GRUSpec, TrainSpec, ds1, get_recipe


def test_round_trip_through_dict():
    spec = ds1(100, seed=7, max_epochs=50)
    assert DatasetSpec.from_dict(spec.to_dict()) == spec
    assert hash(spec) == hash(DatasetSpec.from_dict(spec.to_dict()))


def test_digest_ignores_size_only():
    assert ds1(100).digest == ds1(500).digest
    assert ds1(100).digest != ds1(100, seed=1).digest
    assert ds1(100).digest != ds1(100, learning_rate=0.1).digest


@pytest.mark.parametrize("kwargs, match", [
    (dict(learning_rate=-0.1), r"`TrainSpec.learning_rate`: expected > 0, got -0.1"),
    (dict(batch_size=0), r"`TrainSpec.batch_size`: expected a positive integer, got 0"),
    (dict(n_train=100, batch_size=32), r"`TrainSpec.n_train`: expected a multiple of"),
    (dict(stop_val_loss=-1.0), r"`TrainSpec.stop_val_loss`: expected >= 0"),
])
def test_train_spec_errors_name_the_field(kwargs, match):
    with pytest.raises(SpecError, match=match):
        TrainSpec(**kwargs)


def test_dataset_spec_errors():
    with pytest.raises(SpecError, match=r"`DatasetSpec.per_class`: expected a positive integer"):
        ds1(0)
    with pytest.raises(SpecError, match=r"`GRUSpec.head\[1\]`"):
        GRUSpec(head=(3, -1))
    with pytest.raises(SpecError, match="distinct"):
        DatasetSpec("x", ("A", "A"), 1)


def test_from_dict_unknown_field():
    d = ds1(10).to_dict()
    d["train"]["lr"] = 1.0
    with pytest.raises(SpecError, match=r"`TrainSpec.lr`: unknown field"):
        DatasetSpec.from_dict(d)


def test_specs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds1(10).per_class = 3


def test_unknown_recipe():
    with pytest.raises(UnknownDatasetError, match="unknown dataset 'DS7'"):
        get_recipe("DS7")
    assert get_recipe("DS1") is ds1


def test_digest_ignores_unset_optional_fields():
    import hashlib
    import json

    d = ds1(10).to_dict()
    assert d["automata"] is None
    d.pop("per_class")
    d.pop("automata")  # as a spec written before the field existed
    d.pop("learnt_bit_accuracy")  # likewise (and it only judges networks: never in a digest)
    legacy = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()
    assert ds1(10).digest == legacy


def test_ds1_ds2_recipe_is_the_measured_one():
    # docs/machines.md "Learnt share at the default recipe" was measured with these values
    from mlds_jax.spec import ds2, ds3
    from mlds_jax.spec._recipes import PARITY_LEARNING_RATE

    assert PARITY_LEARNING_RATE == 3e-3
    for spec, parity in ((ds1(4), "ParityMachine"), (ds2(4), "ParityModified")):
        t = spec.train
        assert t.learning_rate == 0.01 and t.max_epochs == 600 and t.n_train == 1024
        assert t.class_learning_rates == ((parity, 3e-3),)
        eightbit = spec.classes[1]
        assert eightbit.startswith("EightBit") and t.lr_schedule == "cosine"
        assert t.class_address_curriculum == ((eightbit, (2, 4, 8)),)
        assert t.fresh_train_data == spec.classes  # every class: fresh sequences each epoch
        assert t.address_curriculum_stages == (1 / 12, 1 / 6)
        assert t.curriculum_stage_epochs() == (50, 100)
        assert [t.learning_rate_for(c) for c in spec.classes] == [3e-3] + [0.01] * 4
    # DS3 keeps TrainSpec's own defaults but redraws every automaton's sequences each epoch
    spec3 = ds3(1)
    assert spec3.train == TrainSpec(fresh_train_data=spec3.classes)
    over = ds1(4, max_epochs=7, learning_rate=0.02)
    assert over.train.learning_rate_for("ParityMachine") == 3e-3
    assert over.train.learning_rate_for("EightBitMachine") == 0.02
    assert DatasetSpec.from_dict(over.to_dict()) == over
    assert hash(DatasetSpec.from_dict(over.to_dict())) == hash(over)


def test_class_learning_rates_accepts_a_table_and_reaches_each_network():
    import numpy as np

    from mlds_jax.train import network_inputs

    spec = ds1(2, class_learning_rates={"EightBitMachine": 0.5})
    assert spec.train.class_learning_rates == (("EightBitMachine", 0.5),)
    lr = np.asarray(network_inputs(spec, np.arange(10)).learning_rate)
    np.testing.assert_allclose(lr, [0.01, 0.01, 0.5, 0.5] + [0.01] * 6)
    assert ds1(2).digest != ds1(2, class_learning_rates=None).digest


@pytest.mark.parametrize("value, match", [
    ((("ParityMachine", -1.0),), r"`TrainSpec.class_learning_rates\['ParityMachine'\]`: "
                                 r"expected a rate finite and non-zero"),
    ((("ParityMachine", 0.1), ("ParityMachine", 0.2)), "each class at most once"),
    (("ParityMachine",), r"expected \(class name, rate\) pairs"),
])
def test_class_learning_rates_errors_name_the_field(value, match):
    with pytest.raises(SpecError, match=match):
        TrainSpec(class_learning_rates=value)


def test_class_learning_rates_must_name_a_class():
    with pytest.raises(SpecError, match=r"`TrainSpec.class_learning_rates`: expected names "
                                        r"among the dataset's classes.*\['Parity'\]"):
        ds1(2, class_learning_rates={"Parity": 0.1})
