"""mlds_jax._progress: the shared bar's clock ticks without updates and stops on close."""

import io
import threading
import time

import numpy as np

import mlds_jax._progress as progress


def _ticks(out: io.StringIO) -> list[str]:
    return [t for t in out.getvalue().split("\r") if "compiling" in t]


def test_the_clock_ticks_while_nothing_updates_and_stops_on_close(monkeypatch):
    monkeypatch.setattr(progress, "TICK_SECONDS", 0.02)
    out = io.StringIO()
    bar = progress.progress_bar(4, "ds1 networks", file=out)
    bar.set_postfix_str("compiling the chunk program")
    time.sleep(0.3)  # no update: only the ticker redraws
    assert len(_ticks(out)) >= 3
    assert "0/4" in _ticks(out)[-1]
    bar.close()
    time.sleep(0.1)
    assert not any(t.name == "mlds-jax-progress" and t.is_alive()
                   for t in threading.enumerate())
    n = len(out.getvalue())
    time.sleep(0.1)
    assert len(out.getvalue()) == n  # nothing drawn after close


def test_a_disabled_bar_draws_nothing_and_starts_no_thread(monkeypatch):
    monkeypatch.setattr(progress, "TICK_SECONDS", 0.02)
    out = io.StringIO()
    before = threading.active_count()
    with progress.progress_bar(4, "quiet", enabled=False, file=out) as bar:
        bar.update(4)
        assert threading.active_count() == before
    progress.status_line("hidden", enabled=False)
    assert out.getvalue() == ""


def test_status_line_is_one_line_on_stderr(capsys):
    progress.status_line("ds1: 160 networks into demo/ds1.zarr: preparing")
    assert capsys.readouterr().err == "ds1: 160 networks into demo/ds1.zarr: preparing\n"


def test_data_import_writes_with_a_bar_over_its_files(tmp_path, capsys):
    from mlds_jax.tasks import get_source, write_image_set

    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
              "train_labels": np.arange(6, dtype=np.uint8),
              "test_images": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
              "test_labels": np.arange(3, dtype=np.uint8)}
    write_image_set(arrays, get_source("mnist"), tmp_path)
    err = capsys.readouterr().err
    assert "mnist files" in err and "4/4" in err
    write_image_set(arrays, get_source("mnist"), tmp_path)  # all there: nothing to show
    assert capsys.readouterr().err == ""


def test_report_shows_its_steps(tmp_path, capsys):
    from helpers import synthetic_store

    from mlds_jax.analysis import html_report

    synthetic_store(tmp_path / "s.zarr", 1.0, per_class=2)
    html_report([tmp_path / "s.zarr"], tmp_path / "r.html", plots=False)
    err = capsys.readouterr().err
    assert "report" in err and "1/1" in err
    html_report([tmp_path / "s.zarr"], tmp_path / "q.html", plots=False, progress=False)
    assert capsys.readouterr().err == ""


def test_generate_speaks_before_it_prepares(tmp_path, monkeypatch, capsys):
    """The first line comes before the task's preparation (seconds; on a machine's first
    run it builds the fused GRU kernel), not after it with the bar."""
    import pytest
    from helpers import tiny_ds1

    from mlds_jax import pipeline

    class Stop(Exception):
        pass

    seen = []

    def prepare(*a, **k):
        seen.append(capsys.readouterr().err)  # what stderr held when preparing began
        raise Stop

    monkeypatch.setattr(pipeline, "prepare_task", prepare)
    with pytest.raises(Stop):
        pipeline.generate(tiny_ds1(per_class=1), tmp_path / "s.zarr")
    with pytest.raises(Stop):  # progress=False (--quiet): nothing
        pipeline.generate(tiny_ds1(per_class=1), tmp_path / "q.zarr", progress=False)
    assert seen == [f"ds1: 5 networks into {tmp_path / 's.zarr'}: preparing the task, the "
                    "store and the training program\n", ""]


def test_data_import_quiet_hides_the_bar(tmp_path, capsys):
    from mlds_jax.cli import main
    from mlds_jax.tasks import write_idx

    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(1)
    for name, arr in (("train-images-idx3-ubyte", rng.integers(0, 256, (6, 28, 28), np.uint8)),
                      ("train-labels-idx1-ubyte", np.arange(6, dtype=np.uint8)),
                      ("t10k-images-idx3-ubyte", rng.integers(0, 256, (3, 28, 28), np.uint8)),
                      ("t10k-labels-idx1-ubyte", np.arange(3, dtype=np.uint8))):
        write_idx(src / name, arr)
    args = ["data", "import", "idx", "--from", str(src), "--image-set", "mnist"]
    assert main([*args, "--data-dir", str(tmp_path / "a"), "--quiet"]) == 0
    assert "mnist files" not in capsys.readouterr().err
    assert main([*args, "--data-dir", str(tmp_path / "b")]) == 0
    assert "mnist files" in capsys.readouterr().err
