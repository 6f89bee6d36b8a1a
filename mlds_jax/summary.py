"""Human- and JSON-readable summaries of stores, plans and the catalogue (what the CLI
prints; the CLI itself only parses arguments and prints these)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from mlds_jax.spec import IMAGE, SEQUENCE, grid_labels, grid_text, spec_grids, stored_grids, task_of
from mlds_jax.store import DONE, band, headline_metric, open_store, progress_total


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: " | ".join(str(c).rjust(w) if i else str(c).ljust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(header), "-+-".join("-" * w for w in widths), *map(fmt, rows)])


def status_table(path: str) -> str:
    """Progress per class of one store, with an overall line (and, for a store with a grid,
    a table per grid value: :func:`grid_table`)."""
    view = open_store(path)
    progress = view.progress()
    tot = progress_total(progress)
    n_learnt = [int(n) for n in view.learnt_counts()]
    rows = [[r["class"], r["planned"], r["done"], r["failed"], f"{r['percent']:.1f}%",
             band(r["percent"]), _share(n, r["done"])] for r, n in zip(progress, n_learnt)]
    rows.append(["overall", tot["planned"], tot["done"], tot["failed"],
                 f"{tot['percent']:.1f}%", tot["band"], _share(sum(n_learnt), tot["done"])])
    name = view.attrs["spec"]["name"]
    per_class = view.attrs["n_networks"] // len(view.class_names)
    by_value = grid_table(path)
    return (f"{path} ({name}, {per_class} per class; learnt: "
            f"{view.learnt_description()})\n"
            + table(rows, ["class", "planned", "done", "failed", "percent", "band", "learnt"])
            + (f"\n\n{by_value}" if by_value else ""))


def _span(values: np.ndarray) -> str:
    """``"75"`` when every value is 75, else ``"75-448"`` (e.g. over a poison fraction grid)."""
    lo, hi = int(values.min()), int(values.max())
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _share(k: int, n: int) -> str:
    """``"k/n (p%)"`` or ``"-"`` when ``n`` is 0."""
    return f"{k}/{n} ({100 * k / n:.0f}%)" if n else "-"


def catalogue() -> list[dict]:
    """Every built-in dataset as JSON-able records: name, status, description, and its
    classes (DS1-DS3) or datasets (DS4, one class of many networks each) with their planned
    networks per class."""
    from mlds_jax.spec import CATALOGUE

    return [{"name": e.name, "status": e.status, "description": e.description,
             "unit": "datasets" if e.name == "ds4" else "classes",
             "classes": list(e.classes), "planned_networks_per_class": list(e.sizes)}
            for e in CATALOGUE]


def _fold_numbered(rows: list[list[str]], least: int = 4) -> list[list[str]]:
    """Runs of at least ``least`` rows named ``<prefix><n>``, ``<prefix><n+1>``, ... with
    equal values as one row (DS3's 100 automata: ``Automaton000-Automaton099 (100 classes)``)."""
    out: list[list[str]] = []
    run: list[list[str]] = []

    def parts(row: list[str]):
        m = re.fullmatch(r"(.*?)(\d+)", row[0])
        return (m.group(1), len(m.group(2)), int(m.group(2)), row[1:]) if m else None

    def follows(row: list[str], prev: list[str]) -> bool:
        a, b = parts(row), parts(prev)
        return a is not None and b is not None and a[:2] == b[:2] and a[2] == b[2] + 1 \
            and a[3] == b[3]

    def flush() -> None:
        if len(run) >= least:
            out.append([f"{run[0][0]}-{run[-1][0]} ({len(run)} classes)", *run[0][1:]])
        else:
            out.extend(run)
        run.clear()

    for row in rows:
        if run and not follows(row, run[-1]):
            flush()
        run.append(row)
    flush()
    return out


def catalogue_table() -> str:
    """Every built-in dataset: its classes and planned networks per class (every name)."""
    out = []
    for e in catalogue():
        sizes = e["planned_networks_per_class"]
        header = ["Name", *(f"{s}" for s in sizes)]
        rows = _fold_numbered([[c, *(f"{s}" for s in sizes)] for c in e["classes"]])
        if e["unit"] == "datasets":
            count = (f"{len(e['classes'])} datasets of {', '.join(map(str, sizes))} networks each")
        else:
            count = f"{len(e['classes'])} classes; networks per class: {', '.join(map(str, sizes))}"
        out.append(f"{e['name'].upper()} ({e['status']}): {e['description']}; {count}\n"
                   + table(rows, header))
    return "\n\n".join(out)


def metrics_table(path: str) -> str:
    """Per class: networks done, median validation bit accuracy, share learnt (the store's
    thresholds), share stopped early, median epochs (DS4 stores: clean accuracy, attack
    success rate, share whose backdoor took, share learnt)."""
    view = open_store(path)
    return METRICS_TABLES[task_of(view.attrs)](view, view.learnt())


def _image_metrics_table(view, learnt: np.ndarray) -> str:
    """A DS4 store's one-row table (``learnt``: bool ``[n_networks]``)."""
    st, acc = view["status"] == DONE, view["clean_accuracy"]
    asr, took = view["attack_success_rate"], view["backdoor_took"]
    if not st.any():
        return "no network done yet"
    row = [view.class_names[0], int(st.sum()), f"{np.median(acc[st]):.4f}",
           f"{np.median(asr[st]):.4f}", f"{100 * np.mean(took[st]):.1f}%",
           f"{100 * np.mean(learnt[st]):.1f}%",
           _span(view["poisoned_samples"][st])]
    return table([row], ["dataset", "done", "median clean acc", "median ASR",
                          "backdoor took", "learnt", "poisoned samples"])


def _sequence_metrics_table(view, learnt: np.ndarray) -> str:
    """A sequence store's table, a row per class (``learnt``: bool ``[n_networks]``)."""
    status, cls, acc = view["status"], view["class_id"], view["val_bit_accuracy"]
    epochs, early = view["epochs"], view["stopped_early"]
    # stores of format 3 count restarts; a spec without them has none to show
    restarts = view["restarts"] if view.attrs["spec"]["train"].get("max_restarts") else None
    header = ["class", "done", "median val bit acc", "learnt", "stopped early",
              "median epochs"] + (["restarted"] if restarts is not None else [])
    rows = []
    for k, name in enumerate(view.class_names):
        m = (cls == k) & (status == DONE)
        if not m.any():
            rows.append([name, 0] + ["-"] * (len(header) - 2))
            continue
        rows.append([name, int(m.sum()), f"{np.median(acc[m]):.4f}",
                     f"{100 * np.mean(learnt[m]):.1f}%",
                     f"{100 * np.mean(early[m]):.1f}%", f"{np.median(epochs[m]):.0f}"]
                    + ([f"{100 * np.mean(restarts[m] > 0):.1f}%"] if restarts is not None
                       else []))
    return table(rows, header)


# Each task's metrics table of a store view (see metrics_table).
METRICS_TABLES = {SEQUENCE: _sequence_metrics_table, IMAGE: _image_metrics_table}


def status_record(path: str) -> dict:
    """One store's progress as a JSON-able record (the ``status`` table's numbers; with a
    grid, ``grid``: :func:`grid_records`)."""
    view = open_store(path)
    rows = [{**r, "band": band(r["percent"]), "learnt": int(n)}
            for r, n in zip(view.progress(), view.learnt_counts())]
    by_value = grid_records(path)
    return {"path": path, "dataset": view.attrs["spec"]["name"],
            "task": task_of(view.attrs).name,
            "per_class": view.attrs["n_networks"] // len(view.class_names),
            "learnt_thresholds": view.learnt_thresholds,
            "classes": rows, "overall": {**progress_total(rows),
                                         "learnt": sum(r["learnt"] for r in rows)},
            **({"grid": by_value} if by_value else {})}


def plan_record(spec, block_size: int, process_count: int = 1,
                chunk_width: int | None = None) -> dict[str, Any]:
    """How ``spec`` splits into blocks, chunks, devices and processes, and its store sizes
    (JSON-able)."""
    import jax

    from mlds_jax.coord import make_plan
    from mlds_jax.store import storage_chunks
    from mlds_jax.train import task_layout, task_width

    n_params = task_layout(spec).n_params
    plan = make_plan(spec.n_networks, block_size, len(jax.local_devices()), process_count)
    layout = storage_chunks("float32", min(block_size, spec.n_networks), (n_params,))
    return {"dataset": spec.name, "task": spec.task,
            "classes": len(spec.classes), "per_class": spec.per_class,
            "n_networks": spec.n_networks, "n_params": n_params, "block_size": block_size,
            "chunk_width": chunk_width or task_width(spec, block_size=block_size),
            "grids": spec_grids(spec),
            "plan": plan, "params_bytes": spec.n_networks * n_params * 4,
            "params_shard": list(layout.get("shards", layout["chunks"])),
            "params_chunk": list(layout["chunks"]),
            "recording": recording_sizes(spec, n_params)}


def recording_sizes(spec, n_params: int) -> dict[str, Any]:
    """What a store of ``spec`` records along training and its uncompressed size per network:
    snapshot epochs, probe inputs (DS4: twice the probe images, clean and triggered; at most,
    a smaller test split gives fewer) and bytes of ``params``, ``snapshots/params``,
    ``snapshots/reached`` and ``probe/outputs`` per network."""
    from mlds_jax.spec import probe_count, snapshot_schedule

    epochs = snapshot_schedule(spec.train)
    image = task_of(spec).images
    n_probe = probe_count(spec) * (2 if image else 1)
    per_probe = spec.widths[-1] if image else spec.train.seq_len * spec.model.output_size
    per_net = {"params": n_params * 4, "snapshots": len(epochs) * (n_params * 4 + 1),
               "probe_outputs": len(epochs) * n_probe * per_probe * 4}
    return {"snapshot_epochs": list(epochs), "probe_inputs": n_probe,
            "bytes_per_network": {**per_net, "total": sum(per_net.values())}}


def plan_text(spec, block_size: int, process_count: int = 1,
              chunk_width: int | None = None) -> str:
    """:func:`plan_record` as text, with XLA's memory estimate for one chunk (GRU tasks)."""
    from mlds_jax.coord import xla_block_memory

    r = plan_record(spec, block_size, process_count, chunk_width)
    lines = [f"dataset {spec.name}: {len(spec.classes)} classes x {spec.per_class} = "
             f"{spec.n_networks} networks"]
    lines += [f"  {k}: {v}" for k, v in r["plan"].items()]
    lines.append(f"  chunk_width: {r['chunk_width']} networks per compiled chunk")
    chunks, devices = -(-block_size // r["chunk_width"]), r["plan"]["devices_per_process"]
    if chunks < devices:
        lines.append(f"  note: a block is {chunks} chunk(s) for {devices} devices: "
                     f"{devices - chunks} idle while it trains (larger blocks, e.g. "
                     "--block-size auto, keep every device busy)")
    if task_of(spec).images:
        lines.append("  memory: see docs/ds4.md (depends on the image set)")
    else:
        m = xla_block_memory(spec, r["chunk_width"])
        if m is not None:
            mb = (m.temp_size_in_bytes + m.argument_size_in_bytes
                  + m.output_size_in_bytes) / 2**20
            lines.append(f"  estimated device memory per chunk (XLA): {mb:.0f} MB "
                         f"(scratch {m.temp_size_in_bytes / 2**20:.0f} MB)")
    if spec_grids(spec):
        lines.append(f"  {grid_text(spec_grids(spec))}")
    n_params = r["n_params"]
    lines.append(f"  store: params {spec.n_networks * n_params * 4 / 2**20:.1f} MB, block "
                 f"{block_size * n_params * 4 / 2**20:.2f} MB")
    rec = r["recording"]
    if rec["snapshot_epochs"]:
        b = rec["bytes_per_network"]
        lines.append(f"  snapshots at epochs {rec['snapshot_epochs']}, outputs on "
                     f"{rec['probe_inputs']} probe inputs: "
                     f"{spec.n_networks * (b['snapshots'] + b['probe_outputs']) / 2**20:.1f} MB "
                     f"more; {b['total'] / 2**10:.1f} KB per network in all (uncompressed; "
                     "--snapshots none keeps final weights only)")
    return "\n".join(lines)


def grid_records(path: str) -> list[dict[str, Any]]:
    """Per value of the store's grid (learning rate or DS4 poison fraction; see
    :func:`~mlds_jax.spec.stored_grids`): networks planned and done, and among the done
    ones the median accuracy (DS1-DS3: validation bit accuracy; DS4: clean accuracy), for a
    poisoned DS4 store the median attack success rate and the share whose backdoor took,
    the share learnt and the median epochs (``None``: none done). Empty without a grid."""
    view = open_store(path)
    grids = stored_grids(view.attrs["spec"])
    if not grids:
        return []
    (name, grid), = grids.items()  # a spec has at most one grid
    task = task_of(view.attrs)
    poisoned = task.images and view.attrs["spec"].get("poison") is not None
    metric = headline_metric(task)
    done, pos, learnt = view["status"] == DONE, grid_labels(view[name], grid), view.learnt()
    cols = {metric: view[metric], "epochs": view["epochs"]}
    if poisoned:
        cols["attack_success_rate"] = view["attack_success_rate"]
    out = []
    for k, value in enumerate(grid):
        m = done & (pos == k)
        med = {f"median_{c}": float(np.median(a[m])) if m.any() else None
               for c, a in cols.items()}
        shares = {"learnt": float(np.mean(learnt[m])) if m.any() else None}
        if poisoned:
            shares["backdoor_took"] = float(np.mean(view["backdoor_took"][m])) if m.any() \
                else None
        out.append({"grid": name, "value": value, "planned": int(np.sum(pos == k)),
                    "done": int(m.sum()), **med, **shares})
    return out


def grid_table(path: str) -> str:
    """:func:`grid_records` as a table, one row per grid value; empty without a grid."""
    recs = grid_records(path)
    if not recs:
        return ""
    image = "median_clean_accuracy" in recs[0]
    poisoned = "median_attack_success_rate" in recs[0]
    pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    num = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    header = [recs[0]["grid"].replace("_", " "), "planned", "done",
              f"median {'clean acc' if image else 'val bit acc'}"]
    header += ["median ASR", "backdoor took"] if poisoned else []
    header += ["learnt", "median epochs"]
    rows = []
    for r in recs:
        row = [f"{r['value']:g}", r["planned"], r["done"],
               num(r["median_clean_accuracy" if image else "median_val_bit_accuracy"], ".4f")]
        if poisoned:
            row += [num(r["median_attack_success_rate"], ".4f"), pct(r["backdoor_took"])]
        rows.append(row + [pct(r["learnt"]), num(r["median_epochs"], ".0f")])
    return table(rows, header)
