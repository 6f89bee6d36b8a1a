"""Every subcommand's --help says what it does and ends with examples that parse."""

import shlex

import pytest
from helpers import cli_subcommands

from mlds_jax.cli import EXAMPLES, build_parser

SUBCOMMANDS = dict(cli_subcommands(build_parser()))


def test_every_subcommand_has_examples():
    assert sorted(SUBCOMMANDS) == sorted(EXAMPLES)


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_help_says_what_it_does_and_shows_examples_that_parse(name):
    sub = SUBCOMMANDS[name]
    text = sub.format_help()
    assert sub.description and sub.description in " ".join(text.split())
    assert text.rstrip().endswith(EXAMPLES[name][-1])
    for example in EXAMPLES[name]:
        assert f"\n  {example}\n" in text + "\n"  # line for line, not rewrapped
        argv = shlex.split(example)
        assert argv[0] == "mlds-jax" and argv[1:len(name.split()) + 1] == name.split()
        args = build_parser().parse_args(argv[1:])  # SystemExit if it does not parse
        assert callable(getattr(args, "func", None)) or name == "data"
