"""``mlds-jax report --html OUT STORE...``: one self-contained status page, like MLC@Home's.

Per store: the per-class progress table with MLC@Home's bands (0% / < 25% / 25-75% / > 75% /
100%), the share of each class's finished networks that learnt their task, and (unless
``plots=False``) the analysis plots, embedded as base64 PNGs so the page is one file: each
store's section holds its own figures, figures of several stores go in a last section.
"""

from __future__ import annotations

import base64
import datetime
import html
import os
import tempfile
from pathlib import Path

import numpy as np

from mlds_jax.store import (
    DONE,
    StoreView,
    band,
    check_distinct,
    check_output_path,
    open_store,
    progress_total,
)

BANDS = ("0%", "< 25%", "25-75%", "> 75%", "100%")
_BAND_COLOURS = {"0%": "#e0e0e0", "< 25%": "#f4c7c3", "25-75%": "#fce8b2", "> 75%": "#c9e7c0",
                 "100%": "#7cc47f"}


def learnt_shares(view: StoreView) -> tuple[str, list[float | None]]:
    """Per class, the share of its finished networks that learnt the task (``None``: none
    finished), and what "learnt" means for this store (``Store.learnt``: its ``learnt``
    array, or its spec's thresholds applied to its metrics)."""
    return view.learnt_description(), list(view.learnt_share().values())


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _overall_learnt(view: StoreView) -> float | None:
    """The share of all the store's finished networks that learnt (``None``: none done)."""
    done = int(np.sum(view["status"] == DONE))
    return float(np.sum(view.learnt()) / done) if done else None


VERSIONED = ("mlds-jax", "jax", "jaxlib", "numpy", "scipy", "scikit-learn", "zarr",
             "matplotlib", "threadpoolctl")


def environment() -> dict:
    """What the page's numbers and figures were made with: the BLAS/OpenMP thread setting
    (pinned as in ``analyze``) and the versions of the libraries (read from their
    installed metadata; importing JAX is not needed)."""
    from importlib import metadata

    from mlds_jax.analysis import _report

    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {"threads": _report.thread_record(), "versions": versions}


def _environment_html(env: dict) -> str:
    th = env["threads"]
    libs = ", ".join(f"{x['internal_api']} {x['num_threads']}" for x in th["libraries"])
    vers = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    return (f"<section><h2>Environment</h2><p>BLAS/OpenMP threads pinned to {th['limit']} "
            f"(threadpoolctl): {html.escape(libs or 'none loaded')}.</p><p>Versions: "
            f"{html.escape(vers)}.</p></section>")


def _figures(images: list[Path]) -> str:
    return "".join(
        f"<figure><img alt=\"{html.escape(p.name)}\" src=\"data:image/png;base64,"
        f"{base64.b64encode(p.read_bytes()).decode()}\"><figcaption>{html.escape(p.name)}"
        f"</figcaption></figure>" for p in images)


def _store_section(view: StoreView, images: list[Path]) -> str:
    what, shares = learnt_shares(view)
    progress = view.progress()
    tot = progress_total(progress)
    rows = []
    for r, share in zip(progress, shares):
        b = band(r["percent"])
        rows.append(f"<tr><td>{html.escape(r['class'])}</td><td>{r['planned']}</td>"
                    f"<td>{r['done']}</td><td>{r['failed']}</td>"
                    f"<td style=\"background:{_BAND_COLOURS[b]}\">{r['percent']:.1f}% "
                    f"({html.escape(b)})</td><td>{_pct(share)}</td></tr>")
    pct, b = tot["percent"], tot["band"]
    overall = _overall_learnt(view)
    rows.append(f"<tr class=\"total\"><td>overall</td><td>{tot['planned']}</td>"
                f"<td>{tot['done']}</td><td>{tot['failed']}</td>"
                f"<td style=\"background:{_BAND_COLOURS[b]}\">{pct:.1f}% ({html.escape(b)})"
                f"</td><td>{_pct(overall)}</td></tr>")
    imgs = _figures(images)
    spec = view.attrs["spec"]
    return (f"<section><h2>{html.escape(Path(view.path).name)} — {html.escape(spec['name'])}"
            f"</h2><p>{view.attrs['n_networks']} networks, {len(view.class_names)} "
            f"class(es); learnt = {html.escape(what)}.</p>"
            "<table><thead><tr><th>class</th><th>planned</th><th>done</th><th>failed</th>"
            "<th>progress</th><th>learnt</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>" + imgs + "</section>")


