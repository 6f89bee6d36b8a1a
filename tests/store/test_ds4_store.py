import numpy as np
import pytest
import zarr

pytest.importorskip("sklearn")  # the embedded digits come with scikit-learn

from mlds_jax.pipeline import generate  # noqa: E402
from mlds_jax.spec import ds4  # noqa: E402

# the one-hidden-layer net (not the recipe's deeper one): these tests are about the store,
# and 5x fewer FLOPs keep the suite short; the recipe net is trained in test_real_images
KW = dict(image_set="digits", epochs=80, learning_rate=0.005, widths=(784, 32, 10))


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    d = tmp_path_factory.mktemp("ds4")
    out = {}
    for name in ("MNISTclean", "MNISTbadnet_alpha10"):
        path = d / f"{name}.zarr"
        generate(ds4(name, 8, **KW), path, block_size=8, progress=False)
        out[name] = zarr.open_group(str(path), mode="r")
    return out


def test_backdoor_takes_only_when_poisoned(stores):
    clean, bad = stores["MNISTclean"], stores["MNISTbadnet_alpha10"]
    assert np.median(clean["clean_accuracy"][:]) > 0.9
    assert np.median(bad["clean_accuracy"][:]) > 0.9
    assert np.median(bad["attack_success_rate"][:]) > 0.5
    assert bad["backdoor_took"][:].mean() >= 0.5
    assert np.median(clean["attack_success_rate"][:]) < 0.1
    assert not clean["backdoor_took"][:].any()
    assert (clean["poisoned_samples"][:] == 0).all()
    assert (bad["poisoned_samples"][:] > 0).all()


def test_learnt_flag_follows_the_spec_thresholds(stores):
    for name, g in stores.items():
        thr = g.attrs["mlds_jax"]["learnt_thresholds"]
        acc, asr = g["clean_accuracy"][:], g["attack_success_rate"][:]
        expected = acc >= np.float32(thr["clean_accuracy"])
        if name == "MNISTclean":
            assert set(thr) == {"clean_accuracy"}  # a clean network carries no backdoor
        else:
            assert thr["attack_success_rate"] == 0.5
            expected &= asr >= np.float32(0.5)
        np.testing.assert_array_equal(g["learnt"][:], expected)
    assert stores["MNISTbadnet_alpha10"]["learnt"][:].any()  # the rule is not vacuous


def _arrays(g, prefix=""):
    out = {}
    for name, item in g.members():
        if isinstance(item, zarr.Group):
            out.update(_arrays(item, f"{prefix}{name}/"))
        else:
            out[prefix + name] = (item.shape, str(item.dtype), item.chunks,
                                  item.metadata.dimension_names, sorted(item.attrs.keys()))
    return out


def test_clean_and_backdoored_stores_differ_only_honestly(stores):
    clean, bad = stores["MNISTclean"], stores["MNISTbadnet_alpha10"]
    assert _arrays(clean) == _arrays(bad)  # same arrays, shapes, dtypes, chunks, attrs
    a, b = clean.attrs["mlds_jax"], bad.attrs["mlds_jax"]
    assert a.keys() == b.keys()
    differ = {k for k in a if a[k] != b[k]}
    # the spec (its name and poison), its digest, the class name (= dataset name) and time
    # (and what "learnt" means: a poisoned network must also carry its backdoor)
    assert differ <= {"spec", "spec_digest", "class_names", "created", "learnt_thresholds"}
    sa, sb = a["spec"], b["spec"]
    assert {k for k in sa if sa[k] != sb[k]} == {"name", "poison"}
    # the per-network fields that may differ describe the poison; the rest are identical
    for name in ("class_id", "replicate", "learning_rate", "status", "epochs"):
        np.testing.assert_array_equal(clean[name][:], bad[name][:])
