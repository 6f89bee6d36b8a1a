"""``mlds-jax report --html``: one self-contained status page, rendered by a real browser."""

import shutil
import subprocess

import numpy as np
import pytest
from helpers import synthetic_store

from mlds_jax.analysis import band, learnt_shares
from mlds_jax.cli import main

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome", "headless_shell")


def test_bands_and_learnt_shares(tmp_path):
    assert [band(p) for p in (0, 10, 25, 75, 80, 100)] == [
        "0%", "< 25%", "25-75%", "25-75%", "> 75%", "100%"]
    v = synthetic_store(tmp_path / "s.zarr", 0.0, per_class=4, complete=False)
    what, shares = learnt_shares(v)
    assert what == "val_bit_accuracy >= 0.99" and shares[3:] == [None, None]
    acc = v["val_bit_accuracy"][:4]
    assert shares[0] == pytest.approx(np.mean(acc >= 0.99))


def test_report_page_renders_in_a_browser(tmp_path, capsys):
    synthetic_store(tmp_path / "a.zarr", 0.5, per_class=4)
    synthetic_store(tmp_path / "b.zarr", 0.0, per_class=4, complete=False)
    page = tmp_path / "out" / "status.html"
    assert main(["report", "--html", str(page), str(tmp_path / "a.zarr"),
                 str(tmp_path / "b.zarr")]) == 0
    text = page.read_text()
    assert text.count("<table>") == 2 and "25-75%" in text and "100%" in text
    assert "data:image/png;base64," in text and "src=\"http" not in text  # self-contained
    assert "SingleInvertMachine" in text
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        pytest.skip("no Chromium here (apt-get install chromium)")
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--window-size=1000,900"]
    subprocess.run([browser, *flags, f"--screenshot={shot}", page.as_uri()], check=True,
                   capture_output=True, timeout=120)
    import matplotlib.image

    img = matplotlib.image.imread(shot)
    assert img.shape[0] >= 800 and img[..., :3].std() > 0.05  # not blank
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    assert "<table>" in dom and "ParityMachine" in dom


def test_each_section_holds_its_own_figures(tmp_path):
    """Per-store figures sit in their store's section; the DS4 histograms and the joint
    embedding, which span stores, in 'Across the stores'; the overall row gives the store's
    learnt share."""
    import re

    from analysis_stores import ds4_store

    c = ds4_store(tmp_path / "clean.zarr", "MNISTclean", 12, seed=1)
    ds4_store(tmp_path / "bad.zarr", "MNISTbadnet_alpha10", 12, seed=2)
    page = tmp_path / "status.html"
    assert main(["report", "--html", str(page), str(tmp_path / "clean.zarr"),
                 str(tmp_path / "bad.zarr")]) == 0
    sections = page.read_text().split("<section>")[1:]
    caps = [re.findall(r"<figcaption>([^<]+)</figcaption>", s) for s in sections]
    assert caps[0] == ["embedding_clean.zarr.png", "loss_curves_clean.zarr.png",
                       "learnt_clean.zarr.png"]
    assert caps[1] == ["embedding_bad.zarr.png", "loss_curves_bad.zarr.png",
                       "learnt_bad.zarr.png"]
    assert "<h2>Across the stores</h2>" in sections[2]
    assert caps[2] == ["ds4_histograms.png", "joint_embedding_0.png"]  # one PCA of both
    overall = re.search(r'<tr class="total">.*?</tr>', sections[0]).group(0)
    share = c.learnt().sum() / 12
    assert overall.endswith(f"<td>{100 * share:.1f}%</td></tr>"), overall