# The page's title: an existing --html file holding it is this command's earlier page (rewritten)
_MARK = b"<title>mlds-jax status</title>"
_CSS = ("body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
        "margin:1em 0}td,th{border:1px solid #bbb;padding:4px 10px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}tr.total{font-weight:bold}"
        "img{max-width:100%}figure{margin:1em 0}.legend span{padding:2px 8px;margin-right:4px}")


def html_report(paths: list[str | os.PathLike], out: str | os.PathLike, *,
                plots: bool = True, sample: int | None = 2000, seed: int = 0,
                progress: bool = True) -> Path:
    """Writes the status page for ``paths`` to ``out`` (one HTML file) and returns its path.
    ``progress``: a bar over its steps (the plots take most of the time)."""
    from mlds_jax._progress import progress_bar
    from mlds_jax.analysis import _plots, _report
    from mlds_jax.analysis._features import select

    check_distinct(paths)  # a store given twice would count twice
    # never inside a store it reads; rewrites only its own earlier page
    check_output_path(out, paths, replaces=_MARK)
    _report.check_sample(sample, seed)
    views = [open_store(p) for p in paths]
    images: dict[str, list[Path]] = {str(v.path): [] for v in views}
    joint: list[Path] = []  # figures of several stores (DS4 histograms)
    bar = progress_bar(1 + plots, "report", enabled=progress, unit="step")
    with tempfile.TemporaryDirectory() as tmp, bar:
        if plots:
            bar.set_postfix_str(f"plots of {len(views)} store(s)")
            from threadpoolctl import threadpool_limits

            ready = [v for v in views if len(select(v))]
            _report.load_native()
            _plots.LABELS.update(_plots.distinct_labels(paths))  # A/s.zarr, B/s.zarr apart
            try:
                for v in ready:
                    _report._SAMPLE[str(v.path)] = select(v, sample=sample, seed=seed)
                with threadpool_limits(limits=_report.THREADS):
                    names = _report.plots(ready, Path(tmp), seed)
                owners = {f"_{_plots.store_name(v)}.png": v for v in ready}
            finally:
                _report._SAMPLE.clear()
                _report._FEATURES.clear()
                _plots.LABELS.clear()
            for name in names:  # a store's own figures end in _<store>.png
                owner = next((v for k, v in owners.items() if name.endswith(k)), None)
                (images[str(owner.path)] if owner else joint).append(Path(tmp) / name)
            bar.update(1)
        bar.set_postfix_str("tables and page")
        legend = "".join(f"<span style=\"background:{_BAND_COLOURS[b]}\">{html.escape(b)}"
                         "</span>" for b in BANDS)
        when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        body = "".join(_store_section(v, images[str(v.path)]) for v in views)
        if joint:
            body += "<section><h2>Across the stores</h2>" + _figures(joint) + "</section>"
        from threadpoolctl import threadpool_limits

        from mlds_jax.analysis import _report

        _report.load_native()
        with threadpool_limits(limits=_report.THREADS):
            body += _environment_html(environment())
        page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                + _MARK.decode() + "<style>" + _CSS + "</style></head><body>"
                f"<h1>mlds-jax status</h1><p>{when}. Progress bands: </p>"
                f"<p class=\"legend\">{legend}</p>" + body + "</body></html>")
        bar.update(1)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
