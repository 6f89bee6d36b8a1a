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
    legacy = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()
    assert ds1(10).digest == legacy


def test_ds1_ds2_recipe_is_the_measured_one():
    # docs/machines.md "Learnt share at the default recipe" was measured with these values
    from mlds_jax.spec import ds2, ds3
    from mlds_jax.spec._recipes import DS1_TRAIN

    for spec in (ds1(4), ds2(4)):
        assert spec.train == DS1_TRAIN
        assert spec.train.learning_rate == 3e-3 and spec.train.max_epochs == DS1_TRAIN.max_epochs
    assert ds3(1).train == TrainSpec()  # DS3 keeps TrainSpec's own defaults
    over = ds1(4, max_epochs=7)
    assert over.train == dataclasses.replace(DS1_TRAIN, max_epochs=7)
    assert DatasetSpec.from_dict(over.to_dict()) == over
