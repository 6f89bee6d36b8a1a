"""Imports flow one way: spec -> tasks -> models -> train -> coord -> store -> analysis.

* A room imports only rooms to its left (``coord`` never imports ``store``: it writes through
  a sink protocol), and never the wiring above the rooms (pipeline, cli, summary, workunits,
  _guards, or the package itself, whose ``__init__`` imports them).
* Another room is reached only through its door (``mlds_jax.train``), never a private module
  or name of it (``mlds_jax.train._bulk``, ``from mlds_jax.train import _bulk``); this holds
  for the wiring and the benchmarks too.
* No relative imports (the checks read absolute module names).
* The modules of one room import each other without a cycle (function-local imports count:
  a cycle is not mended by hiding one of its imports in a function).

:func:`violations` and :func:`cycle` are the checkers;
``test_the_checker_catches_each_planted_import`` and
``test_the_cycle_checker_catches_each_planted_cycle`` run them on planted source text, so a
check that stopped catching one of them fails.
"""

from __future__ import annotations

import ast
import graphlib
import pathlib

import pytest

import mlds_jax

ORDER = ["errors", "_version", "_provenance", "_progress", "spec", "tasks", "models", "train",
         "coord", "store", "analysis"]
ROOT = pathlib.Path(mlds_jax.__file__).parent
WIRING = sorted(p.stem for p in ROOT.glob("*.py")
                if p.stem not in ORDER and p.stem != "__init__")  # pipeline, cli, ...


