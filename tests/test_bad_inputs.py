"""Malformed inputs and damaged stores, table-driven (issue 15).

Every case runs the CLI in-process and asserts: the exit code, a message naming the problem,
no traceback, and the files that existed before: byte-identical ("same"), or restored to the
pristine store where repair is the promise ("repaired"). Stores are built once per module
(a real tiny DS1 store; a DS4-shaped store written without training) and copied per case.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import zarr

from mlds_jax.cli import main
from mlds_jax.tasks._idx import SOURCES, write_idx

DS1 = ["generate", "ds1", "--per-class", "2", "--max-epochs", "1", "--block-size", "4",
       "--quiet", "--out"]
DS4 = ["generate", "MNISTclean", "--image-set", "digits", "--per-class", "4", "--max-epochs",
       "1", "--block-size", "2", "--quiet", "--out"]
MNIST = SOURCES["mnist"].files


@pytest.fixture(scope="module", autouse=True)
def tiny_recipe():
    """`generate ds1` trains the tiny recipe (same network) so a store takes seconds."""
    from helpers import tiny_ds1

    from mlds_jax.spec import _recipes

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(_recipes.RECIPES, "ds1",
                   lambda per_class, seed=0, **kw: tiny_ds1(per_class, **kw))
        yield


def _ds4_store(path: Path, seeds: bool = False) -> None:
    """A complete DS4-shaped store (MNISTclean on the embedded digits) with synthetic
    results: what `generate` would have written, without training (``seeds``: with
    ``--init-seeds 0:2 --order-seeds 5,6``, so it holds init_seed and order_seed)."""
    from mlds_jax.models import mlp_layout
    from mlds_jax.pipeline import planned_arrays
    from mlds_jax.spec import ds4, with_seeds
    from mlds_jax.store import StoreWriter
    from mlds_jax.tasks._images import data_files

    spec = ds4("MNISTclean", 4, image_set="digits", epochs=1)
    if seeds:
        spec = with_seeds(spec, (0, 1), (5, 6))
    layout = mlp_layout(spec.widths)
    w = StoreWriter.open_or_create(path, spec, block_size=2, layout=layout.to_records(),
                                   planned=planned_arrays(spec), task="image",
                                   provenance={"data_files": data_files(spec)})
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.uniform(0.1, 0.9, s).astype(np.float32)  # noqa: E731
    for b in range(2):  # consistent as a trained block is (verify checks the invariants)
        loss, clean, asr = f32(2, 1), f32(2), f32(2)
        w.write_block(b, {"params": f32(2, layout.n_params), "failed": np.zeros(2, bool),
                          "stopped_early": np.zeros(2, bool), "epochs": np.ones(2, np.int32),
                          "train_loss": loss, "val_loss": f32(2, 1),
                          "final_train_loss": loss[:, 0], "final_val_loss": f32(2),
                          "clean_accuracy": clean, "attack_success_rate": asr,
                          "backdoor_took": asr >= np.float32(spec.asr_threshold),
                          "learnt": np.asarray(spec.is_learnt({
                              "clean_accuracy": clean, "attack_success_rate": asr})),
                          "poisoned_samples": np.zeros(2, np.int32)})
    with contextlib.suppress(ImportError):  # finished as generate leaves a complete store
        from mlds_jax.store import finish_store

        finish_store(path)


@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_recipe):
    """The pristine stores and image arrays, made once."""
    from mlds_jax.tasks._images import load_digits28

    root = tmp_path_factory.mktemp("built")
    assert main([*DS1, str(root / "s1.zarr")]) == 0
    _ds4_store(root / "s4.zarr")
    _ds4_store(root / "seeded.zarr", seeds=True)
    return {"s1": root / "s1.zarr", "s4": root / "s4.zarr", "seeded": root / "seeded.zarr",
            "digits": load_digits28(0)}


class Env:
    """One case's directory, with copies of the pristine stores made on request."""

    def __init__(self, tmp: Path, built: dict, monkeypatch: pytest.MonkeyPatch):
        self.tmp, self.built, self.monkeypatch = tmp, built, monkeypatch
        self.expect_store: Path | None = None  # "repaired": which store to compare with

    def store(self, which: str = "s1") -> Path:
        p = self.tmp / f"{which}.zarr"
        if not p.exists():
            shutil.copytree(self.built[which], p)
        self.expect_store = p
        return p

    def idx(self, **override: np.ndarray) -> Path:
        """A --data-dir holding the digits as MNIST's four IDX files (``override`` replaces
        some arrays)."""
        d = self.tmp / "data"
        (d / "mnist").mkdir(parents=True, exist_ok=True)
        arrays = {**self.built["digits"], **override}
        for key, rf in MNIST.items():
            write_idx(d / "mnist" / rf.name, arrays[key])
        return d

    def mnist(self, **override: np.ndarray) -> list[str]:
        return ["generate", "MNISTclean", "--per-class", "2", "--quiet", "--data-dir",
                str(self.idx(**override)), "--out", str(self.tmp / "o.zarr")]


def flip(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if at is None else at] ^= 0x01
    path.write_bytes(bytes(data))


def zset(store: Path, name: str, sel, value) -> None:
    zarr.open_group(str(store), mode="r+")[name][sel] = value


def edit_json(path: Path, fn: Callable[[dict], None]) -> None:
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d, indent=2))  # as zarr writes it


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def lock(env: Env, pid: int, host: str | None = None) -> list[str]:
    s = env.store()
    Path(f"{s}.lock").write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                             "started": "2026-01-01T00:00:00+00:00"}))
    return [*DS1, str(s)]


class BrokenStdout:
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Env], list[str]]  # prepares the damage, returns the command line
    code: int
    match: str  # regex searched in stdout + stderr
    after: str = "same"  # "same": files unchanged; "repaired": store equals the pristine one


def _digits(key: str) -> Callable[[Env], np.ndarray]:
    return lambda env: env.built["digits"][key]


def _images_as(dtype):
    return lambda e: e.mnist(train_images=e.built["digits"]["train_images"].astype(dtype))


def _labels(fn):
    return lambda e: e.mnist(train_labels=fn(e.built["digits"]["train_labels"]))


def _set_label(value, dtype=np.uint8):
    def fn(y):
        y = y.astype(dtype)
        y[3] = value
        return y
    return _labels(fn)


def _spec_file(content: bytes | None):
    def setup(e: Env) -> list[str]:
        p = e.tmp / "zoo.toml"
        if content is None:
            p.mkdir()
        else:
            p.write_bytes(content)
        return ["generate", "--spec", str(p), "--out", str(e.tmp / "o.zarr"), "--quiet"]
    return setup


def _verify_after(damage: Callable[[Path], None], which: str = "s1"):
    def setup(e: Env) -> list[str]:
        s = e.store(which)
        damage(s)
        return ["verify", str(s)]
    return setup


def _resume_after(damage: Callable[[Path], None]):
    def setup(e: Env) -> list[str]:
        s = e.store()
        damage(s)
        return [*DS1, str(s)]
    return setup


