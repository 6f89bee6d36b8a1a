"""DS4 poison fraction grids as a zoo dimension: which fraction each network gets,
validation, refusals, round trips and unchanged digests (no training here)."""

import dataclasses

import numpy as np
import pytest

from mlds_jax.errors import SpecError
from mlds_jax.spec import (
    DenseTrainSpec,
    ImageDatasetSpec,
    PoisonSpec,
    ds4,
    grid_labels,
    load_spec_file,
    network_poison_fractions,
    select_spec,
    spec_grids,
    stored_grids,
)
from mlds_jax.train import network_inputs

GRID = (0.05, 0.2, 0.3)


def _spec(n=5, grid=GRID, **kw):
    return ds4("MNISTbadnet_alpha10", n, image_set="digits", poison_fraction_grid=grid, **kw)


def test_network_i_takes_value_i_mod_k():
    spec = _spec(5)
    want = np.float32([0.05, 0.2, 0.3, 0.05, 0.2])
    np.testing.assert_array_equal(network_poison_fractions(spec, np.arange(5)), want)
    inputs = network_inputs(spec, np.arange(5))
    np.testing.assert_array_equal(inputs.grid_index, [0, 1, 2, 0, 1])
    # a pure function of (spec, network): any subset gives the same values
    np.testing.assert_array_equal(network_inputs(spec, [4, 1]).grid_index, [1, 1])
    np.testing.assert_array_equal(grid_labels(want, GRID), [0, 1, 2, 0, 1])
    assert spec_grids(spec) == stored_grids(spec.to_dict()) == {"poison_fraction": list(GRID)}
    assert spec.eval_trigger == PoisonSpec("badnet", "alpha", 0.1)  # the trigger, no grid
    # without a grid: the fraction (0 when clean), grid index 0
    plain = ds4("MNISTbadnet_alpha10", 3)
    np.testing.assert_array_equal(network_poison_fractions(plain, np.arange(3)),
                                  np.float32(0.1))
    np.testing.assert_array_equal(network_inputs(plain, np.arange(3)).grid_index, 0)
    assert spec_grids(plain) == {} and stored_grids(plain.to_dict()) == {}


def test_no_grid_keeps_dicts_and_digests():
    # digests of specs without a grid, pinned from before poison fraction grids existed
    pinned = {"MNISTbadnet_alpha10": "923a266802338b01c9313cb2c910533f"
                                     "0ddc9c3ae7b33d47dbb47fdceeafb784",
              "MNISTclean": "27ac216be1d7618878ec1fd3cb01946b118ea59b128c7726dbc6f33fa18e12cc",
              "MNISTbadnetv2_rr20": "7bf239f3868363cad74d159b1b190e74"
                                    "b0e6c7aba56393ae96336545ba06f8f5"}
    for name, digest in pinned.items():  # the network of those days: one hidden layer of 32,
        # one trigger placement per poisoned sample
        kw = dict(widths=(784, 32, 10), placements=1)
        d = ds4(name, 4, **kw).to_dict()
        assert ds4(name, 4, **kw).digest == digest, name
        assert "fraction_grid" not in (d["poison"] or {}) and "fraction_grid" not in \
            d["eval_trigger"]
    spec = _spec()
    d = spec.to_dict()
    assert d["poison"]["fraction_grid"] == list(GRID) and "fraction_grid" not in \
        d["eval_trigger"]
    assert spec.digest != dataclasses.replace(spec, poison=spec.eval_trigger).digest
    back = ImageDatasetSpec.from_dict(d)
    assert back == spec and hash(back) == hash(spec)


@pytest.mark.parametrize("grid, match", [
    ((), r"`PoisonSpec.fraction_grid`: expected a non-empty list of fractions"),
    (0.1, r"`PoisonSpec.fraction_grid`: expected a non-empty list"),
    ((0.1, 0.6), r"`PoisonSpec.fraction_grid\[1\]`: expected a share in \(0, 0.5\], got 0.6"),
    ((0.0, 0.1), r"`PoisonSpec.fraction_grid\[0\]`: expected a share in \(0, 0.5\]"),
    ((0.1, True), r"`PoisonSpec.fraction_grid\[1\]`"),
    ((0.1, float("nan")), r"`PoisonSpec.fraction_grid\[1\]`"),
    ((0.1, 0.1), r"`PoisonSpec.fraction_grid`: expected distinct fractions"),
])
def test_bad_grids_are_refused_in_one_line(grid, match):
    with pytest.raises(SpecError, match=match) as e:
        PoisonSpec(fraction_grid=grid)
    assert "\n" not in str(e.value)


def test_refused_combinations():
    with pytest.raises(SpecError, match=r"`PoisonSpec.fraction_grid`: cannot be combined with "
                                        r"train.learning_rate_grid"):
        dataclasses.replace(_spec(), train=DenseTrainSpec(learning_rate_grid=(1e-3, 3e-3)))
    with pytest.raises(SpecError, match=r"`ImageDatasetSpec.eval_trigger`: expected a trigger "
                                        "without fraction_grid"):
        ImageDatasetSpec("z", "digits", 2, poison=PoisonSpec(),
                         eval_trigger=PoisonSpec(fraction_grid=(0.1,)))
    with pytest.raises(SpecError, match="MNISTclean is a clean dataset"):
        ds4("MNISTclean", 2, poison_fraction_grid=GRID)


def test_select_spec_and_its_refusals(tmp_path):
    spec = select_spec("MNISTbadnetv2_rr10", 4, image_set="digits", poison_fraction_grid=GRID)
    assert spec.poison.fraction_grid == GRID and spec.poison.trigger == "rr"
    for kw, match in [
        (dict(dataset="ds1", per_class=2), "ds1 is a sequence dataset"),
        (dict(dataset="MNISTclean", per_class=2), "MNISTclean is a clean dataset"),
        (dict(dataset="MNISTbadnet_alpha10", per_class=2, learning_rate_grid=(1e-3, 3e-3)),
         "cannot be combined with a learning-rate grid"),
    ]:
        with pytest.raises(SpecError, match=f"`poison_fraction_grid`: {match}") as e:
            select_spec(**kw, poison_fraction_grid=GRID)
        assert "\n" not in str(e.value)


def test_toml_round_trip(tmp_path):
    p = tmp_path / "pg.toml"
    p.write_text('task = "image"\nname = "pz"\nimage_set = "digits"\nn_networks = 4\n'
                 "[poison]\nkind = \"badnet\"\ntrigger = \"alpha\"\n"
                 "fraction_grid = [0.05, 0.25]\n")
    spec = load_spec_file(p)
    assert spec.poison.fraction_grid == (0.05, 0.25)
    assert ImageDatasetSpec.from_dict(spec.to_dict()) == spec


def test_prepared_counts_have_one_row_per_grid_value():
    pytest.importorskip("sklearn")
    from mlds_jax.tasks._images import load_images, prepare_images

    spec = _spec(3)
    arrays = load_images(spec)
    counts = np.bincount(arrays["train_labels"], minlength=10)
    data = prepare_images(spec, arrays)
    assert data.poison_per_label.shape == (3, 10)
    for row, f in zip(data.poison_per_label, GRID):
        np.testing.assert_array_equal(row, np.round(counts * f))
    plain = prepare_images(ds4("MNISTbadnet_alpha10", 3, image_set="digits"), arrays)
    np.testing.assert_array_equal(plain.poison_per_label, [np.round(counts * 0.1)])
