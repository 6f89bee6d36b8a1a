"""Writes docs/api.md, the API reference, from the docstrings of mlds-jax's public doors.

Run ``make api`` (or ``python docs/gen_api.py``) after changing a public name or its
docstring; ``tests/test_api_docs.py`` regenerates the reference in memory and fails when the
committed file differs, when a public name has no docstring, or when a docstring's
``:class:`` / ``:func:`` / ``:meth:`` reference names nothing.

Plain ``inspect`` and ``ast``, no documentation tool: for every room (package) its public
names (``__all__``; for ``mlds_jax.pipeline``, the functions and classes it defines) with their
signatures, the first paragraph of their docstrings and any ``Args:`` / ``Returns:`` section;
dataclass and NamedTuple fields with types and defaults; the public methods and properties of
classes. Constants take their docstring from a string literal right after the assignment
(PEP 257's attribute docstring). The output is deterministic: names are sorted, and default
values that would show a memory address or a path of this machine are masked.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import io
import os
import pathlib
import re
import sys
import tokenize
from typing import Any

ROOMS = [
    "mlds_jax",
    "mlds_jax.spec",
    "mlds_jax.tasks",
    "mlds_jax.models",
    "mlds_jax.train",
    "mlds_jax.coord",
    "mlds_jax.store",
    "mlds_jax.analysis",
    "mlds_jax.pipeline",
]
OUT = pathlib.Path(__file__).resolve().parent / "api.md"
SECTIONS = ("Args", "Arguments", "Returns", "Yields", "Raises")
ROLE = re.compile(r":(class|func|meth|attr|data|exc|obj|mod):`(~?)([^`]+)`")


# ----------------------------------------------------------------------------- collection

@dataclasses.dataclass
class Entry:
    room: str
    name: str
    obj: Any
    kind: str  # "class", "function" or "constant"
    home: str | None = None  # the other room that documents it, for re-exports
    doc: str | None = None
    lines: list[str] = dataclasses.field(default_factory=list)


def public_names(mod) -> list[str]:
    names = getattr(mod, "__all__", None)
    if names is None:  # pipeline: what the module itself defines
        names = [n for n, v in vars(mod).items() if not n.startswith("_")
                 and (inspect.isfunction(v) or inspect.isclass(v))
                 and v.__module__ == mod.__name__]
    return list(names)


def kind_of(obj) -> str:
    if inspect.isclass(obj):
        return "class"
    if callable(obj) and not isinstance(obj, dict):
        return "function"
    return "constant"


def room_of(module: str | None) -> str | None:
    """The innermost documented room a module belongs to (``mlds_jax`` itself excluded)."""
    best = None
    for room in ROOMS[1:]:
        if module == room or (module or "").startswith(room + "."):
            best = room
    return best


def own_doc(obj) -> str | None:
    """The object's own docstring: not inherited, not the one dataclasses/NamedTuple invent."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
        if doc and (dataclasses.is_dataclass(obj) or hasattr(obj, "_fields")) \
                and doc.startswith(obj.__name__ + "("):
            return None
    else:
        doc = getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if doc and doc.strip() else None


def _source_module(room: str, name: str, seen=None) -> str:
    """Follows ``from X import name`` from a room's ``__init__`` to the defining module."""
    seen = seen or set()
    if (room, name) in seen:
        return room
    seen.add((room, name))
    mod = importlib.import_module(room)
    path = pathlib.Path(mod.__file__)
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _source_module(node.module, alias.name, seen)
    return room


def constant_doc(room: str, name: str) -> str | None:
    """A constant's documentation in the module that defines it: the string literal right
    after ``name = ...``, else the comment block right above it, else its trailing comment."""
    module = _source_module(room, name)
    source = pathlib.Path(importlib.import_module(module).__file__).read_text()
    lines = source.splitlines()
    comments = {tok.start[0]: tok.string.lstrip("#").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                if tok.type == tokenize.COMMENT}
    body = ast.parse(source).body
    for prev, node, nxt in zip([None] + body, body, body[1:] + [None]):
        targets = (node.targets if isinstance(node, ast.Assign)
                   else [node.target] if isinstance(node, ast.AnnAssign) else [])
        names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        if name not in names:
            continue
        if (isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):
            return inspect.cleandoc(nxt.value.value)
        first = node  # a comment above a run of assignments documents each of them
        while (isinstance(prev, (ast.Assign, ast.AnnAssign))
               and prev.end_lineno == first.lineno - 1):
            first = prev
            prev = body[body.index(prev) - 1] if body.index(prev) else None
        above, line = [], first.lineno - 1
        while line >= 1 and lines[line - 1].lstrip().startswith("#"):
            above.insert(0, comments[line])
            line -= 1
        if above:
            return "\n".join(above)
        return comments.get(node.lineno) or None
    return None