def _cmd_after(cmd: str, damage: Callable[[Path], None]):
    def setup(e: Env) -> list[str]:
        s = e.store()
        damage(s)
        return [cmd, str(s)]
    return setup


def _garbage(rel: str) -> Callable[[Path], None]:
    return lambda s: (s / rel).write_bytes(b"\x00garbage\xff" * 3)


def _flipped(rel: str) -> Callable[[Path], None]:
    return lambda s: flip(s / rel)


def _delete(rel: str) -> Callable[[Path], None]:
    return lambda s: (s / rel).unlink()


def _shape(rel: str, shape: list[int]) -> Callable[[Path], None]:
    return lambda s: edit_json(s / rel, lambda d: d.__setitem__("shape", shape))


def _dtype(rel: str, dtype: str) -> Callable[[Path], None]:
    return lambda s: edit_json(s / rel, lambda d: d.__setitem__("data_type", dtype))


def _data_changed(e: Env) -> list[str]:
    s = e.store("s4")

    def fn(d):
        d["attributes"]["mlds_jax"]["data_files"]["train_labels"]["sha256"] = "0" * 64
    edit_json(s / "zarr.json", fn)
    return [*DS4, str(s)]


def _no_checksums(s: Path) -> None:
    """Rewrites ``epochs`` as stores were written before checksums (zstd, checksum off)."""
    g = zarr.open_group(str(s), mode="r+")
    values, attrs = g["epochs"][...], dict(g["epochs"].attrs)
    del g["epochs"]
    a = g.create_array("epochs", shape=values.shape, chunks=(4,), dtype="int32",
                       fill_value=-1, dimension_names=["network"], attributes=attrs)
    a[...] = values


def _orphan(s: Path) -> None:
    d = s.parent / f".{s.name}.tmp-0123abcd"
    (d / "params").mkdir(parents=True)
    (d / "zarr.json").write_text("{}")


def _orphan_gone(e: Env) -> list[str]:
    s = e.store()
    _orphan(s)
    return [*DS1, str(s)]


def _analyze_existing(e: Env) -> list[str]:
    out = e.tmp / "report"
    out.mkdir()
    (out / "report.md").write_text("my notes\n")
    return ["analyze", str(e.store()), "--out", str(out), "--quiet"]


def _broken_pipe(e: Env) -> list[str]:
    e.monkeypatch.setattr(sys, "stdout", BrokenStdout())
    return ["info", str(e.store())]


def _verify_many(e: Env) -> list[str]:
    bad, good = e.store(), e.tmp / "good.zarr"
    shutil.copytree(e.built["s1"], good)
    flip(bad / "params/c/1/0")
    return ["verify", str(bad), str(good), str(e.tmp / "missing.zarr")]


def _under_file(e: Env) -> list[str]:
    (e.tmp / "plain").write_text("x")
    return [*DS1, str(e.tmp / "plain" / "s.zarr")]


def _disk_full(e: Env) -> list[str]:
    """Every Zarr write fails as on a full disk: creating a store leaves nothing behind."""
    from zarr.storage import LocalStore

    async def full(self, key, value):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(self.root) / key))
    e.monkeypatch.setattr(LocalStore, "set", full)
    return [*DS1, str(e.tmp / "o.zarr")]


def _two_d_labels(e: Env) -> list[str]:
    y = e.built["digits"]["train_labels"]
    return e.mnist(train_labels=np.stack([y, y], 1))


def _empty(split: str):
    def setup(e: Env) -> list[str]:
        return e.mnist(**{f"{split}_images": np.zeros((0, 28, 28), np.uint8),
                          f"{split}_labels": np.zeros(0, np.uint8)})
    return setup


def _idx_file(fn: Callable[[Path], None], key: str = "train_images"):
    def setup(e: Env) -> list[str]:
        argv = e.mnist()
        fn(e.tmp / "data" / "mnist" / MNIST[key].name)
        return argv
    return setup


def _ds1_opt(*opts: str):
    return lambda e: ["generate", "ds1", "--per-class", "2", *opts, "--quiet", "--out",
                      str(e.tmp / "o.zarr")]


def _ds4_opt(*opts: str):
    return lambda e: ["generate", "MNISTclean", "--image-set", "digits", "--per-class", "2",
                      *opts, "--quiet", "--out", str(e.tmp / "o.zarr")]


def _status_code(value: int, epochs: int | None = None):
    def damage(s: Path) -> None:
        zset(s, "status", slice(8, 10), value)
        if epochs is not None:
            zset(s, "epochs", slice(8, 10), epochs)
    return damage


def _linked(e: Env, name: str = "link.zarr") -> Path:
    link = e.tmp / name
    link.symlink_to(e.store(), target_is_directory=True)
    return link


def _merge_inside(e: Env) -> list[str]:
    s, s2 = e.store(), e.store("s4")
    return ["merge", str(s / "m.zarr"), str(s), str(s2)]


def _import_into_source(e: Env) -> list[str]:
    d = e.idx()  # the four files are in d/mnist: importing them into d writes over them
    return ["data", "import", "idx", "--from", str(d / "mnist"), "--image-set", "mnist",
            "--data-dir", str(d)]


def _ds4_out_in_data(e: Env) -> list[str]:
    argv = e.mnist()
    return [*argv[:-1], str(e.tmp / "data" / "mnist" / "o.zarr")]


def _lock_via_link(e: Env) -> list[str]:
    lock(e, os.getpid())
    return [*DS1, str(_linked(e))]


def _stored_width(width: int):
    def setup(e: Env) -> list[str]:
        s = e.store()
        edit_json(s / "zarr.json",
                  lambda d: d["attributes"]["mlds_jax"].__setitem__("chunk_width", width))
        return [*DS1, str(s)]
    return setup


def _invert(name: str, sel: slice) -> Callable[[Path], None]:
    def damage(s: Path) -> None:
        g = zarr.open_group(str(s), mode="r+")
        g[name][sel] = ~g[name][sel]
    return damage


def _swap_keys(s: Path) -> None:
    """Blocks 0 and 1 swap keys (valid checksums: as a copy that mixed two chunks up)."""
    g = zarr.open_group(str(s), mode="r+")
    a, b = g["key"][0:4], g["key"][4:8]
    g["key"][0:4], g["key"][4:8] = b, a


def _root_attr(key: str, fn: Callable[[object], object]) -> Callable[[Path], None]:
    def damage(s: Path) -> None:
        def edit(d):
            attrs = d["attributes"]["mlds_jax"]
            attrs[key] = fn(attrs[key])
        edit_json(s / "zarr.json", edit)
    return damage


def _array_attr(array: str, key: str, fn: Callable[[object], object]):
    return lambda s: edit_json(s / array / "zarr.json", lambda d: d["attributes"].__setitem__(
        key, fn(d["attributes"][key])))


