"""The dataset card: what a store holds, in Markdown, for whoever receives it.

Written into every store's root attribute ``card`` when its last block is written
(:func:`~mlds_jax.store.finish_store`, which also consolidates the Zarr metadata for plain
``xarray``), and as ``README.md`` into every export (``export --hf``, ``pack``). Sections:
recipe, sizes, learnt shares, known limitations, source-data licences, citation. The spec
itself is in the card as JSON, so the card alone says how to rebuild the store.
"""

from __future__ import annotations

import json
from typing import Any

import zarr

from mlds_jax._version import __version__
from mlds_jax.spec import SEQUENCE, task_of

CARD_NAME = "README.md"  # the card's file in an export
CARD_ATTR = "card"  # the root attribute holding it in a store

# Image sets DS4 trains on: where they come from and under which licence.
IMAGE_LICENCES = {
    "digits": "scikit-learn's copy of the UCI 'Optical Recognition of Handwritten Digits' "
              "set (E. Alpaydin, C. Kaynak), CC BY 4.0; 8x8 images upsampled to 28x28",
    "mnist": "MNIST (Y. LeCun, C. Cortes, C. J. C. Burges), distributed under CC BY-SA 3.0",
    "fashionmnist": "Fashion-MNIST (Zalando Research, H. Xiao, K. Rasul, R. Vollgraf), MIT "
                    "licence",
    "kmnist": "Kuzushiji-MNIST (ROIS-DS Center for Open Data in the Humanities, T. Clanuwat "
              "et al.), CC BY-SA 4.0",
}

CITATION = """\
@software{mlds_jax,
  title   = {mlds-jax: datasets of trained neural networks (MLDS model zoos), trained in
             bulk with JAX},
  author  = {{The mlds-jax developers}},
  version = {VERSION},
  license = {MIT},
}
Please also cite MLC@Home's MLDS datasets (https://www.mlcathome.org/), whose recipes these
stores rebuild."""


def _recipe_train(spec: dict[str, Any], task) -> Any:
    """The train spec of the named dataset's recipe (``None`` when the name has none)."""
    from mlds_jax.spec import ds4, get_recipe

    task = task_of(task)
    try:
        recipe = ds4(spec["name"], 1) if task.images else get_recipe(spec["name"])(1)
        return recipe.train
    except Exception:  # noqa: BLE001 - a spec file's own name has no recipe
        return None


def _recipe_cap(spec: dict[str, Any], task) -> int | None:
    """The epoch cap of the named dataset's recipe (``None`` when the name has none)."""
    train = _recipe_train(spec, task)
    return None if train is None else int(getattr(train, task_of(task).epochs_field))


def epoch_cap_note(store) -> str | None:
    """What a store's caps mean when they are below its recipe's: its epoch cap (e.g. ``make
    demo``'s 100 against DS1's 600) and its restarts (the demo's 0 against DS1's 2); else
    ``None``."""
    spec, task = store.attrs["spec"], task_of(store.task)
    train = spec.get("train", {})
    recipe = _recipe_train(spec, task)
    if recipe is None:
        return None
    notes = []
    cap, recipe_cap = train.get(task.epochs_field), int(getattr(recipe, task.epochs_field))
    if cap is not None and cap < recipe_cap:
        notes.append(f"Trained with an epoch cap of {cap}; the {spec['name']} recipe's is "
                     f"{recipe_cap}.")
    restarts = int(train.get("max_restarts") or 0)
    recipe_restarts = int(getattr(recipe, "max_restarts", None) or 0)
    if restarts < recipe_restarts:
        notes.append(f"Trained with {restarts or 'no'} restart{'s' * (restarts != 1)} of a "
                     f"network unlearnt at the cap; the recipe allows {recipe_restarts}.")
    if not notes:
        return None
    return " ".join([*notes, "Classes that learn slowly have lower learnt shares than the "
                              "recipe gives."])


def _limitations(store, spec: dict[str, Any]) -> list[str]:
    task = task_of(store.task)
    out = [note] if (note := epoch_cap_note(store)) else []
    if task is SEQUENCE:
        out.append("The DS1-DS3 machines are reconstructions from MLDS's public descriptions, "
                   "not MLDS's own code; its networks are comparable in kind, not bit for bit.")
    else:
        out.append("DS4 networks are evaluated on the image set's test split; a backdoor is "
                   "counted as taken at the spec's asr_threshold.")
    out.append("Retraining a network reproduces it bit for bit only on the same backend, "
               "library versions and GRU path (see `mlds-jax verify --recompute`).")
    n = store.n_networks
    done = int((store["status"] == 1).sum())
    if done < n:
        out.append(f"{n - done} of {n} networks are not finished (status pending or failed); "
                   "filter on `status == 1`.")
    return out


def _licences(store, spec: dict[str, Any]) -> str:
    if not task_of(store.task).images:
        return ("No third-party data: every training sequence is generated from the "
                "automata in the spec (and stored per class under `machines/`).")
    name = str(spec.get("image_set") or "mnist").lower()
    return IMAGE_LICENCES.get(name, f"image set {name!r}: see its own licence")


def dataset_card(store, *, extra: dict[str, str] | None = None) -> str:
    """The Markdown card of an open :class:`~mlds_jax.store.Store`. ``extra``: more
    sections (title -> Markdown) placed before the citation (an export's own files)."""
    attrs, spec = store.attrs, store.attrs["spec"]
    share = store.learnt_share()
    counts = store.learnt_counts()
    lines = [f"# {spec['name']}: a dataset of trained neural networks", "",
             f"Built with mlds-jax {attrs.get('library_version', '?')} (card written by "
             f"{__version__}); open it with `mlds_jax.open_store(path)` or plain Zarr v3 / "
             "xarray (docs/store-format.md).", "",
             "## Recipe", "",
             f"Task: {store.task}; learnt means {store.learnt_description()}. The spec "
             "(rebuild with `mlds-jax generate --spec spec.json`):", "",
             "```json", json.dumps(spec, indent=1, sort_keys=True), "```", "",
             "## Sizes", "",
             f"- networks: {store.n_networks} ({len(store.class_names)} classes)",
             f"- parameters per network: {attrs['n_params']} (float32)",
             f"- per-network arrays: {', '.join(sorted(_array_names(store.group)))}", "",
             "## Learnt shares", "",
             "| class | done | learnt | share |", "| --- | ---: | ---: | ---: |"]
    done = {r["class"]: r["done"] for r in store.progress()}
    for k, name in enumerate(store.class_names):
        s = share[name]
        lines.append(f"| {name} | {done[name]} | {int(counts[k])} | "
                     f"{'-' if s is None else f'{s:.1%}'} |")
    lines += ["", "## Known limitations", ""]
    lines += [f"- {t}" for t in _limitations(store, spec)]
    lines += ["", "## Source data and licences", "", _licences(store, spec), "",
              "The networks themselves (this store) are released under the MIT licence of "
              "mlds-jax unless the publisher says otherwise.", ""]
    for title, text in (extra or {}).items():
        lines += [f"## {title}", "", text, ""]
    lines += ["## Citation", "", "```bibtex", CITATION.replace("VERSION", __version__), "```",
              ""]
    return "\n".join(lines)


def _array_names(group: zarr.Group, prefix: str = "") -> list[str]:
    out = []
    for name, node in group.members():
        if isinstance(node, zarr.Group):
            out += _array_names(node, f"{prefix}{name}/")
        else:
            out.append(prefix + name)
    return out
