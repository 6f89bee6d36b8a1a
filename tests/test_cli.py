import os
import subprocess
import sys

import pytest
import zarr

from mlds_jax.cli import main

TINY = ["--max-epochs", "2", "--block-size", "8", "--quiet"]


@pytest.fixture
def small_recipe(monkeypatch):
    """Make `generate ds1` train the tiny recipe so CLI tests take seconds."""
    from helpers import tiny_ds1

    from mlds_jax.spec import _recipes

    monkeypatch.setitem(_recipes.RECIPES, "ds1",
                        lambda per_class, seed=0, **kw: tiny_ds1(per_class, **kw))


def test_generate_status_info(tmp_path, capsys, small_recipe):
    out = tmp_path / "s.zarr"
    assert main(["generate", "ds1", "--per-class", "2", "--out", str(out), *TINY]) == 0
    text = capsys.readouterr().out
    assert "trained 10 networks" in text
    assert "note: Trained with an epoch cap of 2; the ds1 recipe's is 4." in text  # the cap
    assert "SingleDirectMachine |       2 |    2 |      0 |  100.0% | 100%" in text
    assert "overall             |      10 |   10 |      0 |  100.0% | 100%" in text
    assert main(["status", str(out)]) == 0
    assert "ParityMachine" in capsys.readouterr().out
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "jax_version" in info and "median val bit acc" in info
    # resume: nothing left to do
    assert main(["generate", "ds1", "--per-class", "2", "--out", str(out), *TINY]) == 0
    assert "trained 0 networks" in capsys.readouterr().out


def test_status_partial_store(tmp_path, capsys, small_recipe):
    out = tmp_path / "s.zarr"
    main(["generate", "ds1", "--per-class", "2", "--out", str(out), *TINY])
    zarr.open_group(str(out), mode="r+")["status"][0:8] = 0
    capsys.readouterr()
    main(["status", str(out)])
    text = capsys.readouterr().out
    assert "ParityMachine       |       2 |    0 |      0 |    0.0% |    0%" in text
    assert "overall             |      10 |    2 |      0 |   20.0% | < 25%" in text


def _err_lines(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_unknown_dataset(tmp_path, capsys):
    assert main(["generate", "ds9", "--per-class", "2", "--out", str(tmp_path / "x")]) == 2
    assert "unknown dataset 'ds9'; known datasets: ds1, ds2, ds3, or a DS4 name" in \
        _err_lines(capsys)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("n", ["0", "-3", "many"])
def test_bad_per_class(tmp_path, capsys, n):
    with pytest.raises(SystemExit) as e:
        main(["generate", "ds1", "--per-class", n, "--out", str(tmp_path / "x")])
    assert e.value.code != 0
    assert "--per-class: expected a positive integer" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_existing_file_is_refused(tmp_path, capsys):
    f = tmp_path / "data.bin"
    f.write_bytes(b"\x00keep")
    assert main(["generate", "ds1", "--per-class", "2", "--out", str(f), "--quiet"]) == 2
    assert "exists and is a file, not an mlds-jax store" in _err_lines(capsys)
    assert f.read_bytes() == b"\x00keep"


def test_store_of_other_spec_is_refused(tmp_path, capsys, small_recipe):
    out = tmp_path / "s.zarr"
    main(["generate", "ds1", "--per-class", "2", "--out", str(out), *TINY])
    before = {p: os.stat(os.path.join(r, p)).st_mtime_ns
              for r, _, fs in os.walk(out) for p in fs}
    capsys.readouterr()
    code = main(["generate", "ds1", "--per-class", "3", "--out", str(out), *TINY])
    assert code == 2
    assert "written by another spec (per_class: store has 2, requested 3)" in _err_lines(capsys)
    after = {p: os.stat(os.path.join(r, p)).st_mtime_ns for r, _, fs in os.walk(out) for p in fs}
    assert before == after


def test_status_of_non_store(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert "not a Zarr store" in _err_lines(capsys)


def test_console_script_exit_code():
    r = subprocess.run([sys.executable, "-m", "mlds_jax.cli", "generate", "nope",
                        "--per-class", "1", "--out", "/nonexistent/x"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == ("mlds-jax: error: unknown dataset 'nope'; known datasets: "
                                "ds1, ds2, ds3, or a DS4 name such as MNISTbadnet_alpha10 "
                                "(see `mlds-jax list`)")


def test_band_edges():
    from mlds_jax.store import band

    assert [band(p) for p in (0, 0.1, 24.9, 25, 75, 75.1, 99.9, 100)] == [
        "0%", "< 25%", "< 25%", "25-75%", "25-75%", "> 75%", "> 75%", "100%"]


def test_list_prints_catalogue(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    assert "Name                | 100 | 500 | 1000 | 5000 | 10000" in text
    assert "DS1 (available)" in text and "DS2 (available)" in text
    assert "DS4 (available)" in text and "MNISTbadnetv2_rr20    | 50000" in text
    assert "ParityModified" in text


def test_status_of_several_stores(tmp_path, capsys, small_recipe):
    a, b = tmp_path / "a.zarr", tmp_path / "b.zarr"
    main(["generate", "ds1", "--per-class", "1", "--out", str(a), *TINY])
    main(["generate", "ds1", "--per-class", "2", "--out", str(b), *TINY])
    capsys.readouterr()
    assert main(["status", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    assert "(ds1, 1 per class; learnt: " in text and "(ds1, 2 per class; learnt: " in text


def test_ds4_by_name_on_embedded_digits(tmp_path, capsys):
    pytest.importorskip("sklearn")
    out = tmp_path / "bad.zarr"
    assert main(["generate", "MNISTbadnet_alpha10", "--image-set", "digits", "--per-class",
                 "4", "--max-epochs", "2", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "median ASR" in text and "MNISTbadnet_alpha10 |    4 |" in text
    assert zarr.open_group(str(out), mode="r").attrs["mlds_jax"]["task"] == "image"


def test_ds4_needs_a_count_and_known_image_set(tmp_path, capsys):
    assert main(["generate", "MNISTclean", "--out", str(tmp_path / "x")]) == 2
    assert "give the number of networks with --per-class" in _err_lines(capsys)
    assert main(["generate", "MNISTclean", "--image-set", "cifar", "--per-class", "2",
                 "--out", str(tmp_path / "x")]) == 2
    assert "`ImageDatasetSpec.image_set`: expected one of" in _err_lines(capsys)
    assert not (tmp_path / "x").exists()


def test_data_fetch_unknown_set(tmp_path, capsys):
    assert main(["data", "fetch", "cifar", "--data-dir", str(tmp_path)]) == 2
    assert "unknown image set 'cifar'" in _err_lines(capsys)


def test_block_size_auto_and_bad_block_size(tmp_path, capsys, small_recipe):
    out = tmp_path / "a.zarr"
    # --chunk-width 8: the chunk programs of TINY's runs (compiled once in a session)
    assert main(["generate", "ds1", "--per-class", "2", "--out", str(out), "--max-epochs",
                 "2", "--block-size", "auto", "--chunk-width", "8", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "block size (auto): 10" in text and "trained 10 networks" in text
    from mlds_jax.store import read_root_attrs

    assert read_root_attrs(out)["block_size"] == 10
    with pytest.raises(SystemExit) as e:
        main(["plan", "ds1", "--per-class", "2", "--block-size", "big"])
    assert e.value.code == 2
    assert "expected a positive integer, got 'big'" in capsys.readouterr().err