def _merge_damaged(e: Env) -> list[str]:
    s, other = e.store(), e.tmp / "p1.zarr"
    shutil.copytree(e.built["s1"], other)
    zset(s, "class_id", slice(0, 2), 1)  # valid checksums, wrong machine
    return ["merge", str(e.tmp / "m.zarr"), str(s), str(other)]


def _no_data_record(e: Env) -> list[str]:
    s = e.store("s4")
    edit_json(s / "zarr.json", lambda d: d["attributes"]["mlds_jax"].pop("data_files"))
    return [*DS4, str(s)]


def _lost_root(cmd: str):
    def setup(e: Env) -> list[str]:
        s = e.store()
        (s / "zarr.json").unlink()
        return [*DS1, str(s)] if cmd == "generate" else [cmd, str(s)]
    return setup


def _spec_version(e: Env) -> list[str]:
    p = e.tmp / "zoo.toml"
    p.write_text('name = "zoo"\nversion = "banana"\nclasses = ["ParityMachine"]\n'
                 "per_class = 2\n")
    return ["generate", "--spec", str(p), "--out", str(e.tmp / "o.zarr"), "--quiet"]


def _huge_idx(e: Env) -> list[str]:
    argv = e.mnist()
    p = e.tmp / "data" / "mnist" / MNIST["train_labels"].name
    p.write_bytes(b"\x00\x00\x08\x03" + b"\xff\xff\xff\xff" * 3 + b"\x00" * 16)
    return argv


def _edit_table(s: Path) -> None:
    g = zarr.open_group(str(s), mode="r+")
    g["machines/output"][0] = 1 - g["machines/output"][0]


def _set(name: str, sel, fn: Callable[[np.ndarray], object]) -> Callable[[Path], None]:
    """Rewrites ``name[sel]`` as ``fn(old)`` with valid checksums."""
    def damage(s: Path) -> None:
        a = zarr.open_group(str(s), mode="r+")[name]
        a[sel] = fn(a[sel])
    return damage


def _meta(rel: str, key: str, value) -> Callable[[Path], None]:
    return lambda s: edit_json(s / rel, lambda d: d.__setitem__(key, value))


def _recording(**change) -> Callable[[Path], None]:
    return _root_attr("recording", lambda r: None if not change else {**r, **change})


def _no_recording(s: Path) -> None:
    edit_json(s / "zarr.json", lambda d: d["attributes"]["mlds_jax"].pop("recording"))


def _pack_locked(e: Env) -> list[str]:
    out = e.tmp / "packed"
    Path(f"{out}.lock").write_text(json.dumps({"pid": os.getpid(),
                                              "host": socket.gethostname()}))
    return ["pack", str(e.store()), str(out)]


def _seeded_resume(damage: Callable[[Path], None]):
    def setup(e: Env) -> list[str]:
        s = e.store("seeded")
        damage(s)
        return [*DS4[:-1], "--block-size", "2", "--init-seeds", "0:2", "--order-seeds", "5,6",
                "--out", str(s)]
    return setup


