"""Imports flow one way: spec -> tasks -> models -> train -> coord -> store -> analysis.

``coord`` never imports ``store`` (it writes through a sink protocol); only ``pipeline`` and
``cli`` may import from anywhere.
"""

import ast
import pathlib

import mlds_jax

ORDER = ["errors", "_version", "spec", "tasks", "models", "train", "coord", "store", "analysis"]
ROOT = pathlib.Path(mlds_jax.__file__).parent


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                "mlds_jax"):
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("mlds_jax"))


def test_imports_point_left():
    bad = []
    for path in ROOT.rglob("*.py"):
        pkg = path.relative_to(ROOT).parts[0].removesuffix(".py")
        if pkg not in ORDER:
            continue  # pipeline, cli, __init__
        for mod in _imports(path):
            target = mod.split(".")[1] if "." in mod else ""
            if target in ORDER and ORDER.index(target) > ORDER.index(pkg):
                bad.append(f"{path.relative_to(ROOT)} imports {mod}")
            if pkg == "coord" and target == "store":
                bad.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert not bad, bad


def _room(path) -> str:
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def test_rooms_use_only_each_others_public_door():
    """A module may import its own room's private modules, but another room only through
    that room's ``__init__`` (``mlds_jax.train``, never ``mlds_jax.train._bulk``). This holds
    for pipeline.py and cli.py too, and for the benchmarks."""
    bad = []
    paths = list(ROOT.rglob("*.py")) + list((ROOT.parent / "benchmarks").rglob("*.py"))
    for path in paths:
        room = _room(path) if path.is_relative_to(ROOT) else "benchmarks"
        for mod in _imports(path):
            parts = mod.split(".")
            private = [p for p in parts[1:] if p.startswith("_") and p != "__init__"]
            if len(parts) > 2 and private and parts[1] != room:
                bad.append(f"{path.name} ({room}) imports private {mod}")
    assert not bad, "\n".join(bad)
