"""epoch_cap_note: what a store's caps below its recipe's mean (the demo's summary line)."""

import types

import pytest

from mlds_jax.store import epoch_cap_note


def _store(name: str, **train):
    return types.SimpleNamespace(attrs={"spec": {"name": name, "train": train}},
                                 task="sequence")


@pytest.mark.parametrize("train, expected", [
    ({"max_epochs": 100, "max_restarts": 0},  # make demo's DS1
     "Trained with an epoch cap of 100; the ds1 recipe's is 600. Trained with no restarts of "
     "a network unlearnt at the cap; the recipe allows 2. Classes that learn slowly have "
     "lower learnt shares than the recipe gives."),
    ({"max_epochs": 600, "max_restarts": 1},
     "Trained with 1 restart of a network unlearnt at the cap; the recipe allows 2. Classes "
     "that learn slowly have lower learnt shares than the recipe gives."),
    ({"max_epochs": 600, "max_restarts": 2}, None),
    ({"max_epochs": 900, "max_restarts": 3}, None),  # above the recipe: nothing to explain
])
def test_the_note_names_each_cap_below_the_recipe(train, expected):
    assert epoch_cap_note(_store("ds1", **train)) == expected


def test_a_name_without_a_recipe_has_no_note():
    assert epoch_cap_note(_store("my-own-zoo", max_epochs=5)) is None
