"""The recipe overrides, one table: what :func:`~mlds_jax.spec.with_overrides` and
:func:`~mlds_jax.spec.select_spec` take as keywords and the command line offers as flags."""

from __future__ import annotations

import dataclasses
from typing import Any

from mlds_jax.errors import SpecError


@dataclasses.dataclass(frozen=True)
class Override:
    """One override of a recipe.

    Attributes:
      field: the keyword of ``with_overrides`` / ``select_spec``; library errors name it
        in backquotes (`max_epochs`), which the command line shows as ``flag``.
      type: the types its value may have (checked before anything else is).
      flag: the ``mlds-jax generate`` / ``plan`` flag that sets it.
      doc: what it replaces.
    """

    field: str
    type: tuple[type, ...]
    flag: str
    doc: str


_SEQ = (tuple, list)
SPEC_OVERRIDES: tuple[Override, ...] = (
    Override("max_epochs", (int,), "--max-epochs",
             "the recipe's epoch cap (DS4: its fixed number of epochs)"),
    Override("learning_rate", (int, float), "--learning-rate", "every network's rate"),
    Override("max_restarts", (int,), "--max-restarts",
             "the restart limit of a sequence recipe (0: none)"),
    Override("learning_rate_grid", _SEQ, "--learning-rate-grid",
             "a grid of rates as a zoo dimension (not with `learning_rate`)"),
    Override("poison_fraction_grid", _SEQ, "--poison-fraction-grid",
             "a grid of poison fractions (DS4 badnet datasets)"),
    Override("placements", (int,), "--placements",
             "a poisoned DS4 dataset's trigger placements per poisoned sample"),
    Override("snapshot_epochs", (tuple, list, str), "--snapshots",
             "the epochs whose weights the store keeps ('none': none)"),
    Override("probes", (int,), "--probes", "the probe inputs recorded at each snapshot"),
    Override("widths", _SEQ, "--widths", "a DS4 dataset's layer widths"),
)
"""Every override, in the order the command line lists them."""


def check_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` without its ``None`` values, after checking each name against
    :data:`SPEC_OVERRIDES` and each value against its types.

    Raises:
      SpecError: naming the field (`max_epochs`) of an unknown override or a value of
        another type.
    """
    known = {o.field: o for o in SPEC_OVERRIDES}
    out = {}
    for field, value in overrides.items():
        if field not in known:
            raise SpecError(f"`{field}`: not a recipe override; the overrides are "
                            f"{', '.join(known)}")
        if value is None:
            continue
        types = known[field].type
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            want = " or ".join(t.__name__ for t in types)
            raise SpecError(f"`{field}`: expected {want}, got {value!r}")
        out[field] = value
    return out
