"""The task registry: one Task per task, found by ``task_of``, every room's table covering
every task, and no room branching on a task's name."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

import mlds_jax
from mlds_jax import pipeline, summary
from mlds_jax.errors import SpecError
from mlds_jax.spec import DEFAULT_TASK, IMAGE, SEQUENCE, TASKS, ds1, ds4, task_of
from mlds_jax.spec._file import SPEC_CLASSES
from mlds_jax.store import headline_metric
from mlds_jax.store._open import SCORERS
from mlds_jax.store._schema import TASK_METRICS
from mlds_jax.train._task import LAYOUTS, PARTS_MAKERS

ROOT = pathlib.Path(mlds_jax.__file__).parent


def test_task_of_a_spec_a_name_a_store_attrs_and_a_task():
    assert task_of(ds1(1)) is SEQUENCE
    assert task_of(ds4("MNISTclean", 2)) is IMAGE
    assert task_of("image") is IMAGE and task_of(IMAGE) is IMAGE
    assert task_of({"task": "image", "n_networks": 3}) is IMAGE
    assert task_of({"n_networks": 3}) is DEFAULT_TASK is SEQUENCE  # a store before tasks
    assert TASKS == {"sequence": SEQUENCE, "image": IMAGE}


@pytest.mark.parametrize("bad", ["images", 3, None, ["image"]])
def test_an_unknown_task_is_refused_by_name(bad):
    want = f"`task`: expected one of ['image', 'sequence'], got {bad!r}"
    with pytest.raises(SpecError, match=re.escape(want)):
        task_of({"task": bad})


def test_task_fields_match_the_specs():
    for spec in (ds1(1), ds4("MNISTclean", 2)):
        task = task_of(spec)
        assert getattr(spec, task.size_field) >= 1
        assert hasattr(spec.train, task.epochs_field)
        assert hasattr(spec, "image_set") == task.images


@pytest.mark.parametrize("table", [SPEC_CLASSES, PARTS_MAKERS, LAYOUTS, TASK_METRICS, SCORERS,
                                   pipeline.PREPARERS, summary.METRICS_TABLES],
                         ids=["spec classes", "train parts", "train layouts", "store metrics",
                              "store scorers", "pipeline preparation", "summary tables"])
def test_every_rooms_table_covers_every_task(table):
    assert set(table) == set(TASKS.values())


def test_headline_metric_is_each_tasks_first_metric():
    assert headline_metric(SEQUENCE) == "val_bit_accuracy"
    assert headline_metric("image") == "clean_accuracy"


def _code_strings(tree: ast.AST):
    """String constants of a module that are not docstrings."""
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value,
                                                                     ast.Constant):
                docs.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docs:
            yield node


def test_only_the_registry_names_a_task():
    """Rooms ask ``task_of`` and read the Task; a task's name is written in one module."""
    bad = []
    for path in ROOT.rglob("*.py"):
        if path == ROOT / "spec" / "_task.py":
            continue
        for node in _code_strings(ast.parse(path.read_text())):
            if node.value in TASKS:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not bad, "\n".join(bad)
