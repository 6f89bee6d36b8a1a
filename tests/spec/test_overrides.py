"""The one table of recipe overrides: what with_overrides / select_spec accept, the errors
that name a field, and the command line's flags read from the same table."""

import pytest

from mlds_jax.cli import build_parser
from mlds_jax.errors import SpecError
from mlds_jax.spec import SPEC_OVERRIDES, ds1, select_spec, with_overrides


def test_every_override_is_a_keyword_and_a_flag_of_generate_and_plan():
    for command in ("generate", "plan"):
        parser = build_parser()
        args = ["--out", "x.zarr"] if command == "generate" else []
        for o in SPEC_OVERRIDES:
            sub = parser._subparsers._group_actions[0].choices[command]
            action = next(a for a in sub._actions if o.flag in a.option_strings)
            assert action.dest == o.field and action.default is None
        parsed = parser.parse_args([command, "ds1", *args])
        assert all(getattr(parsed, o.field) is None for o in SPEC_OVERRIDES)


def test_unknown_and_mistyped_overrides_name_the_field():
    spec = ds1(2)
    with pytest.raises(SpecError, match=r"^`max_epoch`: not a recipe override; the overrides "
                                        r"are max_epochs, "):
        with_overrides(spec, max_epoch=3)
    with pytest.raises(SpecError, match=r"^`max_epochs`: expected int, got '3'$"):
        select_spec("ds1", 2, max_epochs="3")
    with pytest.raises(SpecError, match=r"^`learning_rate`: expected int or float, got True$"):
        with_overrides(spec, learning_rate=True)
    # None keeps the recipe's value; the two entry points give the same spec
    assert with_overrides(spec, max_epochs=None, probes=None) == spec
    assert select_spec("ds1", 2, max_epochs=3, probes=0) == with_overrides(
        spec, max_epochs=3, probes=0)


def test_the_command_line_names_the_flag_of_a_refused_override(capsys):
    from mlds_jax.cli import main

    assert main(["plan", "ds1", "--per-class", "2", "--placements", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mlds-jax: error: --placements: ds1 poisons nothing") and "`" not in err
