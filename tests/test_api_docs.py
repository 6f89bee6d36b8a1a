"""docs/api.md is the API reference generated from the docstrings (docs/gen_api.py): it must
be current, every public name must have a docstring, and every ``:class:`` / ``:func:`` /
``:meth:`` reference in a rendered docstring must name something."""

import importlib.util
import pathlib
import sys

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def generated():
    spec = importlib.util.spec_from_file_location("gen_api", DOCS / "gen_api.py")
    gen_api = importlib.util.module_from_spec(spec)
    sys.modules["gen_api"] = gen_api  # its dataclass looks its module up
    spec.loader.exec_module(gen_api)
    return gen_api.generate()


def test_every_public_name_has_a_docstring(generated):
    _, missing, _ = generated
    assert not missing, "public names without a docstring:\n" + "\n".join(missing)


def test_docstring_references_resolve(generated):
    _, _, broken = generated
    assert not broken, "docstring references that name nothing:\n" + "\n".join(broken)


def test_committed_reference_is_current(generated):
    text, _, _ = generated
    committed = (DOCS / "api.md").read_text()
    assert committed == text, "docs/api.md is stale: run `make api`"


def test_reference_is_machine_independent(generated):
    text, _, _ = generated
    for leak in (" at 0x", str(DOCS.parent), str(pathlib.Path.home())):
        assert leak not in text, f"docs/api.md shows {leak!r}"
