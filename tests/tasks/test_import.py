"""Importing an image set from a folder of IDX files (``mlds-jax data import idx``): a small
fake set (random pixels; nothing here trains), written the way a registry package ships the
files, read back exactly as ``generate --data-dir`` reads them."""

import gzip

import numpy as np
import pytest

from mlds_jax.cli import main
from mlds_jax.errors import DataError
from mlds_jax.tasks import content_sha256, get_source, import_idx_dir, write_idx
from mlds_jax.tasks._idx import load_image_set

STEMS = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def fake_set(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"train_images": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
            "train_labels": rng.integers(0, 10, 30).astype(np.uint8),
            "test_images": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
            "test_labels": rng.integers(0, 10, 10).astype(np.uint8)}


def write_folder(folder, arrays, gz_keys=()):
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in STEMS.items():
        write_idx(folder / (stem + (".gz" if key in gz_keys else "")), arrays[key],
                  gzipped=key in gz_keys)


@pytest.mark.parametrize("image_set", ["mnist", "fashionmnist"])
def test_import_reads_raw_and_gzipped_files_and_generate_reads_them_back(tmp_path, image_set):
    arrays = fake_set()
    write_folder(tmp_path / "pkg", arrays, gz_keys=("train_labels", "test_images"))
    paths, got = import_idx_dir(tmp_path / "pkg", image_set, tmp_path / "data")
    assert {p.parent for p in paths.values()} == {tmp_path / "data" / image_set}
    back = load_image_set(get_source(image_set), tmp_path / "data")
    for key, a in arrays.items():
        np.testing.assert_array_equal(back[key], a)
        np.testing.assert_array_equal(got[key], a)
    # the same import again writes the same bytes (a store's SHA-256 of them stays valid)
    before = {p: p.read_bytes() for p in paths.values()}
    import_idx_dir(tmp_path / "pkg", image_set, tmp_path / "data")
    assert {p: p.read_bytes() for p in paths.values()} == before


def test_content_digest_ignores_gzip_headers(tmp_path):
    arrays = fake_set()
    write_folder(tmp_path / "a", arrays)
    write_folder(tmp_path / "b", arrays, gz_keys=tuple(STEMS))
    (tmp_path / "b" / (STEMS["test_labels"] + ".gz")).write_bytes(
        gzip.compress((tmp_path / "a" / STEMS["test_labels"]).read_bytes(), mtime=12345))
    _, a = import_idx_dir(tmp_path / "a", "mnist", tmp_path / "da")
    _, b = import_idx_dir(tmp_path / "b", "mnist", tmp_path / "db")
    assert content_sha256(a) == content_sha256(b)
    assert content_sha256(a) != content_sha256(fake_set(1))


def test_refusals_name_the_problem_and_write_nothing(tmp_path):
    arrays = fake_set()
    with pytest.raises(DataError, match="no such folder"):
        import_idx_dir(tmp_path / "missing", "mnist", tmp_path / "data")
    write_folder(tmp_path / "pkg", arrays)
    (tmp_path / "pkg" / STEMS["test_labels"]).unlink()
    with pytest.raises(DataError, match="no t10k-labels-idx1-ubyte"):
        import_idx_dir(tmp_path / "pkg", "mnist", tmp_path / "data")
    write_folder(tmp_path / "pkg", arrays, gz_keys=("test_labels",))
    write_idx(tmp_path / "pkg" / STEMS["test_labels"], arrays["test_labels"])
    with pytest.raises(DataError, match="both t10k-labels-idx1-ubyte and"):
        import_idx_dir(tmp_path / "pkg", "mnist", tmp_path / "data")
    (tmp_path / "pkg" / STEMS["test_labels"]).unlink()
    write_idx(tmp_path / "pkg" / (STEMS["test_labels"] + ".gz"), arrays["test_labels"][:9],
              gzipped=True)
    with pytest.raises(DataError, match="test has 10 images but 9 labels"):
        import_idx_dir(tmp_path / "pkg", "mnist", tmp_path / "data")
    assert not (tmp_path / "data").exists()
    with pytest.raises(Exception, match="unknown image set 'cifar'"):
        import_idx_dir(tmp_path / "pkg", "cifar", tmp_path / "data")


def test_the_same_set_gzipped_otherwise_is_left_as_it_is(tmp_path):
    # e.g. `data fetch mnist` first (the mirror's gzip headers), then an import of the same
    # files from a package: the fetched files stay, byte for byte
    arrays = fake_set()
    write_folder(tmp_path / "fetched", arrays, gz_keys=tuple(STEMS))
    (tmp_path / "data").mkdir()
    (tmp_path / "fetched").rename(tmp_path / "data" / "mnist")
    before = {p: p.read_bytes() for p in (tmp_path / "data" / "mnist").iterdir()}
    write_folder(tmp_path / "pkg", arrays)
    import_idx_dir(tmp_path / "pkg", "mnist", tmp_path / "data")
    assert {p: p.read_bytes() for p in (tmp_path / "data" / "mnist").iterdir()} == before


def test_import_refuses_to_overwrite_another_set(tmp_path):
    write_folder(tmp_path / "one", fake_set(0))
    write_folder(tmp_path / "two", fake_set(1))
    paths, _ = import_idx_dir(tmp_path / "one", "mnist", tmp_path / "data")
    before = {p: p.read_bytes() for p in paths.values()}
    with pytest.raises(DataError, match="exists and holds other data"):
        import_idx_dir(tmp_path / "two", "mnist", tmp_path / "data")
    assert {p: p.read_bytes() for p in paths.values()} == before


def test_cli_import_idx_and_its_refused_combinations(tmp_path, capsys):
    write_folder(tmp_path / "pkg", fake_set())
    data = str(tmp_path / "data")
    assert main(["data", "import", "idx", "--from", str(tmp_path / "pkg"), "--image-set",
                 "kmnist", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert "30 images, content SHA-256" in out and "generate KMNISTclean --data-dir" in out
    assert load_image_set(get_source("kmnist"), tmp_path / "data")["test_labels"].shape == (10,)
    for argv, err in (
        (["idx", "--image-set", "mnist"], "needs the folder --from"),
        (["idx", "--from", str(tmp_path / "pkg")], "--image-set"),
        (["idx", "--from", str(tmp_path / "pkg"), "--image-set", "mnist", "--tile", "2"],
         "--tile belongs to the mnist5k import"),
        (["mnist5k", "--from", str(tmp_path / "pkg")],
         "--from and --image-set belong to the idx import"),
    ):
        assert main(["data", "import", *argv, "--data-dir", data]) == 2
        assert err in capsys.readouterr().err