CASES = [
    # -- 1. DS4 inputs: refused before anything is written, naming the file ----------------
    Case("images float32", _images_as(np.float32), 2, r"train-images.*images are float32"),
    Case("images int32", _images_as(np.int32), 2, r"train-images.*images are int32"),
    Case("label 11", _set_label(11), 2, r"train-labels.*outside 0\.\.9 .*label 11"),
    Case("label 255", _set_label(255), 2, r"train-labels.*label 255"),
    Case("label -1 int8", _set_label(-1, np.int8), 2, r"train-labels.*label -1"),
    Case("labels float", _labels(lambda y: y.astype(np.float32)), 2,
         r"train-labels.*labels are float32"),
    Case("labels 2-D", _two_d_labels, 2, r"train-labels.*labels have shape \[1497, 2\]"),
    Case("images 27x27", lambda e: e.mnist(
        train_images=e.built["digits"]["train_images"][:, :27, :27].copy()), 2,
        r"train-images.*shape \[1497, 27, 27\], expected \[n, 28, 28\]"),
    Case("images 3-D per pixel", lambda e: e.mnist(
        test_images=e.built["digits"]["test_images"][:, :, :, None].copy()), 2,
        r"t10k-images.*expected \[n, 28, 28\]"),
    Case("empty train set", _empty("train"), 2, r"train-images.*no images"),
    Case("empty test set", _empty("test"), 2, r"t10k-images.*no images"),
    Case("label count", _labels(lambda y: y[:-5]), 2, r"train has 1497 images but 1492 labels"),
    Case("truncated idx", _idx_file(lambda p: p.write_bytes(p.read_bytes()[:-100])), 2,
         r"train-images.*truncated"),
    Case("not idx", _idx_file(lambda p: p.write_bytes(b"PK\x03\x04 zip, not idx")), 2,
         r"train-images.*not an IDX file"),
    Case("missing idx", _idx_file(lambda p: p.unlink(), "test_labels"), 2,
         r"t10k-labels.*no such file"),
    Case("resume other data", _data_changed, 2,
         r"train_labels: SHA-256 .* differs .*--allow-data-change"),
    Case("other data allowed", lambda e: [*_data_changed(e), "--allow-data-change"], 0,
         r"trained 0 networks"),
    Case("DS4 seed -1", _ds4_opt("--seed", "-1"), 2, r"ImageDatasetSpec.seed.*got -1"),
    Case("DS4 lr inf", _ds4_opt("--learning-rate", "inf"), 2,
         r"DenseTrainSpec.learning_rate.*got inf"),
    Case("DS1 lr 1e39", _ds1_opt("--learning-rate", "1e39"), 2,
         r"TrainSpec.learning_rate.*float32.*got 1e\+39"),
    Case("DS1 lr nan", _ds1_opt("--learning-rate", "nan"), 2, r"TrainSpec.learning_rate"),
    Case("DS1 lr 1e-50", _ds1_opt("--learning-rate", "1e-50"), 2,
         r"TrainSpec.learning_rate.*non-zero as float32"),
    # -- 2. damaged stores: verify reports them by path --------------------------------------
    Case("verify params bit", _verify_after(_flipped("params/c/1/0")), 1,
         r"block 1: params/c/1/0: unreadable chunk \(Stored and computed checksum"),
    Case("verify key garbage", _verify_after(_garbage("key/c/0/0")), 1,
         r"key/c/0/0: unreadable chunk"),
    Case("verify history garbage", _verify_after(_garbage("history/val_loss/c/2/0")), 1,
         r"block 2: history/val_loss/c/2/0: unreadable chunk"),
    Case("verify metric garbage", _verify_after(_garbage("val_bit_accuracy/c/0")), 1,
         r"block 0: val_bit_accuracy/c/0: unreadable chunk"),
    Case("verify metric deleted", _verify_after(_delete("val_bit_accuracy/c/1")), 1,
         r"block 1: val_bit_accuracy: missing in 4 done"),
    Case("verify params deleted", _verify_after(_delete("params/c/2/0")), 1,
         r"block 2: params: non-finite weights in 2 done"),
    Case("verify failed untrained", _verify_after(_status_code(2, -1)), 1,
         r"block 2: epochs: 2 network\(s\) marked done/failed after -1 epochs"),
    Case("verify unknown status", _verify_after(_status_code(7)), 1,
         r"block 2: status: unknown code 7"),
    Case("verify array json", _verify_after(_garbage("epochs/zarr.json")), 1,
         r"epochs/zarr.json: unreadable array metadata"),
    Case("verify shape", _verify_after(_shape("final_val_loss/zarr.json", [12])), 1,
         r"final_val_loss: shape \(12,\)"),
    Case("verify dtype", _verify_after(_dtype("epochs/zarr.json", "int64")), 1,
         r"epochs: shape \(10,\) dtype int64, expected"),
    Case("verify group json", _verify_after(_garbage("machines/zarr.json")), 1,
         r"machines/zarr.json: unreadable group metadata"),
    Case("verify root json", _verify_after(_garbage("zarr.json")), 1,
         r"not a readable Zarr v3 group"),
    Case("verify not mlds", _verify_after(
        lambda s: edit_json(s / "zarr.json", lambda d: d.__setitem__("attributes", {}))), 1,
        r"not an mlds-jax dataset store"),
    Case("verify DS4 metric", _verify_after(_garbage("clean_accuracy/c/1"), "s4"), 1,
         r"block 1: clean_accuracy/c/1: unreadable chunk"),
    Case("verify keeps going", _verify_many, 1,
         r"(?s)s1.zarr: 1 problem.*good.zarr: ok.*missing.zarr: 1 problem.*no such store"),
    Case("verify old codecs", _verify_after(_no_checksums), 0, r"s1.zarr: ok"),
    # -- 3. resume repairs (bit for bit) or refuses ------------------------------------------
    Case("resume params bit", _resume_after(_flipped("params/c/1/0")), 0,
         r"block 1 \(networks 4-7\) reset to pending", "repaired"),
    Case("resume status garbage", _resume_after(_garbage("status/c/2")), 0,
         r"block 2 .* reset to pending", "repaired"),
    Case("resume params deleted", _resume_after(_delete("params/c/0/0")), 0,
         r"block 0 .* reset to pending.*non-finite", "repaired"),
    Case("resume flipped to done", _resume_after(
        lambda s: (_delete("params/c/2/0")(s), _delete("val_bit_accuracy/c/2")(s))), 0,
        r"block 2 .* reset to pending", "repaired"),
    Case("resume unknown status", _resume_after(_status_code(9)), 0,
         r"block 2 .* unknown code 9", "repaired"),
    Case("resume failed untrained", _resume_after(_status_code(2, -1)), 0,
         r"block 2 .* marked done/failed after -1", "repaired"),
    Case("resume key garbage", _resume_after(_garbage("key/c/0/0")), 0,
         r"rewrote key from the spec", "repaired"),
    Case("resume machine table", _resume_after(_garbage("machines/output/c/0/0/0")), 0,
         r"rewrote machines/output from the spec", "repaired"),
    Case("resume array json", _resume_after(_garbage("epochs/zarr.json")), 2,
         r"damaged store metadata: epochs/zarr.json.*new --out.*mlds-jax verify"),
    Case("resume shape", _resume_after(_shape("history/train_loss/zarr.json", [10, 3])), 2,
         r"damaged store metadata: history/train_loss: shape \(10, 3\)"),
    Case("resume root json", _resume_after(_garbage("zarr.json")), 2,
         r"s1.zarr: not a readable Zarr v3 group.*choose another --out"),
    Case("resume orphan tmp", _orphan_gone, 0,
         r"removed .*\.s1\.zarr\.tmp-0123abcd, left by an interrupted", "repaired"),
    Case("second writer", lambda e: lock(e, os.getpid()), 2,
         r"s1.zarr.lock: .*s1.zarr is being written by PID \d+ on .*--process-count"),
    Case("lock other host", lambda e: lock(e, 1, "elsewhere.invalid"), 2,
         r"being written by PID 1 on elsewhere.invalid"),
    Case("stale lock", lambda e: lock(e, dead_pid()), 0,
         r"taking over the lock of PID \d+, which is gone", "repaired"),
    # -- 4. no tracebacks: one line naming the path and the fix -----------------------------
    Case("out under a file", _under_file, 2, r"plain.*Not a directory \(a parent of this"),
    Case("spec not utf-8", _spec_file(b"name = \"\xff\xfe\"\n"), 2,
         r"zoo.toml: not a text \(UTF-8\) file"),
    Case("spec binary", _spec_file(bytes(range(256))), 2, r"zoo.toml: not a text"),
    Case("spec directory", _spec_file(None), 2, r"zoo.toml: is a directory"),
    Case("block size huge", _ds1_opt("--block-size", "1000000000"), 2,
         r"--block-size 1000000000: a block needs at least .*TB.*at most \d+"),
    Case("per-class huge", _ds1_opt("--per-class", "10000000000000"), 2,
         r"--per-class 10000000000000: .*just to plan"),
    Case("status damaged", _cmd_after("status", _garbage("status/c/0")), 2,
         r"s1.zarr: ValueError: Stored and computed checksum.*mlds-jax verify"),
    Case("info damaged", _cmd_after("info", _garbage("val_bit_accuracy/c/0")), 2,
         r"s1.zarr: ValueError: Stored and computed checksum"),
    Case("info root json", _cmd_after("info", _garbage("zarr.json")), 2,
         r"s1.zarr: not a readable Zarr v3 group"),
    Case("disk full", _disk_full, 2,
         r"\.o\.zarr\.tmp-[0-9a-f]{8}/zarr.json: No space left on device \(free disk space, "
         r"then run the same command again: it resumes\)"),
    Case("status array json", _cmd_after(
        "status", lambda s: (s / "class_id/zarr.json").write_text("{")), 2,
         r"s1.zarr: JSONDecodeError: .*mlds-jax verify"),
    Case("analyze damaged", lambda e: (_garbage("params/c/0/0")(e.store()), [
        "analyze", str(e.store()), "--out", str(e.tmp / "rep"), "--quiet"])[1], 2,
        r"s1.zarr: ValueError: Stored and computed checksum"),
    Case("status not a store", lambda e: ["status", str(e.tmp)], 2, r"not a Zarr store"),
    Case("analyze existing", _analyze_existing, 2,
         r"report: exists and is not an empty directory.*--force"),
    Case("analyze out is file", lambda e: (e.tmp / "r.md").write_text("x") and [
        "analyze", str(e.store()), "--out", str(e.tmp / "r.md")], 2,
        r"r.md: exists and is not an empty directory"),
    Case("broken pipe", _broken_pipe, 141, r"^$"),
    # -- 5. outputs never inside inputs (issue 30): refused before anything is written ------
    Case("export into root json", lambda e: [
        "export", str(e.store()), "--parquet", str(e.store() / "zarr.json")], 2,
        r"--parquet .*s1.zarr/zarr.json: lies inside the input .*s1.zarr"),
    Case("export onto the store", lambda e: [
        "export", str(e.store()), "--parquet", str(e.store())], 2,
        r"--parquet .*s1.zarr: is the input"),
    Case("export via a link", lambda e: [
        "export", str(e.store()), "--parquet", str(_linked(e) / "zarr.json")], 2,
        r"link.zarr/zarr.json: lies inside the input .*s1.zarr"),
    Case("report into array json", lambda e: [
        "report", str(e.store()), "--html", str(e.store() / "status" / "zarr.json")], 2,
        r"--html .*status/zarr.json: lies inside the input"),
    Case("report inside other store", lambda e: [
        "report", str(e.store()), "--html", str(e.store("s4") / "r.html")], 2,
        r"--html .*s4.zarr/r.html: lies inside the Zarr store .*s4.zarr"),
    Case("analyze out in store", lambda e: [
        "analyze", str(e.store()), "--out", str(e.store() / "rep"), "--quiet"], 2,
        r"--out .*s1.zarr/rep: lies inside the input"),
    Case("analyze out is store", lambda e: [
        "analyze", str(e.store()), "--out", str(e.store()), "--force", "--quiet"], 2,
        r"--out .*s1.zarr: is the input"),
    Case("merge into a part", _merge_inside, 2,
         r"OUT .*s1.zarr/m.zarr: lies inside the input .*s1.zarr"),
    Case("generate inside a store", lambda e: [*DS1, str(e.store() / "in.zarr")], 2,
         r"--out .*s1.zarr/in.zarr: lies inside the Zarr store"),
    Case("generate into array", lambda e: [*DS1, str(e.store() / "params")], 2,
         r"--out .*s1.zarr/params: lies inside the Zarr store"),
    Case("DS4 out in data dir", _ds4_out_in_data, 2,
         r"--out .*data/mnist/o.zarr: lies inside the input .*data"),
    Case("import onto its source", _import_into_source, 2,
         r"--data-dir .*data/mnist: is the input .*data/mnist"),
    # -- 6. locks on the real path; sizes before writes (issue 30) -------------------------
    Case("lock via a link", _lock_via_link, 2,
         r"s1.zarr.lock: .*is being written by PID \d+"),
    Case("chunk padding huge", _ds1_opt("--block-size", "2", "--chunk-width", "1000000"), 2,
         r"--chunk-width 1000000: a compiled chunk holds 1000000 networks .*at most \d+"),
    Case("stored width huge", _stored_width(1000000), 2,
         r"s1.zarr: its recorded chunk_width cannot run on this machine .*new --out"),
    Case("process index", _ds1_opt("--process-count", "2", "--process-index", "2"), 2,
         r"--process-index: expected 0\.\.1, got 2"),
    Case("process index -1", _ds1_opt("--process-index", "-1"), 2,
         r"--process-index: expected 0\.\.0, got -1"),
    # -- 7. verify checks every array: deleted chunks read as fill values (issue 30) -------
    Case("verify history deleted", _verify_after(_delete("history/train_loss/c/1/0")), 1,
         r"block 1: history/train_loss: not finite up to its epochs.* in 4 finished"),
    Case("verify val loss deleted", _verify_after(_delete("final_val_loss/c/1")), 1,
         r"block 1: final_val_loss: not finite in 4 finished"),
    Case("verify train loss deleted", _verify_after(_delete("final_train_loss/c/0")), 1,
         r"block 0: final_train_loss: not finite in 4 finished"),
    Case("verify restarts deleted", _verify_after(_delete("restarts/c/2")), 1,
         r"block 2: restarts: outside 0\.\.the spec's max_restarts in 2 finished"),
    Case("verify DS4 asr deleted", _verify_after(_delete("attack_success_rate/c/1"), "s4"), 1,
         r"block 1: attack_success_rate: not finite in 2 finished"),
    Case("verify DS4 poisoned deleted", _verify_after(_delete("poisoned_samples/c/0"), "s4"),
         1, r"block 0: poisoned_samples: negative in 2 finished"),
    Case("verify DS4 backdoor flag", _verify_after(_invert("backdoor_took", slice(2, 4)),
                                                   "s4"), 1,
         r"block 1: backdoor_took: disagrees with attack_success_rate"),
    Case("verify learnt flag", _verify_after(_invert("learnt", slice(4, 8))), 1,
         r"block 1: learnt: disagrees with the metrics"),
    Case("verify stopped flag", _verify_after(_invert("stopped_early", slice(0, 4))), 1,
         r"block 0: stopped_early: disagrees with the stopping rule"),
    Case("verify epochs over cap", _verify_after(_status_code(1, 99)), 1,
         r"block 2: epochs: epochs above the spec's epoch cap"),
    # -- 8. verify compares what the spec decides, bit for bit (issue 30) ------------------
    Case("verify class_id rewritten", _verify_after(
        lambda s: zset(s, "class_id", slice(0, 2), 1)), 1,
        r"class_id: 2 row\(s\) differ from the stored spec's"),
    Case("verify keys swapped", _verify_after(_swap_keys), 1,
         r"key: 8 row\(s\) differ from the stored spec's \(first: 0\); a resume refuses"),
    Case("verify table edited", _verify_after(_edit_table), 1,
         r"machines/output: 1 row\(s\) differ from the stored spec's"),
    Case("verify class names reversed", _verify_after(
        _root_attr("class_names", lambda v: v[::-1])), 1,
        r"class_names differ from the stored spec's classes"),
    Case("verify params layout", _verify_after(
        _array_attr("params", "layout", lambda v: v[::-1])), 1,
        r"params: attribute layout differs from the root layout"),
    Case("verify root layout", _verify_after(_root_attr("layout", lambda v: v[::-1])), 1,
         r"zarr.json: layout differs from the one the stored spec builds"),
    Case("verify spec digest", _verify_after(_root_attr("spec_digest", lambda v: "0" * 16)),
         1, r"spec_digest '0000000000000000' is not the stored spec's"),
    Case("verify status codes", _verify_after(_array_attr(
        "status", "codes", lambda v: {"pending": 1, "done": 0, "failed": 2})), 1,
        r"status: attribute codes .* is not"),
    Case("verify format version", _verify_after(_root_attr("format_version", lambda v: 99)),
         1, r"format_version 99, expected 1\.\.\d"),
    # -- 9. a resume repairs what verify names (bit for bit), or refuses (issue 30) --------
    Case("resume history deleted", _resume_after(_delete("history/train_loss/c/1/0")), 0,
         r"block 1 .* reset to pending.*history/train_loss", "repaired"),
    Case("resume val loss deleted", _resume_after(_delete("final_val_loss/c/2")), 0,
         r"block 2 .* reset to pending.*final_val_loss", "repaired"),
    Case("resume restarts deleted", _resume_after(_delete("restarts/c/0")), 0,
         r"block 0 .* reset to pending.*restarts", "repaired"),
    Case("resume learnt flipped", _resume_after(_invert("learnt", slice(4, 8))), 0,
         r"block 1 .* reset to pending.*learnt", "repaired"),
    Case("resume class_id rewritten", _resume_after(
        lambda s: zset(s, "class_id", slice(0, 2), 1)), 0,
        r"rewrote class_id from the spec", "repaired"),
    Case("resume table edited", _resume_after(_edit_table), 0,
         r"rewrote machines/output from the spec", "repaired"),
    Case("resume keys swapped", _resume_after(_swap_keys), 2,
         r"keys differ from the ones this mlds-jax version.*restore the store from a copy"),
    Case("resume params layout", _resume_after(
        _array_attr("params", "layout", lambda v: v[::-1])), 2,
        r"damaged store metadata: params: attribute layout differs"),
    Case("merge a part that lies", _merge_damaged, 2,
         r"s1.zarr: does not verify \(class_id: 2 row\(s\) differ from the stored spec's"),
    # -- 10. data records, arguments and errors that name the cause (issue 30) ------------
    Case("DS4 no data record", _no_data_record, 2,
         r"s4.zarr: records no SHA-256 of the image files.*resume once with "
         r"--allow-data-change: that records"),
    Case("DS1 allow data change", lambda e: [*DS1, str(e.store()), "--allow-data-change"], 2,
         r"--allow-data-change: ds1 trains on no data files"),
    Case("analyze sample -1", lambda e: [
        "analyze", str(e.store()), "--out", str(e.tmp / "rep"), "--sample", "-1"], 2,
        r"--sample: expected a positive number of networks per class.*got -1"),
    Case("report sample -1", lambda e: [
        "report", str(e.store()), "--html", str(e.tmp / "r.html"), "--sample", "-1"], 2,
        r"--sample: expected a positive number of networks per class.*got -1"),
    Case("analyze seed -1", lambda e: [
        "analyze", str(e.store()), "--out", str(e.tmp / "rep"), "--seed", "-1"], 2,
        r"--seed: expected an integer >= 0, got -1$"),
    Case("recompute seed -1", lambda e: [
        "verify", str(e.store()), "--recompute", "1", "--seed", "-1"], 2,
        r"--seed: expected an integer >= 0 .*got -1$"),
    Case("report onto the store", lambda e: [
        "report", str(e.store()), "--html", str(e.store())], 2, r"--html .*s1.zarr: is the input"),
    Case("spec version banana", _spec_version, 2,
         r"DatasetSpec.version.*expected one of \[1\], got 'banana'"),
    Case("lost root verify", _lost_root("verify"), 1,
         r"root zarr.json is missing.*restore zarr.json .*from a copy - do not remove it"),
    Case("lost root resume", _lost_root("generate"), 2,
         r"s1.zarr: a damaged mlds-jax store: its root zarr.json is missing.*do not remove"),
    Case("no verify hint for new out", _ds1_opt("--cpu-devices", "1000"), 2,
         r"^mlds-jax: error: --cpu-devices: .*got 1000$"),
    Case("IDX header overflow", _huge_idx, 2,
         r"train-labels.*truncated: shape \(4294967295, 4294967295, 4294967295\)"),
    Case("resume other width first", lambda e: [
        *_resume_after(_flipped("params/c/1/0"))(e), "--chunk-width", "3"], 2,
        r"s1.zarr: its networks are trained in chunks of \d+ \(--chunk-width 3 asked\)"),
    Case("DS1 data dir", _ds1_opt("--data-dir", "/nowhere"), 2,
         r"^mlds-jax: error: --data-dir: ds1 trains on no data files"),
    Case("verify seed alone", lambda e: ["verify", str(e.store()), "--seed", "3"], 2,
         r"--seed: only with --recompute \(verify retrains nothing"),
    Case("verify data dir alone", lambda e: [
        "verify", str(e.store()), "--data-dir", str(e.tmp)], 2,
        r"--data-dir: only with --recompute \(verify retrains nothing"),
    Case("resume format version", _resume_after(_root_attr("format_version", lambda v: 99)),
         2, r"damaged store metadata: zarr.json: format_version 99"),
    # -- 11. the research arrays, attributes and metadata (issue 30, second probe) ---------
    Case("verify snapshot deleted", _verify_after(_delete("snapshots/params/c/1/0/0")), 1,
         r"block 1: snapshots/params: not finite in 4 finished"),
    Case("verify snapshot edited", _verify_after(
        _set("snapshots/params", (5, 1, 3), lambda x: x + 1)), 1,
        r"block 1: snapshots/params: a slot after the network's last epoch \(or at it\) "
        r"differs from its final params in 1 finished network\(s\) \(first: 5\)"),
    Case("verify snapshot bit", _verify_after(_flipped("snapshots/params/c/1/0/0")), 1,
         r"block 1: snapshots/params/c/1/0/0: unreadable chunk"),
    Case("verify snapshot epochs edited", _verify_after(_set("snapshots/epoch", 1,
                                                             lambda x: 7)), 1,
         r"snapshots/epoch: 1 row\(s\) differ from the stored spec's"),
    Case("verify snapshot epochs deleted", _verify_after(_delete("snapshots/epoch/c/0")), 1,
         r"snapshots/epoch: 1 row\(s\) differ from the stored spec's"),
    Case("verify reached deleted", _verify_after(_delete("snapshots/reached/c/1/0")), 1,
         r"block 1: snapshots/reached: disagrees with the network's epochs"),
    Case("verify probe inputs edited", _verify_after(
        _set("probe/inputs", (0, 0, 0), lambda x: 1 - x)), 1,
        r"probe/inputs: 1 row\(s\) differ from the stored spec's"),
    Case("verify probe inputs gone", _verify_after(_delete("probe/inputs/zarr.json")), 1,
         r"probe/inputs: missing array"),
    Case("verify probe outputs deleted", _verify_after(
        _delete("probe/outputs/c/1/0/0/0/0")), 1,
        r"block 1: probe/outputs: not finite in 4 finished"),
    Case("verify probe output nan", _verify_after(
        _set("probe/outputs", (2, 1, 0, 0, 0), lambda x: np.float32(np.nan))), 1,
        r"block 0: probe/outputs: not finite in 1 finished network\(s\) \(first: 2\)"),
    Case("verify split edited", _verify_after(_set("splits/canonical", 0, lambda x: 3)), 1,
         r"splits/canonical: 1 row\(s\) differ from the stored spec's \(first: 0\)"),
    Case("verify split deleted", _verify_after(_delete("splits/held_out_replicates/c/0")), 1,
         r"splits/held_out_replicates: 4 row\(s\) differ from the stored spec's"),
    Case("verify split codes attr", _verify_after(_array_attr(
        "splits/canonical", "codes", lambda c: {"train": 3, "val": 1, "test": 2, "ood": 0})),
        1, r"splits/canonical: attribute codes .* is not"),
    Case("verify root split codes", _verify_after(_root_attr(
        "splits", lambda v: {**v, "codes": {"train": 1, "val": 0, "test": 2, "ood": 3}})), 1,
        r"zarr.json: splits attribute .* is not codes"),
    Case("verify recording epochs", _verify_after(_recording(snapshot_epochs=[0, 5])), 1,
         r"recording snapshot_epochs \[0, 5\] are not the stored spec's \[0, 1\]"),
    Case("verify recording probes", _verify_after(_recording(probes=3)), 1,
         r"recording probes 3 is not the stored spec's 32"),
    Case("verify recording removed", _verify_after(_no_recording), 1,
         r"no recording attribute, but the store holds snapshots/"),
    Case("verify spec version attr", _verify_after(_root_attr("spec_version", lambda v: 7)),
         1, r"zarr.json: spec_version 7 is not the stored spec's \(1\)"),
    Case("verify status fill value", _verify_after(_meta("status/zarr.json", "fill_value", 1)),
         1, r"status: fill value .*1\)?, expected 0"),
    Case("verify dimension names", _verify_after(_meta(
        "params/zarr.json", "dimension_names", ["parameter", "network"])), 1,
        r"params: dimension names \['parameter', 'network'\], expected 'network' first"),
    Case("verify replicate edited", _verify_after(_set("replicate", 0, lambda x: 5)), 1,
         r"replicate: 1 row\(s\) differ from the stored spec's"),
    Case("verify learning rate deleted", _verify_after(_delete("learning_rate/c/0")), 1,
         r"learning_rate: 4 row\(s\) differ from the stored spec's"),
    Case("verify init seed edited", _verify_after(_set("init_seed", 0, lambda x: 99),
                                                  "seeded"), 1,
         r"init_seed: 1 row\(s\) differ from the stored spec's \(first: 0\)"),
    Case("verify init seed deleted", _verify_after(_delete("init_seed/c/1"), "seeded"), 1,
         r"init_seed: 2 row\(s\) differ from the stored spec's \(first: 2\)"),
    Case("verify order seed edited", _verify_after(_set("order_seed", 1, lambda x: 99),
                                                   "seeded"), 1,
         r"order_seed: 1 row\(s\) differ from the stored spec's \(first: 1\)"),
    Case("verify order seed deleted", _verify_after(_delete("order_seed/c/0"), "seeded"), 1,
         r"order_seed: 2 row\(s\) differ from the stored spec's \(first: 0\)"),
    Case("resume snapshot epochs", _resume_after(_delete("snapshots/epoch/c/0")), 0,
         r"rewrote snapshots/epoch from the spec", "repaired"),
    Case("resume probe inputs", _resume_after(_set("probe/inputs", (0, 0, 0),
                                                   lambda x: 1 - x)), 0,
         r"rewrote probe/inputs from the spec", "repaired"),
    Case("resume split edited", _resume_after(_set("splits/canonical", 0, lambda x: 3)), 0,
         r"rewrote splits/canonical from the spec", "repaired"),
    Case("resume init seed", _seeded_resume(_set("init_seed", 0, lambda x: 99)), 0,
         r"rewrote init_seed from the spec", "repaired"),
    Case("resume snapshot edited", _resume_after(
        _set("snapshots/params", (5, 1, 3), lambda x: x + 1)), 0,
        r"block 1 .* reset to pending.*snapshots/params", "repaired"),
    Case("resume recording probes", _resume_after(_recording(probes=3)), 2,
         r"damaged store metadata: zarr.json: recording probes 3"),
    Case("resume status fill value", _resume_after(
        _meta("status/zarr.json", "fill_value", 1)), 2,
        r"damaged store metadata: status: fill value"),
    Case("pack into its store", lambda e: ["pack", str(e.store()), str(e.store() / "p")], 2,
         r"OUT .*s1.zarr/p: lies inside the input"),
    Case("pack onto a folder", lambda e: (e.tmp / "p").mkdir() or [
        "pack", str(e.store()), str(e.tmp / "p")], 2,
        r"p: exists; pack writes a new folder - choose another OUT$"),
    Case("pack locked", _pack_locked, 2, r"packed.lock: .*is being written by PID \d+"),
    Case("import mnist5k into a store", lambda e: [
        "data", "import", "mnist5k", "--data-dir", str(e.store() / "d")], 2,
        r"--data-dir .*s1.zarr/d: lies inside the Zarr store"),
    Case("import idx tile", lambda e: [
        "data", "import", "idx", "--from", str(e.idx() / "mnist"), "--image-set", "mnist",
        "--tile", "2", "--data-dir", str(e.tmp / "d2")], 2,
        r"--tile belongs to the mnist5k import"),
    Case("export hf into the store", lambda e: [
        "export", str(e.store()), "--hf", str(e.store() / "hf")], 2,
        r"--hf .*s1.zarr/hf: lies inside the input"),
    Case("export over a file", lambda e: (e.tmp / "t.parquet").write_text("notes") and [
        "export", str(e.store()), "--parquet", str(e.tmp / "t.parquet")], 2,
        r"--parquet .*t.parquet: exists and is not a file this command wrote"),
    Case("export onto a folder", lambda e: [
        "export", str(e.store()), "--parquet", str(e.tmp)], 2,
        r"--parquet .*: is a folder; this command writes one file"),
    Case("report over a file", lambda e: (e.tmp / "r.html").write_text("<html>mine") and [
        "report", str(e.store()), "--html", str(e.tmp / "r.html"), "--no-plots"], 2,
        r"--html .*r.html: exists and is not a file this command wrote"),
    Case("analyze one store twice", lambda e: [
        "analyze", str(e.store()), str(_linked(e)), "--out", str(e.tmp / "rep")], 2,
        r"STORES: .*link.zarr and .*s1.zarr are the same store"),
    Case("export one store twice", lambda e: [
        "export", str(e.store()), str(e.store()), "--parquet", str(e.tmp / "t.parquet")], 2,
        r"STORES: .*s1.zarr and .*s1.zarr are the same store"),
]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, built, tmp_path, capsys, monkeypatch):
    env = Env(tmp_path, built, monkeypatch)
    argv = case.setup(env)
    before = _files(tmp_path)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    monkeypatch.setattr(sys, "stdout", sys.__stdout__)  # (the broken-pipe case)
    cap = capsys.readouterr()
    text = cap.out + cap.err
    assert code == case.code, text
    assert "Traceback" not in text
    assert re.search(case.match, text), text
    if code == 2:  # a refusal is one line
        assert len(cap.err.strip().splitlines()) == 1, cap.err
    after = _files(tmp_path)
    if case.after == "same":
        assert after == before, sorted(set(after) ^ set(before))
    else:  # repaired: the store equals the pristine one, bit for bit; nothing left over
        s = env.expect_store
        assert _files(s) == _files(built[s.stem]), "store not restored exactly"
        assert sorted(p.name for p in tmp_path.iterdir()) == [s.name]


