"""What a first run sees: ``mlds-jax --help`` for users, ``list`` folding DS3's 100 numbered
automata into one row (and nothing else)."""

import pytest

from mlds_jax.cli import main
from mlds_jax.summary import _fold_numbered


def test_list_folds_numbered_runs_only(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    assert "Automaton000-Automaton099 (100 classes) | 100 | 500" in text
    assert "Automaton050" not in text and "100 classes; networks per class" in text
    rows = [["MNISTbadnet_alpha05", "1"], ["MNISTbadnet_alpha10", "1"],
            ["MNISTbadnet_alpha15", "1"], ["MNISTbadnet_alpha20", "1"]]
    assert _fold_numbered(rows) == rows  # not consecutive numbers: kept
    run = [[f"A{i}", "2"] for i in range(5)] + [["A5", "3"], ["B", "2"]]
    assert _fold_numbered(run) == [["A0-A4 (5 classes)", "2"], ["A5", "3"], ["B", "2"]]


def test_help_speaks_to_users(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "Start with `mlds-jax list`" in text
    assert "``" not in text and "thin argument parsing" not in text
