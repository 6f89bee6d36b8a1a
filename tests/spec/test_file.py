import pytest

from mlds_jax.cli import main
from mlds_jax.errors import SpecError
from mlds_jax.spec import load_spec_file

GOOD = """
name = "zoo"
classes = ["SingleDirectMachine", "SingleInvertModified"]
per_class = 2
seed = 3
[train]
batch_size = 8
seq_len = 8
n_train = 16
n_val = 16
max_epochs = 2
"""


def _write(tmp_path, text):
    p = tmp_path / "spec.toml"
    p.write_text(text)
    return p


def test_good_file(tmp_path):
    spec = load_spec_file(_write(tmp_path, GOOD))
    assert spec.classes == ("SingleDirectMachine", "SingleInvertModified")
    assert spec.per_class == 2 and spec.train.max_epochs == 2 and spec.seed == 3


@pytest.mark.parametrize("text, match", [
    (GOOD.replace("per_class = 2", "per_class = -4"),
     r"`DatasetSpec.per_class`: expected a positive integer, got -4"),
    (GOOD.replace("per_class = 2", "per_class = \"ten\""),
     r"`DatasetSpec.per_class`: expected a positive integer, got 'ten'"),
    (GOOD.replace('name = "zoo"\n', ""), r"`DatasetSpec.name`: missing \(required\)"),
    (GOOD.replace("max_epochs = 2", "max_epochs = 2\nlr = 0.1"),
     r"`TrainSpec.lr`: unknown field"),
    (GOOD.replace("batch_size = 8", "batch_size = 8.5"),
     r"`TrainSpec.batch_size`: expected a positive integer, got 8.5"),
    (GOOD.replace("seed = 3", "seed = true"), r"`DatasetSpec.seed`"),
    (GOOD + "[model]\nhead = 5\n", r"`GRUSpec.head`: expected a list of widths"),
    (GOOD.replace('classes = ["SingleDirectMachine", "SingleInvertModified"]',
                  "classes = 3"), r"`DatasetSpec.classes`: expected a list of machine names"),
    ("name = ", r"not valid TOML"),
])
def test_bad_files_name_the_field(tmp_path, text, match):
    with pytest.raises(SpecError, match=match):
        load_spec_file(_write(tmp_path, text))


def test_cli_with_spec_file_trains_and_stores_tables(tmp_path, capsys):
    import zarr

    out = tmp_path / "zoo.zarr"
    assert main(["generate", "--spec", str(_write(tmp_path, GOOD)), "--out", str(out),
                 "--block-size", "4", "--quiet"]) == 0
    g = zarr.open_group(str(out), mode="r")
    assert g["machines/next_state"].shape == (2, 2, 32)
    assert g["class_id"].attrs["class_names"] == ["SingleDirectMachine",
                                                   "SingleInvertModified"]


@pytest.mark.parametrize("text, match", [
    (GOOD.replace("SingleDirectMachine", "NoSuchMachine"), "unknown machine 'NoSuchMachine'"),
    (GOOD + "[model]\ninput_size = 7\n",
     r"`GRUSpec.input_size`: expected 5 \(the machines' input bits\), got 7"),
])
def test_cli_spec_errors_are_one_line(tmp_path, capsys, text, match):
    import re

    out = tmp_path / "zoo.zarr"
    assert main(["generate", "--spec", str(_write(tmp_path, text)), "--out", str(out),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(match, err[0]), err
    assert not out.exists()


def test_cli_missing_spec_file(tmp_path, capsys):
    assert main(["generate", "--spec", str(tmp_path / "nope.toml"), "--out",
                 str(tmp_path / "x")]) == 2
    assert "no such spec file" in capsys.readouterr().err


IMAGE = """
task = "image"
name = "my-badnets"
image_set = "digits"
n_networks = 3
widths = [784, 16, 10]
[poison]
kind = "badnetv2"
trigger = "alpha"
fraction = 0.1
[train]
epochs = 2
"""


def test_image_zoo_from_a_spec_file_trains_through_the_cli(tmp_path, capsys):
    from mlds_jax.store import open_store

    path = _write(tmp_path, IMAGE)
    spec = load_spec_file(path)
    assert spec.task == "image" and spec.widths == (784, 16, 10)
    assert spec.poison.kind == "badnetv2" and spec.train.epochs == 2
    out = tmp_path / "zoo.zarr"
    assert main(["generate", "--spec", str(path), "--out", str(out), "--quiet",
                 "--max-epochs", "1"]) == 0
    store = open_store(out)
    assert store.attrs["task"] == "image" and store["epochs"].tolist() == [1, 1, 1]
    with pytest.raises(SpecError, match="`task`: expected one of"):
        load_spec_file(_write(tmp_path, IMAGE.replace('"image"', '"audio"')))
