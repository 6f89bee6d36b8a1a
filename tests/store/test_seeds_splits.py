"""Seeds as a zoo dimension (init and data-order seeds, paired zoos) and canonical splits."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import zarr

pytest.importorskip("sklearn")  # the embedded digits come with scikit-learn

from mlds_jax.errors import SpecError  # noqa: E402
from mlds_jax.pipeline import generate  # noqa: E402
from mlds_jax.spec import (  # noqa: E402
    SPLIT_CODES,
    ImageDatasetSpec,
    ds1,
    ds2,
    ds3,
    ds4,
    load_spec_file,
    network_split,
    network_splits,
    split_names,
    with_overrides,
)
from mlds_jax.store import Store, open_store, verify  # noqa: E402
from mlds_jax.train import network_inputs  # noqa: E402

KW = dict(image_set="digits", widths=(784, 16, 10), epochs=2)
N = 6
INIT, ORDER = (7, 7, 7, 8, 9, 10), (0, 1, 2, 3, 4, 5)  # networks 0-2 share an init seed


def _seeded(name: str, n: int = N) -> ImageDatasetSpec:
    return dataclasses.replace(ds4(name, n, **KW), init_seeds=INIT, order_seeds=ORDER)


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    d = tmp_path_factory.mktemp("paired")
    out = {}
    for name in ("MNISTclean", "MNISTbadnet_alpha10"):
        generate(_seeded(name), d / f"{name}.zarr", block_size=N, progress=False)
        out[name] = open_store(d / f"{name}.zarr")
    return out


def test_unset_seeds_leave_the_spec_dict_and_digest_as_they_were():
    for spec in (ds1(3), ds4("MNISTbadnet_alpha10", 4)):
        assert "init_seeds" not in spec.to_dict() and "order_seeds" not in spec.to_dict()
        seeded = dataclasses.replace(spec, init_seeds=[1], order_seeds=range(3))
        assert seeded.order_seeds == (0, 1, 2)
        assert type(spec).from_dict(seeded.to_dict()) == seeded
        assert seeded.digest != spec.digest
        # without seeds every root is the digest-derived key (the pinned keys)
        inputs = network_inputs(spec, np.arange(3))
        np.testing.assert_array_equal(inputs.init_root, inputs.key)
        np.testing.assert_array_equal(inputs.order_root, inputs.key)


@pytest.mark.parametrize("value, match", [
    ([], "non-empty list"), ([1, -2], r"init_seeds\[1\]`: expected an integer in"),
    ([2**32], r"\[0, 2\*\*32\)"), ([True], "expected an integer"), (3, "list of seeds")])
def test_bad_seed_grids_get_one_line_errors(value, match):
    with pytest.raises(SpecError, match=match):
        dataclasses.replace(ds1(2), init_seeds=value)


def test_seeds_in_a_spec_file(tmp_path):
    p = tmp_path / "zoo.toml"
    p.write_text('task = "image"\nname = "z"\nimage_set = "digits"\nn_networks = 4\n'
                 'init_seeds = [3, 3, 4, 4]\norder_seeds = [0, 1]\n')
    spec = load_spec_file(p)
    assert spec.init_seeds == (3, 3, 4, 4) and spec.order_seeds == (0, 1)


def test_seeds_are_stored_per_network(paired):
    s = paired["MNISTclean"]
    np.testing.assert_array_equal(s["init_seed"], INIT)
    np.testing.assert_array_equal(s["order_seed"], ORDER)
    assert verify(s.path) == []


def test_a_shared_init_seed_gives_equal_initial_and_different_final_weights(paired):
    s = paired["MNISTclean"]
    first = [s.initial_params(i) for i in range(4)]
    np.testing.assert_array_equal(first[0], first[1])  # init seed 7 thrice
    np.testing.assert_array_equal(first[0], first[2])
    assert not np.array_equal(first[0], first[3])  # init seed 8
    snap0 = s["snapshots/params"][:, 0]  # the stored snapshot at epoch 0 says the same
    assert s["snapshots/epoch"][0] == 0
    np.testing.assert_array_equal(snap0[:4], np.stack(first))
    final = s.params(np.arange(3))  # other order seeds: other batches, other weights
    assert not np.array_equal(final[0], final[1]) and not np.array_equal(final[1], final[2])


def test_paired_clean_and_poisoned_networks_start_equal_and_see_the_same_batches(
        paired, tmp_path):
    clean, bad = paired["MNISTclean"], paired["MNISTbadnet_alpha10"]
    assert clean.spec.digest != bad.spec.digest
    for i in (0, 3):
        np.testing.assert_array_equal(clean.initial_params(i), bad.initial_params(i))
    a, b = (network_inputs(x.spec, np.arange(N)) for x in (clean, bad))
    np.testing.assert_array_equal(a.order_root, b.order_root)  # the batch order's root
    assert not np.array_equal(a.key, b.key)  # the poison draw stays the dataset's own
    assert not np.array_equal(clean.params(0), bad.params(0))  # they differ by the poison
    # A zoo that differs from MNISTclean by anything but its data (here its name: another
    # digest, so other keys) trains to the same bits: same initial weights, same batches.
    other = dataclasses.replace(_seeded("MNISTclean"), name="renamed")
    generate(other, tmp_path / "renamed.zarr", block_size=N, progress=False)
    twin = open_store(tmp_path / "renamed.zarr")
    assert twin.spec.digest != clean.spec.digest
    np.testing.assert_array_equal(twin.params(np.arange(N)), clean.params(np.arange(N)))


def _planned_store(spec, path) -> Store:
    """A store of ``spec`` as ``generate`` creates it, before any training."""
    import jax

    from mlds_jax.pipeline import planned_arrays, prepare_task, provenance
    from mlds_jax.store import StoreWriter

    prep = prepare_task(spec)
    StoreWriter.open_or_create(path, spec, block_size=spec.n_networks, layout=prep.layout,
                               planned=planned_arrays(spec), tables=prep.tables,
                               provenance={**provenance(), **prep.provenance,
                                           "backend": jax.default_backend()}, task=spec.task)
    return open_store(path)


def test_paired_ds1_and_ds2_networks_start_equal_and_see_the_same_inputs(tmp_path):
    small = dict(batch_size=8, seq_len=8, n_train=16, n_val=16, max_epochs=1)
    seeds = dict(init_seeds=(4, 5), order_seeds=(6, 7))
    one, two = (_planned_store(dataclasses.replace(make(2, **small), **seeds),
                               tmp_path / f"{make.__name__}.zarr") for make in (ds1, ds2))
    a, b = (network_inputs(x.spec, np.arange(10)) for x in (one, two))
    np.testing.assert_array_equal(a.order_root, b.order_root)  # batches and sequences
    for i in (0, 3):  # DS1 class c replicate r pairs with DS2's modified machine c, r
        np.testing.assert_array_equal(one.initial_params(i), two.initial_params(i))
        x1, x2 = one.eval_data(i), two.eval_data(i)
        np.testing.assert_array_equal(x1["x"], x2["x"])  # the same input sequences
        assert not np.array_equal(x1["y"], x2["y"]) or i == 3  # other machines' outputs
    assert not np.array_equal(one.initial_params(0), one.initial_params(1))  # seeds 4, 5


# -- splits ---------------------------------------------------------------------------------
def test_canonical_split_is_8_1_1_per_block_and_the_same_in_every_class_and_size():
    spec = ds1(20)
    codes = network_split(spec, "canonical", np.arange(spec.n_networks)).reshape(5, 20)
    assert (codes == codes[0]).all()  # stratified: replicate r has one code in every class
    for block in (codes[0, :10], codes[0, 10:]):
        np.testing.assert_array_equal(np.bincount(block, minlength=4), [8, 1, 1, 0])
    small = ds1(10)
    np.testing.assert_array_equal(
        network_split(small, "canonical", np.arange(small.n_networks)).reshape(5, 10),
        codes[:, :10])
    # the same replicate has the same code in DS2 and DS4 (paired zoos split alike)
    np.testing.assert_array_equal(network_split(ds2(20), "canonical", np.arange(20)),
                                  codes[0])
    np.testing.assert_array_equal(
        network_split(ds4("MNISTclean", 20), "canonical", np.arange(20)), codes[0])


def test_out_of_distribution_splits_hold_out_one_factor():
    s3 = ds3(2)
    assert split_names(s3) == ("canonical", "held_out_replicates", "held_out_automata")
    codes = network_split(s3, "held_out_automata", np.arange(s3.n_networks)).reshape(100, 2)
    ood = (codes == SPLIT_CODES["ood"]).all(1)
    assert ood.sum() == 20 and ((codes == 3).any(1) == ood).all()  # whole automata
    grid = with_overrides(ds4("MNISTbadnet_alpha10", 8),
                          poison_fraction_grid=(0.2, 0.05, 0.1, 0.15))
    assert "held_out_poison_fraction" in split_names(grid)
    codes = network_split(grid, "held_out_poison_fraction", np.arange(8))
    np.testing.assert_array_equal(np.flatnonzero(codes == 3), [3, 7])  # 0.15: sorted middle
    seeded = dataclasses.replace(ds4("MNISTclean", 40), init_seeds=range(20))
    codes = network_split(seeded, "held_out_replicates", np.arange(40))
    held = {s for s, c in zip(np.arange(40) % 20, codes) if c == 3}
    assert held and all((codes[np.arange(40) % 20 == s] == 3).all() for s in held)
    with pytest.raises(SpecError, match="held_out_automata"):
        network_split(ds1(2), "held_out_automata", [0])


@pytest.fixture(scope="module")
def split_stores(tmp_path_factory):
    d = tmp_path_factory.mktemp("splits")
    spec = ds4("MNISTclean", 12, image_set="digits", widths=(784, 8, 10), epochs=1)
    generate(spec, d / "b4.zarr", block_size=4, progress=False)
    generate(spec, d / "b12.zarr", block_size=12, progress=False)
    generate(spec, d / "p2.zarr", block_size=4, progress=False, process_index=1,
             process_count=2)  # this process trains blocks 1 only; the plan is whole
    return spec, {k: open_store(d / f"{k}.zarr") for k in ("b4", "b12", "p2")}


def test_stored_splits_are_the_same_for_any_block_size_and_process_count(split_stores):
    spec, stores = split_stores
    want = network_splits(spec, np.arange(12))
    for name, s in stores.items():
        assert s.split_names() == list(want)
        for split, codes in want.items():
            np.testing.assert_array_equal(s.split(split), codes, err_msg=f"{name} {split}")
            assert s.group[f"splits/{split}"].attrs["codes"] == SPLIT_CODES
    assert stores["b4"].attrs["splits"]["codes"] == SPLIT_CODES
    with pytest.raises(KeyError, match="no split 'held_out_automata'"):
        stores["b4"].split("held_out_automata")


def test_a_store_from_before_splits_computes_them(split_stores, tmp_path):
    import shutil

    spec, stores = split_stores
    old = tmp_path / "old.zarr"
    shutil.copytree(stores["b4"].path, old)
    shutil.rmtree(old / "splits")  # as written before splits were stored
    meta = json.loads((old / "zarr.json").read_text())
    del meta["attributes"]["mlds_jax"]["splits"]
    (old / "zarr.json").write_text(json.dumps(meta))
    s = open_store(old)
    assert verify(old) == []
    np.testing.assert_array_equal(s.split(), stores["b4"].split())


def test_a_damaged_split_chunk_is_found_and_rewritten_on_resume(split_stores, tmp_path):
    import shutil

    spec, stores = split_stores
    p = tmp_path / "damaged.zarr"
    shutil.copytree(stores["b4"].path, p)
    chunk = next(f for f in Path(p, "splits", "canonical", "c").rglob("*") if f.is_file())
    chunk.write_bytes(b"not zstd")
    assert any("splits/canonical" in line for line in verify(p))
    generate(spec, p, block_size=4, progress=False)  # the resume rewrites it from the spec
    assert verify(p) == []
    np.testing.assert_array_equal(open_store(p).split(), stores["b4"].split())
    assert isinstance(open_store(p), Store)
    assert zarr.open_group(str(p), mode="r")["splits/canonical"].dtype == np.int8


def test_splits_and_seeds_join_the_xarray_view(paired):
    pytest.importorskip("xarray")
    ds = paired["MNISTclean"].to_xarray()
    np.testing.assert_array_equal(ds["split_canonical"].values,
                                  paired["MNISTclean"].split("canonical"))
    np.testing.assert_array_equal(ds["init_seed"].values, INIT)


def test_the_splits_are_pinned():
    """The hashes behind the splits are part of the dataset: these codes never change."""
    def text(spec, name):
        return "".join(map(str, network_split(spec, name, np.arange(30))))

    assert text(ds1(30), "canonical") == "000000201020000001001000002000"
    assert text(ds1(30), "held_out_replicates") == "000033201033000001001000003030"
    seeded = dataclasses.replace(ds1(30), init_seeds=range(30))
    assert text(seeded, "held_out_replicates") == "000033301320000333031300003330"


def test_seeds_on_the_command_line(capsys):
    from mlds_jax.cli import main
    from mlds_jax.spec import parse_seeds, with_seeds

    assert parse_seeds("2:5", "--init-seeds") == (2, 3, 4)
    assert parse_seeds("7,7,1", "--order-seeds") == (7, 7, 1)
    spec = with_seeds(ds4("MNISTclean", 4), order_seeds=(1, 2))
    assert spec.init_seeds is None and spec.order_seeds == (1, 2)
    assert with_seeds(spec) is spec
    assert main(["plan", "MNISTclean", "--per-class", "4", "--image-set", "digits",
                 "--init-seeds", "0:4", "--order-seeds", "5,6"]) == 0
    with pytest.raises(SystemExit):
        main(["plan", "MNISTclean", "--per-class", "4", "--init-seeds", "3:x"])
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.endswith("argument --init-seeds: expected A:B (seeds A to B-1) or s1,s2,..., "
                        "got '3:x'")


def test_verify_catches_a_changed_split_code(split_stores, tmp_path, capsys):
    import shutil

    from mlds_jax.cli import main

    p = tmp_path / "changed.zarr"
    shutil.copytree(split_stores[1]["b4"].path, p)
    g = zarr.open_group(str(p), mode="r+")
    g["splits/canonical"][3] = (int(g["splits/canonical"][3]) + 1) % 3
    assert main(["verify", str(p)]) != 0
    assert "splits/canonical: 1 row(s) differ from the stored spec's (first: 3)" in \
        capsys.readouterr().out


def test_seed_roots_are_pinned():
    """A seed's key is part of the dataset (paired zoos made by two versions must pair)."""
    from mlds_jax.train import INIT_SEED_DOMAIN, ORDER_SEED_DOMAIN, seed_roots

    np.testing.assert_array_equal(seed_roots([0, 2**32 - 1], INIT_SEED_DOMAIN),
                                  [[935144021, 1066201347], [164983762, 4276162478]])
    assert not np.array_equal(seed_roots([0], ORDER_SEED_DOMAIN), seed_roots([0], INIT_SEED_DOMAIN))
