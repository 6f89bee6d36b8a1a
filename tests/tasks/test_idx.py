import gzip
import hashlib
import http.server
import threading
import types

import numpy as np
import pytest

from mlds_jax.errors import DataError, UnknownDatasetError
from mlds_jax.tasks._idx import (
    DATA_DIR_ENV,
    ImageSource,
    RemoteFile,
    data_dir,
    fetch,
    get_source,
    load_image_set,
    parse_idx,
    read_idx,
    write_idx,
)


def _images(n=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("array", [_images(), np.arange(7, dtype=np.uint8),
                                   np.arange(12, dtype=np.int32).reshape(3, 4) - 5,
                                   np.linspace(0, 1, 6, dtype=np.float32)])
def test_round_trip(tmp_path, array, gz):
    p = tmp_path / "a.idx"
    write_idx(p, array, gzipped=gz)
    got = read_idx(p)
    assert got.dtype == array.dtype
    np.testing.assert_array_equal(got, array)


def test_known_header_bytes():
    raw = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])  # uint8 vector [7, 8, 9]
    np.testing.assert_array_equal(parse_idx(raw), [7, 8, 9])
    raw = bytes([0, 0, 0x0C, 1, 0, 0, 0, 1, 0, 0, 1, 2])  # big-endian int32 258
    assert parse_idx(raw).tolist() == [258]


def test_truncated(tmp_path):
    p = tmp_path / "t.idx"
    write_idx(p, _images())
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"truncated: shape \(5, 28, 28\) needs 3920 data bytes"):
        read_idx(p)


def test_truncated_gzip(tmp_path):
    p = tmp_path / "t.idx.gz"
    write_idx(p, _images(), gzipped=True)
    p.write_bytes(p.read_bytes()[:-30])
    with pytest.raises(DataError, match="corrupt gzip stream"):
        read_idx(p)


def test_wrong_magic():
    with pytest.raises(DataError, match="not an IDX file"):
        parse_idx(b"\x01\x02\x08\x01abcd")
    with pytest.raises(DataError, match="unknown IDX dtype code 0x07"):
        parse_idx(bytes([0, 0, 7, 1, 0, 0, 0, 1, 5]))


def test_wrong_count(tmp_path):
    src = ImageSource("tiny", "http://unused/", {
        "train_images": RemoteFile("a", ""), "train_labels": RemoteFile("b", ""),
        "test_images": RemoteFile("c", ""), "test_labels": RemoteFile("d", "")})
    d = tmp_path / "tiny"
    d.mkdir()
    write_idx(d / "a", _images(5))
    write_idx(d / "b", np.zeros(4, np.uint8))  # 4 labels for 5 images
    write_idx(d / "c", _images(2))
    write_idx(d / "d", np.zeros(2, np.uint8))
    with pytest.raises(DataError, match="train has 5 images but 4 labels"):
        load_image_set(src, tmp_path)


def test_extra_bytes():
    raw = bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3])
    with pytest.raises(DataError, match="1 unexpected bytes"):
        parse_idx(raw)


