"""Learning-rate grids as a zoo dimension: which value each network gets, validation, and
round trips through TOML files and stored spec dicts (no training here)."""

import numpy as np
import pytest

from mlds_jax.errors import SpecError
from mlds_jax.spec import (
    DatasetSpec,
    DenseTrainSpec,
    ImageDatasetSpec,
    TrainSpec,
    ds1,
    ds3,
    ds4,
    grid_labels,
    load_spec_file,
    network_learning_rates,
    select_spec,
    spec_grids,
)
from mlds_jax.train import network_inputs

GRID = (0.003, 0.01, 0.03)


def test_each_class_cycles_over_the_grid_by_replicate():
    spec = ds1(4, learning_rate_grid=GRID)
    assert spec.train.class_learning_rates is None  # the grid replaces the Parity rate
    lr = np.asarray(network_inputs(spec, np.arange(spec.n_networks)).learning_rate)
    np.testing.assert_array_equal(lr, np.tile(np.float32([0.003, 0.01, 0.03, 0.003]), 5))
    # a pure function of (spec, network): any subset of indices gives the same values
    some = np.array([19, 2, 7])
    np.testing.assert_array_equal(network_inputs(spec, some).learning_rate, lr[some])
    cls, rep = some // 4, some % 4
    np.testing.assert_array_equal(network_learning_rates(spec, cls, rep), lr[some])
    np.testing.assert_array_equal(grid_labels(lr, GRID), np.tile([0, 1, 2, 0], 5))
    assert spec_grids(spec) == {"learning_rate": list(GRID)}
    assert spec_grids(ds1(4)) == {}


def test_ds4_grid_cycles_over_networks():
    spec = ds4("MNISTclean", 5, image_set="digits", learning_rate_grid=(1e-3, 3e-3))
    lr = np.asarray(network_inputs(spec, np.arange(5)).learning_rate)
    np.testing.assert_array_equal(lr, np.float32([1e-3, 3e-3, 1e-3, 3e-3, 1e-3]))
    assert ImageDatasetSpec.from_dict(spec.to_dict()) == spec


def test_no_grid_keeps_dicts_and_digests():
    for spec in (ds1(3), ds3(1), ds4("MNISTbadnet_alpha10", 4)):
        assert "learning_rate_grid" not in spec.to_dict()["train"]
    with_grid = ds1(3, learning_rate_grid=GRID)
    assert with_grid.to_dict()["train"]["learning_rate_grid"] == list(GRID)
    assert with_grid.digest != ds1(3).digest
    back = DatasetSpec.from_dict(with_grid.to_dict())
    assert back == with_grid and hash(back) == hash(with_grid)


@pytest.mark.parametrize("kwargs, match", [
    (dict(learning_rate_grid=()), r"`TrainSpec.learning_rate_grid`: expected a non-empty list"),
    (dict(learning_rate_grid=0.01), r"`TrainSpec.learning_rate_grid`: expected a non-empty"),
    (dict(learning_rate_grid=(0.01, -1.0)),
     r"`TrainSpec.learning_rate_grid\[1\]`: expected a rate finite and non-zero"),
    (dict(learning_rate_grid=(0.01, True)), r"`TrainSpec.learning_rate_grid\[1\]`"),
    (dict(learning_rate_grid=(0.01, 0.01)), r"expected distinct rates"),
    (dict(learning_rate_grid=(0.01,), class_learning_rates=(("ParityMachine", 0.1),)),
     r"`TrainSpec.learning_rate_grid`: cannot be combined with class_learning_rates"),
])
def test_bad_grids_are_refused_in_one_line(kwargs, match):
    with pytest.raises(SpecError, match=match) as e:
        TrainSpec(**kwargs)
    assert "\n" not in str(e.value)


def test_dense_grid_is_validated():
    with pytest.raises(SpecError, match=r"`DenseTrainSpec.learning_rate_grid\[0\]`"):
        DenseTrainSpec(learning_rate_grid=(float("nan"),))


def test_toml_round_trip(tmp_path):
    p = tmp_path / "grid.toml"
    p.write_text('name = "zoo"\nclasses = ["SingleDirectMachine", "ParityMachine"]\n'
                 "per_class = 4\n[train]\nlearning_rate_grid = [0.003, 0.01]\n")
    spec = load_spec_file(p)
    assert spec.train.learning_rate_grid == (0.003, 0.01)
    assert DatasetSpec.from_dict(spec.to_dict()) == spec
    p.write_text('task = "image"\nname = "dz"\nimage_set = "digits"\nn_networks = 4\n'
                 "[train]\nlearning_rate_grid = [0.001, 0.003]\n")
    assert load_spec_file(p).train.learning_rate_grid == (0.001, 0.003)


def test_select_spec_refuses_ambiguous_flags(tmp_path):
    spec = select_spec("ds2", 3, learning_rate_grid=GRID)
    assert spec.train.learning_rate_grid == GRID and spec.train.class_learning_rates is None
    with pytest.raises(SpecError, match="`learning_rate_grid`: cannot be combined with "
                                        "`learning_rate`"):
        select_spec("ds1", 3, learning_rate=0.1, learning_rate_grid=GRID)
    p = tmp_path / "s.toml"
    p.write_text('name = "zoo"\nclasses = ["ParityMachine"]\nper_class = 2\n'
                 "[train]\nclass_learning_rates = {ParityMachine = 0.003}\n")
    with pytest.raises(SpecError, match="sets train.class_learning_rates"):
        select_spec(spec_file=p, learning_rate_grid=GRID)
