"""Stored bits pinned: a tiny DS1 run (the recipe: restarts, curriculum, fresh data, cosine
rate) and a tiny DS4 run (badnetv2 on the embedded digits) must write the same bytes into
every array as they did when these digests were taken (00f298e, jax 0.8 / the venv's
versions).

Refactors and new spec fields with defaults must leave existing networks unchanged; this is
the guard. A change that means to change a store's bits updates the digests here and says so. New
arrays may join a store (what it records grows); the pinned ones must keep their bytes.

The planned arrays (class, replicate, key, learning rate, machine tables) and the spec digest
are the same on every machine. Trained floats depend on the backend, the GRU path and the kind
of CPU: they are pinned for the CPU with the fused kernel and with the XLA GRU
(``MLDS_JAX_GRU_KERNEL=xla``) on each kind of CPU in FLOATS. On the Intel Xeon,
``XLA_FLAGS=--xla_cpu_max_isa=AVX2`` gave the same bits, but an AMD EPYC without AVX-512 gives
others: XLA compiles for the host CPU, not only its instruction set. On a CPU with no pins the
float check is skipped (saying so) unless its floats equal a pinned set.
"""

from __future__ import annotations

import hashlib

import jax
import numpy as np
import pytest
import zarr

from mlds_jax._provenance import cpu_description
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
# What is no float (counts, flags): the same on every CPU.
_DS1_COUNTS = {
    "epochs": "666567ee790766be",
    "learnt": "1b521e7e04cd87ec",
    "restarts": "dee4611fd6ebcfe7",
    "status": "c31c792670e68543",
    "stopped_early": "1b521e7e04cd87ec",
    "val_bit_accuracy": "ebe7a79737aa29b2",
    "snapshots/reached": "2148a327221d8aec",
}
_DS1_COMMON = {
    **_DS1_COUNTS,
    "final_train_loss": "a9312a77f09f8c87",
    "final_val_loss": "1447a572fc3ffa47",
}
# (dataset, GRU path) -> trained arrays, taken on an Intel Xeon (AVX-512).
INTEL_AVX512 = {
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

# The same runs on a 2-core AMD EPYC (family 25, AVX2, no AVX-512), 2026-12-08.
AMD_AVX2 = {
    ("ds1", "fused"): {
        **_DS1_COUNTS,
        "final_train_loss": "3ab4992981ad57ce",
        "final_val_loss": "01ea3d0429692784",
        "history/train_loss": "a1f60795d009ee42",
        "history/val_loss": "3146673920669f67",
        "params": "24f3f26bbb61d9be",
        "snapshots/params": "8899c7acc95801a3",
        "probe/outputs": "48083cfa74f731e2",
    },
    ("ds1", "xla"): {
        **_DS1_COUNTS,
        "final_train_loss": "3ab4992981ad57ce",
        "final_val_loss": "c82bd5b2da101da7",
        "history/train_loss": "fdca0dde403ad81b",
        "history/val_loss": "d65edab8f00d8027",
        "params": "396a32e18f186413",
        "snapshots/params": "b7d1c4083fb5dae2",
        "probe/outputs": "db6f480af0a4e909",
    },
    ("ds4", None): {
        "attack_success_rate": "f14f0164f794debe",
        "backdoor_took": "0388aecc2ccac50e",
        "clean_accuracy": "ff944441eb6b7004",
        "epochs": "e9734dc413946da1",
        "final_train_loss": "aa59d3c5f6ddcbfe",
        "final_val_loss": "01dd2a55a581adef",
        "history/train_loss": "eb93a1423e7934bc",
        "history/val_loss": "57e9da941741b5ec",
        "learnt": "0388aecc2ccac50e",
        "params": "481138fe9470b7ce",
        "poisoned_samples": "d86137dfbe23cada",
        "status": "80064fb141f49a7f",
        "stopped_early": "0388aecc2ccac50e",
        "snapshots/params": "b1b1a3f08642700a",
        "snapshots/reached": "fb8691a3fb58c3d5",
        "probe/outputs": "82e31c70c215c87c",
    },
}
# cpu_description() -> pins. XLA:CPU compiles for the CPU it runs on, and its dot and
# reduction code (blocking by cache size, vector width, LLVM's per-CPU cost model) may add
# the same products in another order, so trained floats are pinned per kind of CPU (a store
# records its CPU and `verify --recompute` says so when it differs).
FLOATS = {
    "Intel(R) Xeon(R) Processor (avx512f)": INTEL_AVX512,
    "AMD EPYC (avx2)": AMD_AVX2,
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
    floats = next(v for k, v in INTEL_AVX512.items() if k[0] == name)  # one set per dataset
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
    key, cpu = _float_key(name, spec), cpu_description()
    pinned = {c: pins[key] for c, pins in FLOATS.items() if key in pins}
    if cpu not in pinned:
        # Another kind of CPU: its floats need not equal any pinned set, but often do.
        if not any(all(got[a] == d for a, d in want.items()) for want in pinned.values()):
            pytest.skip(f"trained floats of {key} are pinned on {sorted(pinned)}, "
                        f"not on this CPU ({cpu}): add its digests to FLOATS")
        return
    changed = sorted(a for a, d in pinned[cpu].items() if got[a] != d)
    assert not changed, f"{name} on {cpu}: stored bits changed in {changed}"


def test_pins_cover_each_cpu_alike():
    """Every pinned CPU has the same (dataset, GRU path) keys and the same arrays, and the
    arrays that are no floats (counts, flags) agree between CPUs."""
    sets = list(FLOATS.values())
    for pins in sets[1:]:
        assert pins.keys() == sets[0].keys()
        for key, want in pins.items():
            assert want.keys() == sets[0][key].keys()
            for a in ("epochs", "learnt", "status", "stopped_early", "snapshots/reached"):
                assert want[a] == sets[0][key][a], (key, a)


if __name__ == "__main__":  # pins for a new kind of CPU: run once per GRU path, e.g.
    # `python tests/test_pinned_digests.py` and `MLDS_JAX_GRU_KERNEL=xla python ...` (ds1 only)
    import json
    import tempfile

    for name, spec in _specs().items():
        with tempfile.TemporaryDirectory() as d:
            generate(spec, f"{d}/{name}.zarr", block_size=spec.n_networks, progress=False)
            got = _digests(zarr.open_group(f"{d}/{name}.zarr", mode="r"))
        want = INTEL_AVX512[_float_key(name, spec) if name == "ds4" else (name, "fused")]
        print(cpu_description(), _float_key(name, spec),
              json.dumps({a: got[a] for a in want}, indent=1))