def _imported(tree: ast.AST):
    """``(line, module, name)`` for every import of an ``mlds_jax`` module or name (``name``
    None for ``import mlds_jax.x``), and ``(line, None, None)`` for a relative import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                yield node.lineno, None, None
            elif node.module == "mlds_jax" or node.module.startswith("mlds_jax."):
                for a in node.names:
                    yield node.lineno, node.module, a.name
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "mlds_jax" or a.name.startswith("mlds_jax."):
                    yield node.lineno, a.name, None


def violations(room: str, source: str, where: str = "<source>") -> list[str]:
    """What is wrong with the imports of ``source``, a module of ``room`` (one of
    :data:`ORDER`, one of :data:`WIRING`, or ``"benchmarks"``)."""
    bad = []
    for line, module, name in _imported(ast.parse(source)):
        at = f"{where}:{line}"
        if module is None:
            bad.append(f"{at} ({room}) uses a relative import")
            continue
        parts = module.split(".")[1:]  # "mlds_jax.train._bulk" -> ["train", "_bulk"]
        if not parts and name is not None:  # from mlds_jax import x: x is the target
            parts = [name]
            name = None
        target = parts[0] if parts else "mlds_jax"
        if room in ORDER and target != room:
            if target in ORDER:
                if ORDER.index(target) > ORDER.index(room):
                    bad.append(f"{at} ({room}) imports {target}, a room to its right")
            else:  # the package itself or its wiring
                bad.append(f"{at} ({room}) imports {'.'.join(['mlds_jax', *parts])}, "
                           "the wiring above the rooms")
        if target != room and target in ORDER:
            private = [p for p in parts[1:] if p.startswith("_")]
            if name is not None and name.startswith("_") and not name.startswith("__"):
                private.append(name)
            if private:
                bad.append(f"{at} ({room}) imports {target}'s private "
                           f"{'.'.join(private)} instead of its door mlds_jax.{target}")
    return bad


def cycle(room: str, sources: dict[str, str]) -> list[str]:
    """An import cycle among ``sources`` (module stem -> source text, ``"__init__"`` the
    room's door) of the modules of ``room``, as the modules along it, or [] when there is
    none. Every import counts, wherever it stands in the file."""
    graph: dict[str, set[str]] = {}
    for stem, source in sources.items():
        graph[stem] = set()
        for _line, module, name in _imported(ast.parse(source)):
            parts = (module or "").split(".")[1:]
            if parts == [] and name == room:  # from mlds_jax import <room>: its door
                parts = [room]
            if not parts or parts[0] != room:
                continue
            if len(parts) > 1:  # mlds_jax.store._open
                target = parts[1]
            else:  # mlds_jax.store: a module of it by name, or the door
                target = name if name in sources else "__init__"
            if target != stem:
                graph[stem].add(target)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as e:
        return list(e.args[1])
    return []


def _room(path: pathlib.Path) -> str:
    if not path.is_relative_to(ROOT):
        return "benchmarks"
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


def test_imports_point_left_and_use_doors():
    paths = list(ROOT.rglob("*.py")) + list((ROOT.parent / "benchmarks").rglob("*.py"))
    bad = []
    for path in paths:
        if path == ROOT / "__init__.py":
            continue  # the package's door re-exports every room
        bad += violations(_room(path), path.read_text(), str(path.relative_to(ROOT.parent)))
    assert not bad, "\n".join(bad)


ROOMS = [r for r in ORDER if (ROOT / r / "__init__.py").is_file()]


@pytest.mark.parametrize("room", ROOMS)
def test_no_import_cycle_within_a_room(room):
    sources = {p.stem: p.read_text() for p in (ROOT / room).glob("*.py")}
    assert cycle(room, sources) == [], f"{room}: import cycle {' -> '.join(cycle(room, sources))}"


# (room, {module: planted source}): every cycle must be caught.
PLANTED_CYCLES = {
    "two modules": ("store", {"_a": "from mlds_jax.store._b import x",
                              "_b": "from mlds_jax.store._a import y"}),
    "one side function-local": ("store", {
        "_a": "from mlds_jax.store._b import x",
        "_b": "def f():\n    from mlds_jax.store._a import y\n"}),
    "three modules": ("train", {"_a": "import mlds_jax.train._b", "_b": "import mlds_jax.train._c",
                                "_c": "from mlds_jax.train._a import z"}),
    "through the door": ("coord", {"__init__": "from mlds_jax.coord._a import run",
                                   "_a": "from mlds_jax.coord import plan"}),
    "the door as a module": ("coord", {"__init__": "from mlds_jax.coord._a import run",
                                       "_a": "from mlds_jax import coord"}),
    "a module by name from the door": ("spec", {"_a": "from mlds_jax.spec import _b",
                                                "_b": "from mlds_jax.spec._a import t"}),
}


@pytest.mark.parametrize("room,sources", PLANTED_CYCLES.values(), ids=PLANTED_CYCLES.keys())
def test_the_cycle_checker_catches_each_planted_cycle(room, sources):
    assert cycle(room, sources)


def test_the_cycle_checker_passes_a_chain():
    """A chain, a lazy import that closes no cycle and other rooms' modules of the same name
    are no cycle."""
    assert cycle("store", {"__init__": "from mlds_jax.store._b import x",
                           "_a": "from mlds_jax.spec._b import x",
                           "_b": "def f():\n    from mlds_jax.store._c import y\n",
                           "_c": "from mlds_jax.store._d import y\nimport mlds_jax.train._b",
                           "_d": "import zarr"}) == []


# (room of the module, planted source): every one must be caught.
PLANTED = {
    "coord imports store's door": ("coord", "from mlds_jax import store"),
    "coord imports store": ("coord", "from mlds_jax.store import StoreWriter"),
    "coord imports store as a module": ("coord", "import mlds_jax.store"),
    "spec imports train (function-local)": (
        "spec", "def f():\n    from mlds_jax.train import make_train\n"),
    "a private module by name": ("coord", "from mlds_jax.train import _bulk"),
    "a private module by path": ("coord", "from mlds_jax.train._bulk import make_train"),
    "a private module imported": ("store", "import mlds_jax.train._bulk"),
    "a private name through a door": ("store", "from mlds_jax.spec import _check"),
    "the wiring reaches a private module": ("pipeline", "from mlds_jax.store._open import Store"),
    "a benchmark reaches a private module": ("benchmarks", "from mlds_jax.models import _gru"),
    "a relative import": ("store", "from ._schema import DONE"),
    "a relative import of the parent": ("store", "from .. import errors"),
    **{f"a room imports {w}": ("analysis", f"from mlds_jax import {w}") for w in WIRING},
    **{f"a room imports mlds_jax.{w}": ("models", f"from mlds_jax.{w} import x")
       for w in WIRING},
    "a room imports the package": ("train", "import mlds_jax"),
}


@pytest.mark.parametrize("room,source", PLANTED.values(), ids=PLANTED.keys())
def test_the_checker_catches_each_planted_import(room, source):
    assert violations(room, source)


# what the rooms may do: the checker passes it
ALLOWED = {
    "a room imports one to its left": ("store", "from mlds_jax.spec import task_of"),
    "errors from anywhere": ("tasks", "from mlds_jax.errors import SpecError"),
    "its own private module": ("train", "from mlds_jax.train._bulk import make_train"),
    "the wiring imports any door": ("pipeline", "from mlds_jax.coord import run_blocks"),
    "a benchmark imports a door": ("benchmarks", "import mlds_jax.models"),
    "not mlds_jax": ("store", "import zarr\nfrom numpy import _core"),
}


@pytest.mark.parametrize("room,source", ALLOWED.values(), ids=ALLOWED.keys())
def test_the_checker_passes_what_is_allowed(room, source):
    assert violations(room, source) == []


def test_the_wiring_is_what_the_rooms_may_not_import():
    assert {"pipeline", "cli", "summary", "workunits", "_guards"} <= set(WIRING)
