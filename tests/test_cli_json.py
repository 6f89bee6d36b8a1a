"""Scriptable CLI: --version, --json for list/status/verify/plan/info, the untruncated list,
a description on every subcommand."""

import json

import pytest
from helpers import cli_subcommands, synthetic_store

from mlds_jax import __version__
from mlds_jax.cli import build_parser, main
from mlds_jax.models import mlp_layout
from mlds_jax.spec import DS4_WIDTHS
from mlds_jax.store import open_store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "s.zarr"
    synthetic_store(path, 1.0, per_class=4, complete=False)  # 3 of 5 classes written
    return str(path)


def _json(capsys, argv, code=0):
    assert main(argv) == code
    return json.loads(capsys.readouterr().out)


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"mlds-jax {__version__}"


def test_list_json_and_untruncated_text(capsys):
    entries = {e["name"]: e for e in _json(capsys, ["list", "--json"])}
    assert len(entries["ds4"]["classes"]) == 15 and entries["ds4"]["unit"] == "datasets"
    assert len(entries["ds3"]["classes"]) == 100
    main(["list"])
    text = capsys.readouterr().out
    assert all(name in text for name in entries["ds4"]["classes"])
    assert "15 datasets of 50000 networks each" in text and "15 classes" not in text
    assert "Automaton099" in text


def test_status_verify_info_json(store, capsys):
    (rec,) = _json(capsys, ["status", "--json", store])
    assert rec["dataset"] == "ds1" and rec["per_class"] == 4
    learnt = int(open_store(store).learnt()[:4].sum())
    assert rec["classes"][0] == {"class": "ParityMachine", "planned": 4, "done": 4,
                                 "failed": 0, "pending": 0, "percent": 100.0, "band": "100%",
                                 "learnt": learnt}
    assert rec["learnt_thresholds"] == {"val_bit_accuracy": 0.99}
    assert rec["overall"]["done"] == 12 and rec["overall"]["band"] == "25-75%"
    (v,) = _json(capsys, ["verify", "--json", store], code=1)
    assert v["path"] == store and not v["ok"] and "pending" in " ".join(v["problems"])
    assert _json(capsys, ["info", "--json", store])["n_networks"] == 20


def test_plan_json(capsys):
    rec = _json(capsys, ["plan", "ds1", "--per-class", "100", "--block-size", "64", "--json"])
    assert rec["n_networks"] == 500 and rec["n_params"] == 4364 and rec["block_size"] == 64
    assert rec["params_shard"] == [64, 4364] and rec["params_chunk"][0] < 64


def test_every_subcommand_has_a_description():
    found = dict(cli_subcommands(build_parser()))
    assert {"generate", "list", "export", "report", "data fetch"} <= set(found)
    for name, p in found.items():
        assert p.description and "\n" not in p.description.strip(), name


def test_plan_takes_ds4_widths_and_refuses_them_elsewhere(capsys):
    rec = _json(capsys, ["plan", "MNISTclean", "--per-class", "4", "--json"])
    assert rec["n_params"] == mlp_layout(DS4_WIDTHS).n_params == 134794  # the recipe's net
    rec = _json(capsys, ["plan", "MNISTclean", "--per-class", "4", "--widths", "784,32,10",
                         "--json"])
    assert rec["n_params"] == 25450
    assert main(["plan", "ds1", "--per-class", "2", "--widths", "784,32,10"]) == 2
    assert "--widths: ds1 is a sequence dataset" in capsys.readouterr().err
    assert main(["plan", "MNISTclean", "--per-class", "2", "--widths", "700,32,10"]) == 2
    assert "ImageDatasetSpec.widths" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["plan", "MNISTclean", "--per-class", "2", "--widths", "784,x,10"])
    assert e.value.code == 2
    assert "comma-separated integers" in capsys.readouterr().err