def test_data_dir_setting(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(tmp_path / "flag") == tmp_path / "flag"


def test_known_sources():
    assert get_source("MNIST").files["train_images"].size == 9912422
    assert {"mnist", "fashionmnist", "kmnist"} <= {get_source(n).name for n in
                                                   ("mnist", "fashionmnist", "kmnist")}
    with pytest.raises(UnknownDatasetError, match="unknown image set 'cifar'"):
        get_source("cifar")


# -- fetch (pooch) against a local HTTP server: nothing leaves the machine ---------------------
@pytest.fixture
def net(monkeypatch):
    """``fail_first``: file name -> how many requests still answer 503; ``waits``: pooch's
    waits between tries (recorded, not slept)."""
    import pooch.core

    state = types.SimpleNamespace(fail_first={}, waits=[])
    monkeypatch.setattr(pooch.core.time, "sleep", state.waits.append)
    return state


@pytest.fixture
def server(tmp_path, net):
    root = tmp_path / "www"
    root.mkdir()
    fail_first = net.fail_first

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def do_GET(self):
            name = self.path.rsplit("/", 1)[-1]
            if fail_first.get(name):
                fail_first[name] -= 1
                self.send_error(503)
                return
            super().do_GET()

        def log_message(self, *a):
            pass
    files = {}
    for name, arr in (("train-images-idx3-ubyte.gz", _images(6)),
                      ("train-labels-idx1-ubyte.gz", np.arange(6, dtype=np.uint8)),
                      ("t10k-images-idx3-ubyte.gz", _images(3, 1)),
                      ("t10k-labels-idx1-ubyte.gz", np.arange(3, dtype=np.uint8))):
        write_idx(root / name, arr, gzipped=True)
        files[name] = hashlib.sha256((root / name).read_bytes()).hexdigest()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", files, root
    httpd.shutdown()


def _source(url, files, mirrors=(), **override):
    keys = dict(zip(["train_images", "train_labels", "test_images", "test_labels"], files))
    return ImageSource("local", url, {k: RemoteFile(n, override.get(n, files[n]))
                                      for k, n in keys.items()}, mirrors=mirrors)


def test_fetch_good(server, tmp_path):
    url, files, _ = server
    paths = fetch(_source(url, files), tmp_path / "data")
    arrays = load_image_set(_source(url, files), tmp_path / "data")
    assert arrays["train_images"].shape == (6, 28, 28)
    assert arrays["test_labels"].tolist() == [0, 1, 2]
    # second fetch: nothing downloaded, checksums re-checked
    assert fetch(_source(url, files), tmp_path / "data") == paths


def test_fetch_bad_checksum_leaves_nothing(server, tmp_path):
    url, files, _ = server
    bad = _source(url, files, **{"train-labels-idx1-ubyte.gz": "0" * 64})
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: SHA-256 .* does not match"):
        fetch(bad, tmp_path / "data")
    assert not (tmp_path / "data" / "local" / "train-labels-idx1-ubyte.gz").exists()
    assert not [p for p in (tmp_path / "data" / "local").iterdir() if p.name.startswith(".")]


def test_fetch_server_error(server, tmp_path):
    url, files, root = server
    (root / "t10k-images-idx3-ubyte.gz").unlink()  # server answers 404
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: download failed"):
        fetch(_source(url, files), tmp_path / "data")


def test_fetch_retries_a_failed_try(server, net, tmp_path):
    url, files, _ = server
    net.fail_first["train-labels-idx1-ubyte.gz"] = 2  # two 503s, then the file
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz: download failed"):
        fetch(_source(url, files), tmp_path / "once", retries=1)
    net.fail_first["train-labels-idx1-ubyte.gz"] = 2
    paths = fetch(_source(url, files), tmp_path / "data", retries=2)
    assert read_idx(paths["train_labels"]).tolist() == list(range(6))
    assert net.waits == [1, 1, 2]  # pooch's waits: 1 s before try 2, then 1 s, 2 s


def test_fetch_falls_back_to_a_mirror_and_names_every_url_it_tried(server, tmp_path):
    url, files, _ = server
    dead = url + "gone/"  # 404 for every file
    paths = fetch(_source(dead, files, mirrors=(url,)), tmp_path / "data", retries=0)
    assert sorted(p.name for p in paths.values()) == sorted(files)
    assert (tmp_path / "data" / "local").is_dir()  # the same cache layout: <root>/<set>/<file>
    with pytest.raises(DataError, match=r"gone/train-images.*download failed.*; "
                                        r"http.*/gone/train-images.*\(tried 2 URLs\)"):
        fetch(_source(dead, files, mirrors=(dead,)), tmp_path / "other", retries=0)


def test_fetch_shows_a_byte_bar_per_file(server, tmp_path, capsys):
    url, files, _ = server
    fetch(_source(url, files), tmp_path / "data", progress=True)
    err = capsys.readouterr().err
    assert all(name in err for name in files)
    assert "100%" in err


def test_existing_corrupt_file_is_reported(server, tmp_path):
    url, files, _ = server
    d = tmp_path / "data" / "local"
    d.mkdir(parents=True)
    (d / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"junk"))
    with pytest.raises(DataError, match="delete it and fetch again"):
        fetch(_source(url, files), tmp_path / "data")