def collect() -> list[Entry]:
    entries = []
    for room in ROOMS:
        mod = importlib.import_module(room)
        for name in public_names(mod):
            obj = getattr(mod, name)
            kind = kind_of(obj)
            entry = Entry(room, name, obj, kind)
            if kind == "constant":
                entry.doc = constant_doc(room, name)
                if room == "mlds_jax":  # a re-export of another room's constant?
                    src = room_of(_source_module(room, name))
                    if src and name in public_names(importlib.import_module(src)):
                        entry.home = src
            else:
                home = room_of(getattr(obj, "__module__", None))
                if home and home != room and name in public_names(importlib.import_module(home)):
                    entry.home = home
                entry.doc = own_doc(obj)
            entries.append(entry)
    return entries


# ----------------------------------------------------------------------------- rendering

def slug(text: str) -> str:
    """GitHub's heading anchor."""
    return re.sub(r"[^a-z0-9 _-]", "", text.lower()).replace(" ", "-")


def clean(text: str) -> str:
    """Masks what differs between machines and runs: addresses, home and repository paths."""
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", text)
    for path, mask in ((str(pathlib.Path(__file__).resolve().parents[1]), "<repo>"),
                       (sys.prefix, "<prefix>"), (os.path.expanduser("~"), "~")):
        if len(path) > 1:
            text = text.replace(path, mask)
    return text


