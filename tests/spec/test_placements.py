"""``PoisonSpec.placements``: trigger placements per poisoned sample (badnetv2)."""

import dataclasses

import numpy as np
import pytest

from mlds_jax.errors import SpecError
from mlds_jax.spec import ImageDatasetSpec, PoisonSpec, ds4, select_spec
from mlds_jax.tasks._triggers import triggered_copies, triggered_copy


def test_default_is_left_out_so_digests_stay_and_a_count_round_trips():
    spec = ds4("MNISTbadnetv2_alpha10", 4, placements=1)
    assert "placements" not in spec.to_dict()["poison"]
    assert "placements" not in ds4("MNISTbadnet_alpha10", 4).to_dict()["poison"]
    more = dataclasses.replace(spec, poison=dataclasses.replace(spec.poison, placements=4))
    assert more.to_dict()["poison"]["placements"] == 4
    assert more.digest != spec.digest
    assert ImageDatasetSpec.from_dict(more.to_dict()) == more
    # the ASR is measured with one placement per test image, whatever the training count
    assert more.eval_trigger.placements == 1 and "placements" not in more.to_dict()["eval_trigger"]


@pytest.mark.parametrize("kw, match", [
    (dict(kind="badnet", placements=2), "1 for kind 'badnet'"),
    (dict(placements=0), r"an integer in \[1, 32\]"),
    (dict(placements=33), r"an integer in \[1, 32\]"),
    (dict(placements=2.0), r"an integer in \[1, 32\]"),
])
def test_bad_counts_are_refused(kw, match):
    with pytest.raises(SpecError, match=f"PoisonSpec.placements.*{match}") as e:
        PoisonSpec(**kw)
    assert "\n" not in str(e.value)


def test_an_eval_trigger_with_placements_is_refused():
    with pytest.raises(SpecError, match="ImageDatasetSpec.eval_trigger"):
        dataclasses.replace(ds4("MNISTclean", 2), eval_trigger=PoisonSpec(placements=3))


def test_placement_zero_is_the_single_copy_and_the_others_move_only_the_trigger():
    rng = np.random.default_rng(0)
    imgs = np.zeros((200, 28, 28), np.uint8)
    imgs[:, 8:20, 10:18] = rng.integers(1, 256, (200, 12, 8))  # an object in the middle
    copies = triggered_copies(imgs, "badnetv2", "alpha", seed=5, placements=3)
    assert copies.shape == (3, 200, 28, 28)
    np.testing.assert_array_equal(copies[0], triggered_copy(imgs, "badnetv2", "alpha", 5))
    for k in range(3):
        np.testing.assert_array_equal(copies[k][:, 8:20, 10:18], imgs[:, 8:20, 10:18])
        assert ((copies[k] != imgs).reshape(200, -1).sum(1) == 7).all()  # the 7 alpha pixels
    moved = [(copies[0][i] != copies[k][i]).any() for k in (1, 2) for i in range(200)]
    assert np.mean(moved) > 0.9


def test_the_badnetv2_recipe_shows_a_fresh_placement_every_epoch():
    assert ds4("MNISTbadnetv2_rr05", 2).poison.placements == 20  # the recipe's 20 epochs
    assert ds4("MNISTbadnetv2_alpha10", 2, epochs=3).poison.placements == 3
    assert ds4("MNISTbadnetv2_alpha10", 2, epochs=50).poison.placements == 32  # the cap
    assert ds4("MNISTbadnet_alpha10", 2).poison.placements == 1  # one fixed place
    # the command line's epoch cap sizes them the same way
    assert select_spec("MNISTbadnetv2_rr05", 2, max_epochs=7).poison.placements == 7
    with pytest.raises(SpecError, match="`placements`: MNISTclean is a clean dataset"):
        ds4("MNISTclean", 2, placements=2)
    assert ds4("MNISTclean", 2, placements=1) == ds4("MNISTclean", 2)  # 1 fits every name
    # the command line: --placements, refused where nothing is poisoned
    assert select_spec("MNISTbadnetv2_rr05", 2, placements=3).poison.placements == 3
    with pytest.raises(SpecError, match="`placements`: MNISTclean poisons nothing"):
        select_spec("MNISTclean", 2, placements=3)
    with pytest.raises(SpecError, match="PoisonSpec.placements"):
        select_spec("MNISTbadnet_alpha10", 2, placements=3)


def test_a_store_begun_with_one_placement_says_how_to_resume_it(tmp_path):
    pytest.importorskip("sklearn")  # the embedded digits
    from mlds_jax.errors import StoreError
    from mlds_jax.pipeline import generate

    def spec(placements):
        return dataclasses.replace(
            ds4("MNISTbadnetv2_alpha10", 1, image_set="digits", epochs=2,
                placements=placements), widths=(784, 4, 10))

    out = tmp_path / "old.zarr"
    generate(spec(1), out, block_size=1, progress=False)
    before = sorted(p.name for p in out.rglob("*"))
    with pytest.raises(StoreError, match="poison.placements: store has <missing>, requested 2"
                                         ".*resume it as it was begun with `placements` 1"):
        generate(spec(2), out, block_size=1, progress=False)
    assert sorted(p.name for p in out.rglob("*")) == before
