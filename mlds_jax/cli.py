"""The ``mlds-jax`` command line: thin argument parsing over pipeline and store."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence

import numpy as np

from mlds_jax.errors import MLDSError, SpecError
from mlds_jax.store import DONE, open_store


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: " | ".join(str(c).rjust(w) if i else str(c).ljust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(header), "-+-".join("-" * w for w in widths), *map(fmt, rows)])


def band(percent: float) -> str:
    """MLC@Home's progress bands: 0%, < 25%, 25-75%, > 75%, 100%."""
    if percent <= 0:
        return "0%"
    if percent >= 100:
        return "100%"
    if percent < 25:
        return "< 25%"
    return "25-75%" if percent <= 75 else "> 75%"


def status_table(path: str) -> str:
    """Progress per class of one store, with an overall line."""
    view = open_store(path)
    rows, tot = [], {"planned": 0, "done": 0, "failed": 0}
    for r in view.progress():
        rows.append([r["class"], r["planned"], r["done"], r["failed"], f"{r['percent']:.1f}%",
                     band(r["percent"])])
        for k in tot:
            tot[k] += r[k]
    pct = 100.0 * (tot["done"] + tot["failed"]) / max(tot["planned"], 1)
    rows.append(["overall", tot["planned"], tot["done"], tot["failed"], f"{pct:.1f}%",
                 band(pct)])
    name = view.attrs["spec"]["name"]
    return f"{path} ({name}, {view.attrs['spec']['per_class']} per class)\n" + _table(
        rows, ["class", "planned", "done", "failed", "percent", "band"])


def catalogue_table() -> str:
    """Every built-in dataset: its classes and planned networks per class."""
    from mlds_jax.spec import CATALOGUE

    out = []
    for entry in CATALOGUE:
        header = ["Name", *(f"{s}" for s in entry.sizes)]
        rows = [[c, *(f"{s}" for s in entry.sizes)] for c in entry.classes]
        if len(rows) > 12:  # DS3's 100 automata: summarise
            rows = [*rows[:3], ["...", *([""] * len(entry.sizes))], rows[-1]]
        out.append(f"{entry.name.upper()} ({entry.status}): {entry.description}; "
                   f"{len(entry.classes)} classes\n" + _table(rows, header))
    return "\n\n".join(out)


def metrics_table(path: str, threshold: float = 0.99) -> str:
    """Per class: networks done, median validation bit accuracy, share at/above ``threshold``."""
    view = open_store(path)
    status, cls, acc = view["status"], view["class_id"], view["val_bit_accuracy"]
    epochs, early = view["epochs"], view["stopped_early"]
    rows = []
    for k, name in enumerate(view.class_names):
        m = (cls == k) & (status == DONE)
        if not m.any():
            rows.append([name, 0, "-", "-", "-", "-"])
            continue
        rows.append([name, int(m.sum()), f"{np.median(acc[m]):.4f}",
                     f"{100 * np.mean(acc[m] >= threshold):.1f}%",
                     f"{100 * np.mean(early[m]):.1f}%", f"{np.median(epochs[m]):.0f}"])
    return _table(rows, ["class", "done", "median val bit acc", f"acc >= {threshold}",
                         "stopped early", "median epochs"])


def _cmd_generate(args: argparse.Namespace) -> int:
    from mlds_jax.pipeline import generate
    from mlds_jax.spec import get_recipe, load_spec_file

    overrides = {k: v for k, v in {"max_epochs": args.max_epochs}.items() if v is not None}
    if args.spec:
        if args.dataset or args.per_class:
            raise SpecError("give either a dataset name with --per-class, or --spec FILE")
        spec = load_spec_file(args.spec)
        if overrides:
            spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, **overrides))
    else:
        if not args.dataset or not args.per_class:
            raise SpecError("generate needs a dataset name and --per-class N (or --spec FILE)")
        spec = get_recipe(args.dataset)(args.per_class, seed=args.seed, **overrides)
    view, summary = generate(spec, args.out, block_size=args.block_size,
                             progress=not args.quiet)
    print(f"trained {summary['networks']} networks in {summary['seconds']:.1f} s "
          f"({summary['networks_per_second']:.2f} networks/s)")
    print(status_table(args.out))
    print()
    print(metrics_table(args.out))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    print(catalogue_table())
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    print("\n\n".join(status_table(p) for p in args.paths))
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    view = open_store(args.path)
    attrs = dict(view.attrs)
    if args.json:
        print(json.dumps(attrs, indent=2))
        return 0
    spec = attrs.pop("spec")
    attrs.pop("layout")
    print(f"store: {args.path}")
    for k, v in attrs.items():
        print(f"  {k}: {v}")
    print("spec:")
    print("  " + json.dumps(spec, indent=2).replace("\n", "\n  "))
    print(metrics_table(args.path))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlds-jax", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="train a dataset into a Zarr store (resumes)")
    g.add_argument("dataset", nargs="?",
                   help="built-in dataset name: ds1 or ds2 (see `mlds-jax list`)")
    g.add_argument("--spec", help="a TOML spec file defining the dataset (instead of a name)")
    g.add_argument("--per-class", type=_positive_int,
                   help="networks per class (MLDS sizes: 100, 500, 1000, 5000, 10000)")
    g.add_argument("--out", required=True, help="store path (created, or resumed)")
    g.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    g.add_argument("--max-epochs", type=_positive_int, default=None,
                   help="override the recipe's epoch cap")
    g.add_argument("--block-size", type=_positive_int, default=64,
                   help="networks trained together and per store chunk (default 64)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=_cmd_generate)

    lst = sub.add_parser("list", help="the built-in datasets and their planned sizes")
    lst.set_defaults(func=_cmd_list)

    s = sub.add_parser("status", help="progress per class of one or more stores")
    s.add_argument("paths", nargs="+")
    s.set_defaults(func=_cmd_status)

    i = sub.add_parser("info", help="spec, versions and per-class metrics of a store")
    i.add_argument("path")
    i.add_argument("--json", action="store_true", help="print the root attributes as JSON")
    i.set_defaults(func=_cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except MLDSError as e:
        print(f"mlds-jax: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mlds-jax: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
