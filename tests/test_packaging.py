"""pyproject.toml: one version source, ranges rather than exact pins, the PEP 621 fields."""

import pathlib
import re
import tomllib

import mlds_jax

ROOT = pathlib.Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_version_has_one_source():
    assert "version" not in PROJECT and PROJECT["dynamic"] == ["version"]
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert cfg["dynamic"]["version"] == {"attr": "mlds_jax._version.__version__"}
    # CITATION.cff repeats it (its format needs the number): it must agree
    cff = re.search(r"^version: (\S+)$", (ROOT / "CITATION.cff").read_text(), re.M)
    assert cff and cff.group(1) == mlds_jax.__version__


def test_dependencies_are_ranges_not_pins():
    reqs = PROJECT["dependencies"] + [r for extra in PROJECT["optional-dependencies"].values()
                                      for r in extra]
    assert reqs and not [r for r in reqs if "==" in r or "===" in r]
    assert all(re.search(r">=|~=", r) for r in reqs), reqs  # each names its lowest version
    assert any(r.startswith("pooch") for r in PROJECT["dependencies"])


def test_pep_621_metadata():
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    assert PROJECT["authors"] and PROJECT["classifiers"] and PROJECT["keywords"]
    assert PROJECT["readme"] == "README.md" and PROJECT["requires-python"]