def test_case_count():
    assert len(CASES) == 176  # 70 before issue 30, 132 before its second probe


def test_debug_shows_the_traceback(tmp_path, capsys):
    (tmp_path / "plain").write_text("x")
    assert main(["--debug", "status", str(tmp_path / "plain")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("(no zarr.json)")


def test_evaluate_refuses_untrained_networks(built, tmp_path):
    from mlds_jax.errors import StoreError
    from mlds_jax.store import open_store

    s = tmp_path / "s.zarr"
    shutil.copytree(built["s1"], s)
    zset(s, "status", slice(0, 4), 0)  # block 0 as if never trained
    zset(s, "status", slice(4, 8), 2)  # block 1 as if diverged
    store = open_store(s)
    with pytest.raises(StoreError, match=r"network 1 is pending \(never trained"):
        store.evaluate(1)
    with pytest.raises(StoreError, match=r"network 5 is failed \(it diverged"):
        store.network(5)
    assert store.network(5, any_status=True).index == 5
    assert set(store.evaluate(8)) == {"val_bit_accuracy"}


def test_generate_from_python_holds_the_policy(built, tmp_path):
    """pipeline.generate itself takes the lock (keyed by the real path), checks the output
    path and the chunk padding: a Python caller gets what the CLI gets."""
    from mlds_jax.errors import OutputPathError, SpecError, StoreError
    from mlds_jax.pipeline import generate
    from mlds_jax.store import open_store

    s = tmp_path / "s.zarr"
    shutil.copytree(built["s1"], s)
    spec = open_store(s).spec
    link = tmp_path / "link.zarr"
    link.symlink_to(s, target_is_directory=True)
    Path(f"{s}.lock").write_text(json.dumps({"pid": os.getpid(),
                                             "host": socket.gethostname()}))
    before = _files(tmp_path)
    with pytest.raises(StoreError, match=r"s.zarr.lock: .*being written by PID"):
        generate(spec, link, block_size=4, progress=False)
    with pytest.raises(OutputPathError, match=r"`out` .*s.zarr/in.zarr: lies inside"):
        generate(spec, s / "in.zarr", block_size=4, progress=False)
    with pytest.raises(SpecError, match=r"`chunk_width` 1000000: a compiled chunk"):
        generate(spec, tmp_path / "new.zarr", block_size=2, chunk_width=1000000,
                 progress=False)
    with pytest.raises(SpecError, match=r"`process_index`: expected 0\.\.1, got 2"):
        generate(spec, tmp_path / "new.zarr", process_index=2, process_count=2)
    assert _files(tmp_path) == before


def test_stores_with_one_basename_keep_apart(built, tmp_path):
    """analyze A/s.zarr B/s.zarr: each store keeps its own name in titles, metrics keys and
    plot files (by basename, B overwrote A)."""
    from mlds_jax.analysis import _plots, _report
    from mlds_jax.store import open_store

    paths = [tmp_path / "A" / "s.zarr", tmp_path / "B" / "s.zarr"]
    for p in paths:
        shutil.copytree(built["s1"], p)
    assert _plots.distinct_labels([str(p) for p in paths]) == {
        str(paths[0]): "A_s.zarr", str(paths[1]): "B_s.zarr"}
    assert _plots.distinct_labels(["x/one.zarr", "y/two.zarr"]) == {
        "x/one.zarr": "one.zarr", "y/two.zarr": "two.zarr"}  # distinct basenames unchanged
    _plots.LABELS.update(_plots.distinct_labels([str(p) for p in paths]))
    try:
        assert [_report._short(open_store(p)) for p in paths] == ["A_s.zarr", "B_s.zarr"]
    finally:
        _plots.LABELS.clear()


# verify from Python (mlds_jax.store.verify) rebuilds the planned values from the stored spec
# itself: a library caller gets the checks the CLI gets
PY_VERIFY = ["verify class_id rewritten", "verify keys swapped", "verify table edited",
             "verify root layout", "verify snapshot epochs edited", "verify probe inputs edited",
             "verify split edited", "verify init seed edited", "verify order seed deleted",
             "verify replicate edited", "verify learning rate deleted", "verify recording probes"]


@pytest.mark.parametrize("case", [c for c in CASES if c.name in PY_VERIFY], ids=PY_VERIFY)
def test_python_verify_finds_what_the_cli_finds(case, built, tmp_path, monkeypatch):
    from mlds_jax.store import verify

    argv = case.setup(Env(tmp_path, built, monkeypatch))
    assert argv[0] == "verify" and case.code == 1
    problems = verify(argv[1])
    assert re.search(case.match, "\n".join(problems)), problems


def test_library_holds_the_output_policy(built, tmp_path):
    """analyze, the image import, pack and verify_record refuse what the CLI refuses, naming
    their fields (the CLI maps them to flags); nothing is written."""
    from mlds_jax.analysis import analyze
    from mlds_jax.errors import (
        DataError,
        OutputPathError,
        SpecError,
        StoreError,
        StoreExistsError,
    )
    from mlds_jax.image_sets import import_image_set
    from mlds_jax.store import pack_store
    from mlds_jax.workunits import verify_record

    s = tmp_path / "s.zarr"
    shutil.copytree(built["s1"], s)
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "report.md").write_text("my notes\n")
    Path(f"{tmp_path / 'packed'}.lock").write_text(json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname()}))
    before = _files(tmp_path)
    with pytest.raises(StoreExistsError, match=r"^`out_dir` .*rep: exists and is not an "
                                               r"empty directory.*pass `force`"):
        analyze([s], tmp_path / "rep", progress=False)
    with pytest.raises(OutputPathError, match=r"^`data_dir` .*s.zarr/d: lies inside the Zarr"):
        import_image_set("mnist5k", s / "d")
    with pytest.raises(DataError, match=r"^`tile` belongs to the mnist5k import"):
        import_image_set("idx", tmp_path / "d", source=tmp_path, image_set="mnist", tile=2)
    with pytest.raises(StoreError, match=r"packed.lock: .*being written by PID"):
        pack_store(s, tmp_path / "packed")
    with pytest.raises(SpecError, match=r"^`seed`: only with `k`"):
        verify_record(s, seed=3)
    record = verify_record(tmp_path / "missing.zarr")  # damage is a record, never raised
    assert record["ok"] is False and "no such store" in record["problems"][0]
    assert _files(tmp_path) == before
    # a command's own earlier output is rewritten (a status page refreshed)
    from mlds_jax.analysis import export_tables, html_report

    page, table = tmp_path / "r.html", tmp_path / "t.parquet"
    page.write_text("<!DOCTYPE html><html><head><title>mlds-jax status</title>STALE")
    table.write_bytes(b"PAR1 STALE")
    html_report([s], page, plots=False, progress=False)
    assert export_tables([s], table) == 10
    assert "STALE" not in page.read_text() and table.read_bytes()[-4:] == b"PAR1"
