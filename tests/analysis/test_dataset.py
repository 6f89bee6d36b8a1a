"""``NetworkDataset``: a store's networks as examples for a torch DataLoader and for JAX."""

import numpy as np
import pytest
from helpers import synthetic_store

from mlds_jax.analysis import NetworkDataset, canonicalize
from mlds_jax.errors import StoreError


def test_dataloader_yields_stored_weights_and_targets_bit_for_bit(stores):
    torch = pytest.importorskip("torch")
    a, b = stores
    ds = NetworkDataset([a.path, b.path], target=["class_id", "val_bit_accuracy"])
    assert len(ds) == 20 + 12  # b's unfinished networks are left out
    loader = torch.utils.data.DataLoader(ds, batch_size=7, shuffle=False)
    seen = 0
    for batch in loader:
        for j in range(len(batch["network"])):
            s = (a, b)[int(batch["store"][j])]
            i = int(batch["network"][j])
            np.testing.assert_array_equal(batch["weights"][j].numpy(), s.params(i))
            assert batch["target"]["class_id"][j].item() == s["class_id"][i]
            assert batch["target"]["val_bit_accuracy"][j].numpy() == s["val_bit_accuracy"][i]
            seen += 1
    assert seen == 32


def test_numpy_batches_equal_items_and_tensor_view_matches_layout(stores):
    a, _ = stores
    ds = NetworkDataset(a, target="val_bit_accuracy", view="tensors")
    batches = list(ds.batches(8, shuffle=True, seed=3))
    assert [len(b["network"]) for b in batches] == [8, 8, 4]
    first = batches[0]
    for j, i in enumerate(first["network"]):
        item = ds[int(np.flatnonzero(ds.network_index == i)[0])]
        for name, t in a.tensors(int(i)).items():
            np.testing.assert_array_equal(first["weights"][name][j], t)
            np.testing.assert_array_equal(item["weights"][name], t)
        assert first["target"][j] == a["val_bit_accuracy"][i]


def test_permutation_augmentation_keeps_the_function_and_the_canonical_form(stores):
    a, _ = stores
    plain = NetworkDataset(a, view="tensors")[3]["weights"]
    aug = NetworkDataset(a, view="tensors", augment="permute", seed=1)
    first = aug[3]["weights"]
    assert not np.array_equal(first["gru.weight_hh_l0"], plain["gru.weight_hh_l0"])
    for name, t in canonicalize(plain).items():  # a permuted copy of the same network
        np.testing.assert_array_equal(canonicalize(first)[name], t)
    np.testing.assert_array_equal(aug[3]["weights"]["fc.0.weight"], first["fc.0.weight"])
    aug.set_epoch(1)
    assert not np.array_equal(aug[3]["weights"]["fc.0.weight"], first["fc.0.weight"])
    canon = NetworkDataset(a, canonical=True)[3]["weights"]
    assert canon.shape == (a.attrs["n_params"],)
    # the same canonical form as analyze's features: a tanh head's units sign-fixed too
    want = canonicalize(plain, odd_head=True)
    np.testing.assert_array_equal(canon, np.concatenate([want[e["name"]].reshape(-1)
                                                         for e in a.layout]))


def test_bad_arguments_are_one_line_errors(stores):
    a, _ = stores
    with pytest.raises(StoreError, match="no per-network array 'nope'"):
        NetworkDataset(a, target="nope")
    with pytest.raises(StoreError, match="no snapshots/params array"):
        NetworkDataset(a, snapshots=True)
    with pytest.raises(ValueError, match="view='wide'"):
        NetworkDataset(a, view="wide")
    with pytest.raises(IndexError, match=r"item 20 outside \[0, 20\)"):
        NetworkDataset(a)[20]


def test_dataloader_over_a_split_yields_that_splits_networks_bit_for_bit(tmp_path):
    torch = pytest.importorskip("torch")
    s = synthetic_store(tmp_path / "s.zarr", 1.0, per_class=10)  # one block of 10 per class
    codes = s.split("canonical")
    for part, code, size in (("train", 0, 40), ("val", 1, 5), ("test", 2, 5)):
        ds = NetworkDataset(s, split=part, target="val_bit_accuracy")
        assert len(ds) == size  # 8 / 1 / 1 of every 10 replicates, in every class
        np.testing.assert_array_equal(ds.network_index, np.flatnonzero(codes == code))
        seen = []
        for batch in torch.utils.data.DataLoader(ds, batch_size=16):
            for j, i in enumerate(batch["network"].tolist()):
                np.testing.assert_array_equal(batch["weights"][j].numpy(), s.params(i))
                assert batch["target"][j].numpy() == s["val_bit_accuracy"][i]
                seen.append(i)
        assert seen == ds.network_index.tolist()
    with pytest.raises(ValueError, match="split='training'"):
        NetworkDataset(s, split="training")


def test_snapshots_come_with_their_network(tmp_path):
    import zarr

    s = synthetic_store(tmp_path / "s.zarr", 1.0, per_class=2)
    rng = np.random.default_rng(0)
    snaps = rng.normal(size=(10, 3, 4364)).astype(np.float32)  # [network, snapshot, param]
    g = zarr.open_group(str(s.path), mode="r+")
    g.create_array("snapshots/params", data=snaps, chunks=(1, 3, 4364))
    ds = NetworkDataset(s.path, snapshots=True, target=None)
    np.testing.assert_array_equal(ds[7]["snapshots"], snaps[7])
    (batch,) = list(ds.batches(10))
    np.testing.assert_array_equal(batch["snapshots"], snaps)
    assert "target" not in batch


def test_any_named_split_selects_its_networks(tmp_path):
    """``split_by`` picks a named split of the store (here its held-out initialisations)."""
    s = synthetic_store(tmp_path / "s.zarr", 1.0, per_class=10)
    codes = s.split("held_out_replicates")
    assert (codes == 3).any() and not np.array_equal(codes, s.split("canonical"))
    for part, code in (("ood", 3), ("train", 0)):
        ds = NetworkDataset(s, split=part, split_by="held_out_replicates")
        np.testing.assert_array_equal(ds.network_index, np.flatnonzero(codes == code))
    with pytest.raises(KeyError, match="no split 'held_out_automata'"):
        NetworkDataset(s, split="ood", split_by="held_out_automata")
