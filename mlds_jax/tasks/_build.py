"""The machines of a dataset spec, in class order."""

from __future__ import annotations

from mlds_jax.spec import DatasetSpec
from mlds_jax.tasks._automata import random_automata
from mlds_jax.tasks._machines import MealyMachine, get_machine


def build_machines(spec: DatasetSpec) -> list[MealyMachine]:
    """Built-in machines by name, or the spec's random automata (DS3)."""
    if spec.automata is not None:
        return random_automata(spec.automata)
    return [get_machine(c) for c in spec.classes]
