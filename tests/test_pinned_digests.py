"""Stored bits pinned: a tiny DS1 run (the recipe: restarts, curriculum, fresh data, cosine
rate) and a tiny DS4 run (badnetv2 on the embedded digits) must write the same bytes into
every array as they did when these digests were taken (00f298e, jax 0.8 / the venv's
versions).

Refactors and new spec fields with defaults must leave existing networks unchanged; this is
the guard. A change that means to change a store's bits updates the digests here and says so. New
arrays may join a store (what it records grows); the pinned ones must keep their bytes.

The planned arrays (class, replicate, key, learning rate, machine tables) and the spec digest
are the same on every machine. Trained floats depend on the backend and the GRU path: they
are pinned for the CPU with the fused kernel and with the XLA GRU (``MLDS_JAX_GRU_KERNEL=xla``;
the same bits with ``XLA_FLAGS=--xla_cpu_max_isa=AVX2``: the kernel is built without FMA
contraction, and XLA's dense path on these shapes did not change under that flag).
"""

from __future__ import annotations

import hashlib

import jax
import numpy as np
import pytest
import zarr

from mlds_jax.models import gru_kernel_for
from mlds_jax.pipeline import generate
from mlds_jax.spec import ds1, ds4

# ``array_digest`` of each array; names not listed here are trained floats (FLOATS).
PLANNED = {
    "ds1": {
        "spec_digest": "7a7cf094b871f4eff2b085732afcbcda28b96b9754f8da38ac586da431c47256",
        "class_id": "912f05f8be9dec9b",
        "key": "6aca541b66ef43cb",
        "learning_rate": "d25f13867c1e5bc9",
        "machines/next_state": "710432200c93a8d3",
        "machines/output": "6c0afc6a40036b28",
        "replicate": "57544fe0501b0345",
        "splits/canonical": "e6648b3ce3947cff",
        "splits/held_out_replicates": "e6648b3ce3947cff",
        # the default recording (snapshot epochs, probe sequences), taken at 4351b49
        "snapshots/epoch": "eba5ad6a7a1dc9bf",
        "probe/inputs": "9a51d4fa213c6292",
    },
    "ds4": {
        "spec_digest": "12d05393ec55b0863455d24d71c405f8574643ada0d64bca6bd129228623cb90",
        "class_id": "8bfc794a8958a6a4",
        "key": "48fec48d9b02eb01",
        "learning_rate": "a5f51b3625748687",
        "replicate": "7491a9a4fe0b0457",
        "splits/canonical": "390fd6120cc83ca9",
        "splits/held_out_replicates": "390fd6120cc83ca9",
        "snapshots/epoch": "f6a2c676b2b6ea85",
        "probe/inputs": "23799eca2a5b9f87",
        "probe/test_index": "c242ddb19f474c16",
        "probe/triggered": "8c90687ed1ed4311",
        "probe/label": "e77a4f3e45f2ac1d",
    },
}
_DS1_COMMON = {
    "epochs": "666567ee790766be",
    "final_train_loss": "a9312a77f09f8c87",
    "final_val_loss": "1447a572fc3ffa47",
    "learnt": "1b521e7e04cd87ec",
    "restarts": "dee4611fd6ebcfe7",
    "status": "c31c792670e68543",
    "stopped_early": "1b521e7e04cd87ec",
    "val_bit_accuracy": "ebe7a79737aa29b2",
    "snapshots/reached": "2148a327221d8aec",
}
# (dataset, GRU path) -> trained arrays on a CPU.
FLOATS = {
    ("ds1", "fused"): {
        **_DS1_COMMON,
        "history/train_loss": "ef075424d05a0903",
        "history/val_loss": "e976c3901247fdfc",
        "params": "2f29a31bb3b3f19c",
        "snapshots/params": "3085d5f286f9b762",
        "probe/outputs": "34cc4e27d6757878",
    },
    ("ds1", "xla"): {
        **_DS1_COMMON,
        "history/train_loss": "832a01ec85b607c2",
        "history/val_loss": "263bb761432069f3",
        "params": "8f0a4f14d7dde3d7",
        "snapshots/params": "014d102a9b571140",
        "probe/outputs": "e6db7c868af9e6ac",
    },
    ("ds4", None): {
        "attack_success_rate": "f14f0164f794debe",
        "backdoor_took": "0388aecc2ccac50e",
        "clean_accuracy": "ff944441eb6b7004",
        "epochs": "e9734dc413946da1",
        "final_train_loss": "beb3b4af0d88549d",
        "final_val_loss": "1cb42336e8c73a70",
        "history/train_loss": "298afa9e3019803f",
        "history/val_loss": "192fb547660548fd",
        "learnt": "0388aecc2ccac50e",
        "params": "5df56df801aedea9",
        "poisoned_samples": "d86137dfbe23cada",
        "status": "80064fb141f49a7f",
        "stopped_early": "0388aecc2ccac50e",
        "snapshots/params": "795e5c60d3481dac",
        "snapshots/reached": "fb8691a3fb58c3d5",
        "probe/outputs": "bf4dc168f62f0640",
    },
}


def _specs():
    return {
        "ds1": ds1(1, batch_size=8, seq_len=8, n_train=16, n_val=16, max_epochs=3),
        "ds4": ds4("MNISTbadnetv2_alpha10", 2, image_set="digits", widths=(784, 32, 10),
                   epochs=3),
    }


def array_digest(a: np.ndarray) -> str:
    """First 16 hex digits of SHA-256 over an array's dtype, shape and C-order bytes."""
    a = np.ascontiguousarray(a)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()[:16]


def _digests(g: zarr.Group, prefix: str = "") -> dict[str, str]:
    out = {}
    for name, item in sorted(g.members()):
        if isinstance(item, zarr.Group):
            out.update(_digests(item, f"{prefix}{name}/"))
        else:
            out[prefix + name] = array_digest(item[:])
    return out


@pytest.fixture(scope="module", params=["ds1", "ds4"])
def stored(request, tmp_path_factory):
    if request.param == "ds4":
        pytest.importorskip("sklearn")  # the embedded digits come with scikit-learn
    spec = _specs()[request.param]
    path = tmp_path_factory.mktemp("pinned") / f"{request.param}.zarr"
    generate(spec, path, block_size=spec.n_networks, progress=False)
    return request.param, spec, _digests(zarr.open_group(str(path), mode="r"))


def _float_key(name: str, spec) -> tuple[str, str | None]:
    return (name, gru_kernel_for(spec.model) if name == "ds1" else None)


def test_store_keeps_every_pinned_array(stored):
    """Arrays may be added (a new record, e.g. snapshots), none of these removed."""
    name, _, got = stored
    floats = next(v for k, v in FLOATS.items() if k[0] == name)  # one set per dataset
    missing = ((set(PLANNED[name]) - {"spec_digest"}) | set(floats)) - set(got)
    assert not missing, f"{name}: arrays no longer stored: {sorted(missing)}"


def test_planned_arrays_and_spec_digest_are_pinned(stored):
    name, spec, got = stored
    assert spec.digest == PLANNED[name]["spec_digest"]
    for array, digest in PLANNED[name].items():
        if array != "spec_digest":
            assert got[array] == digest, array


@pytest.mark.skipif(jax.default_backend() != "cpu",
                    reason="trained floats are pinned for the CPU backend only")
def test_trained_arrays_are_pinned(stored):
    name, spec, got = stored
    want = FLOATS[_float_key(name, spec)]
    changed = sorted(a for a, d in want.items() if got[a] != d)
    assert not changed, f"{name}: stored bits changed in {changed}"