class _Raw:
    """An annotation shown as written (``from __future__ import annotations`` makes strings)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _raw(annotation):
    return _Raw(annotation) if isinstance(annotation, str) else annotation


def signature(obj) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(...)"
    sig = sig.replace(
        parameters=[p.replace(annotation=_raw(p.annotation)) for p in sig.parameters.values()],
        return_annotation=_raw(sig.return_annotation))
    return clean(str(sig))


class Renderer:
    def __init__(self, entries: list[Entry]):
        self.entries = entries
        self.anchors = {f"{e.room}.{e.name}": slug(f"{e.room}.{e.name}")
                        for e in entries if e.home is None}
        self.by_id = {id(e.obj): self.anchors[f"{e.room}.{e.name}"]
                      for e in entries if e.home is None and e.kind != "constant"}
        self.by_id.update({id(importlib.import_module(room)): slug(room) for room in ROOMS})
        self.broken: list[str] = []
        self.missing: list[str] = []

    # docstring text --------------------------------------------------------------------

    def resolve(self, target: str, context) -> tuple[bool, str | None]:
        """Whether a reference names something, and the anchor of the documented entry it
        names (or of the documented class whose method or attribute it names)."""
        parts = target.rstrip("()").split(".")
        module = context if inspect.ismodule(context) else inspect.getmodule(context)
        scopes = [context] if inspect.isclass(context) else []
        scopes += [module] if module is not None else []
        scopes += [importlib.import_module(room) for room in ROOMS]
        scopes += [importlib.import_module(".".join(parts[:i]))
                   for i in range(len(parts) - 1, 0, -1) if _importable(".".join(parts[:i]))]
        for scope in scopes:
            chain, obj = [], scope
            if scope.__name__ == ".".join(parts[:len(scope.__name__.split("."))]) \
                    and inspect.ismodule(scope):
                rest = parts[len(scope.__name__.split(".")):]
            else:
                rest = parts
            for part in rest:
                obj = getattr(obj, part, _NOTHING)
                if obj is _NOTHING:
                    break
                chain.append(obj)
            if obj is _NOTHING or not chain:
                continue
            for candidate in reversed(chain):
                if id(candidate) in self.by_id:
                    return True, self.by_id[id(candidate)]
            return True, None
        return False, None

    def inline(self, text: str, context, where: str) -> str:
        def role(m):
            tilde, target = m.group(2), m.group(3)
            shown = target.rsplit(".", 1)[-1] if tilde else target
            found, anchor = self.resolve(target, context)
            if not found:
                self.broken.append(f"{where}: :{m.group(1)}:`{m.group(2)}{target}`")
            return f"[`{shown}`](#{anchor})" if anchor else f"`{shown}`"

        text = ROLE.sub(role, text)
        return text.replace("``", "`")

    def docstring(self, doc: str | None, context, where: str) -> list[str]:
        if not doc:
            return []
        lines = doc.splitlines()
        para = []
        for line in lines:
            if not line.strip() or line.strip().rstrip(":") in SECTIONS:
                break
            para.append(line.strip())
        out = [self.inline(" ".join(para), context, where)] if para else []
        i = 0
        while i < len(lines):
            head = lines[i].strip()
            if head.endswith(":") and head[:-1] in SECTIONS and not lines[i].startswith(" "):
                block, i = [], i + 1
                while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                    block.append(lines[i])
                    i += 1
                out += ["", f"**{head[:-1]}:**", ""] + self.section(block, context, where)
                continue
            i += 1
        return out

    def section(self, block: list[str], context, where: str) -> list[str]:
        block = [b for b in block if b.strip()]
        if not block:
            return []
        indent = min(len(b) - len(b.lstrip()) for b in block)
        items: list[str] = []
        for b in block:
            if len(b) - len(b.lstrip()) == indent:
                items.append(b.strip())
            else:
                items[-1] += " " + b.strip()
        out = []
        for item in items:
            m = re.match(r"^(\*{0,2}[A-Za-z_][\w.]*)( \([^)]*\))?: (.*)$", item)
            text = f"`{m.group(1)}`{m.group(2) or ''}: {m.group(3)}" if m else item
            out.append("- " + self.inline(text, context, where))
        return out

    # entries ---------------------------------------------------------------------------

    def render(self) -> str:
        slugs = [slug(r) for r in ROOMS] + list(self.anchors.values())
        assert len(set(slugs)) == len(slugs), "two headings share an anchor"
        out = [
            "# API reference",
            "",
            "Generated from the docstrings by `make api` ([gen_api.py](gen_api.py)); do not edit "
            "by hand. `make test` fails when this file is stale or a public name has no "
            "docstring.",
            "",
            "Rooms (import from these doors only; their private modules may change):",
            "",
        ]
        for room in ROOMS:
            out.append(f"- [`{room}`](#{slug(room)}) — {self.module_summary(room)}")
        for room in ROOMS:
            out += ["", f"## {room}", ""]
            mod = importlib.import_module(room)
            out += self.docstring(own_doc(mod), mod, room)
            mine = [e for e in self.entries if e.room == room]
            for kind, title in (("class", "Classes"), ("function", "Functions"),
                                ("constant", "Constants")):
                group = sorted((e for e in mine if e.kind == kind), key=lambda e: e.name)
                if not group:
                    continue
                out += ["", f"### {title} ({room})"]
                for e in group:
                    out += self.entry(e)
        return "\n".join(clean(line).rstrip() for line in out).rstrip() + "\n"

    def module_summary(self, room: str) -> str:
        doc = own_doc(importlib.import_module(room)) or ""
        return self.inline(doc.split("\n\n")[0].replace("\n", " "), None, room)

    def entry(self, e: Entry) -> list[str]:
        qual = f"{e.room}.{e.name}"
        out = ["", f"#### {qual}", ""]
        if e.home is not None:
            key = f"{e.home}.{e.name}"
            return out + [f"Re-exported from `{e.home}`: see [`{key}`](#{self.anchors[key]})."]
        if not e.doc:
            self.missing.append(qual)
        if e.kind == "constant":
            out += [f"`{e.name}`: `{self.value(e.obj)}`", ""]
            return out + self.docstring(e.doc, importlib.import_module(e.room), qual)
        if e.kind == "function":
            out += ["```python", f"{e.name}{signature(e.obj)}", "```", ""]
            return out + self.docstring(e.doc, e.obj, qual)
        return out + self.klass(e, qual)

    def value(self, obj) -> str:
        """A short, stable repr (no sets: their order varies with the hash seed)."""
        scalar = (int, float, str, bool, type(None))
        items = (list(obj) + list(obj.values()) if isinstance(obj, dict)
                 else obj if isinstance(obj, (tuple, list)) else [obj])
        if all(type(x) in scalar for x in items) and len(repr(obj)) <= 80:
            return repr(obj)
        if isinstance(obj, (dict, list, tuple, set, frozenset)):
            return f"{type(obj).__name__} of {len(obj)}"
        return type(obj).__name__

    def klass(self, e: Entry, qual: str) -> list[str]:
        cls = e.obj
        bases = [b for b in cls.__bases__ if b is not object]
        head = "class " + e.name
        fields = self.fields(cls)
        own_init = any("__init__" in c.__dict__ and c.__module__.startswith("mlds_jax")
                       for c in cls.__mro__)
        if fields is None and own_init and not getattr(cls, "_is_protocol", False):
            head += signature(cls)
        out = ["```python", head, "```", ""]
        if bases:
            names = ", ".join(f"`{b.__qualname__}`" if b.__module__ in ("builtins", "typing")
                              or b.__module__.startswith("mlds_jax")
                              else f"`{b.__module__}.{b.__qualname__}`" for b in bases)
            out += [f"Bases: {names}", ""]
        out += self.docstring(e.doc, cls, qual)
        if fields:
            out += ["", "| field | type | default |", "|---|---|---|"]
            for name, typ, default in fields:
                out.append(f"| `{name}` | `{typ}` | {default} |".replace("|  |", "|   |"))
        methods = self.methods(cls)
        if methods:
            out += ["", "Methods and properties:", ""]
            for name, member, sig in methods:
                doc = own_doc(member.fget if isinstance(member, property) else member)
                if not doc:
                    self.missing.append(f"{qual}.{name}")
                text = self.docstring(doc, cls, f"{qual}.{name}")
                first = text[0] if text else ""
                out.append(f"- `{name}{sig}`" + (f" — {first}" if first else ""))
                out += ["  " + t if t else "" for t in text[1:]]
        return out

    def fields(self, cls):
        """(name, type, default) of a dataclass or NamedTuple; None for other classes."""
        def esc(s: str) -> str:
            return clean(s).replace("|", "\\|")

        if dataclasses.is_dataclass(cls):
            rows = []
            for f in dataclasses.fields(cls):
                typ = f.type if isinstance(f.type, str) else inspect.formatannotation(f.type)
                if f.default is not dataclasses.MISSING:
                    default = f"`{esc(repr(f.default))}`"
                elif f.default_factory is not dataclasses.MISSING:
                    made = getattr(f.default_factory, "__name__", "<lambda>")
                    default = "(made per instance)" if made == "<lambda>" else f"`{made}()`"
                else:
                    default = ""
                rows.append((f.name, esc(typ), default))
            return rows
        if hasattr(cls, "_fields") and issubclass(cls, tuple):
            hints = cls.__dict__.get("__annotations__", {})
            rows = []
            for name in cls._fields:
                typ = hints.get(name, "")
                typ = typ if isinstance(typ, str) else inspect.formatannotation(typ)
                d = cls._field_defaults.get(name, dataclasses.MISSING)
                default = "" if d is dataclasses.MISSING else f"`{esc(repr(d))}`"
                rows.append((name, esc(typ), default))
            return rows
        return None

    def methods(self, cls):
        out = []
        skip = set(getattr(cls, "_fields", ()))
        for name, member in sorted(cls.__dict__.items()):
            if name.startswith("_") or name in skip:
                continue
            if isinstance(member, property):
                ret = inspect.signature(member.fget).return_annotation if member.fget else None
                sig = "" if ret in (None, inspect.Signature.empty) else f" -> {ret}"
                out.append((name, member, " (property)" + sig))
            elif isinstance(member, (staticmethod, classmethod)):
                out.append((name, member.__func__, signature(member.__func__)
                            if isinstance(member, staticmethod)
                            else _drop_first(signature(member.__func__))))
            elif inspect.isfunction(member):
                out.append((name, member, _drop_first(signature(member))))
        return out


_NOTHING = object()


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def _drop_first(sig: str) -> str:
    """``(self, x)`` -> ``(x)``."""
    return re.sub(r"^\((self|cls)(, )?", "(", sig)


def generate() -> tuple[str, list[str], list[str]]:
    """The reference text, the public names without a docstring, and the broken references."""
    renderer = Renderer(collect())
    text = renderer.render()
    return text, sorted(set(renderer.missing)), sorted(set(renderer.broken))


def main() -> int:
    text, missing, broken = generate()
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(OUT.parents[1])} ({len(text.splitlines())} lines)")
    for name in missing:
        print(f"no docstring: {name}", file=sys.stderr)
    for ref in broken:
        print(f"broken reference: {ref}", file=sys.stderr)
    return 1 if missing or broken else 0


if __name__ == "__main__":
    sys.exit(main())
