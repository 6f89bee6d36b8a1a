"""Long runs: blocks checkpointed every K epochs resume mid-block after a kill."""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
from helpers import run_python

from mlds_jax.store import open_store, verify

SPEC = """
name = "long"
classes = ["ParityMachine", "EightBitMachine"]
per_class = 2
[train]
batch_size = 8
seq_len = 8
n_train = 64
n_val = 16
max_epochs = 100
stop_val_loss = 0.0
"""


def test_killed_long_run_resumes_from_its_checkpoint(tmp_path):
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(SPEC)
    out, ckpt = tmp_path / "long.zarr", tmp_path / "long.zarr.ckpt"
    cmd = [sys.executable, "-m", "mlds_jax.cli", "generate", "--spec", str(spec_file),
           "--out", str(out), "--block-size", "4", "--checkpoint-every", "20"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    def complete_epochs():
        if not ckpt.exists():
            return []
        try:  # orbax renames directories while we look
            names = [p.name for p in ckpt.rglob("block-*")]
        except OSError:
            return []
        return [int(m.group(1)) for n in names
                if (m := re.fullmatch(r"block-0-epoch-(\d+)", n))]

    deadline = time.time() + 240
    while time.time() < deadline and not any(e >= 40 for e in complete_epochs()):
        time.sleep(0.1)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert complete_epochs(), "no complete checkpoint was written before the kill"

    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    resumed = [ln for ln in r.stderr.splitlines() if "resumed from its checkpoint" in ln]
    assert resumed and "epoch 0" not in resumed[0], r.stderr[-2000:]
    assert verify(out) == []
    assert not list(ckpt.rglob("block-*"))  # removed on commit

    ref = tmp_path / "ref.zarr"
    subprocess.run([sys.executable, "-m", "mlds_jax.cli", "generate", "--spec", str(spec_file),
                    "--out", str(ref), "--block-size", "4", "--quiet"], check=True,
                   timeout=300, stdout=subprocess.DEVNULL)
    a, b = open_store(out), open_store(ref)
    for name in ("status", "epochs"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # checkpointed segments run the same chunk programs as a plain run: equal bits
    for name in ("params", "history/val_loss", "final_val_loss", "val_bit_accuracy",
                 "snapshots/params", "snapshots/reached", "probe/outputs"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_checkpoint_of_another_state_layout_is_retrained_not_resumed(tmp_path):
    """A checkpoint whose state lacks a field of today's (e.g. written before the training
    state gained ``restarts``) or has other shapes: a warning, and the block starts over."""
    import jax.numpy as jnp
    import pytest

    from mlds_jax.coord._checkpoint import BlockCheckpoints

    ckpt = BlockCheckpoints(tmp_path / "c")
    ckpt.save(3, 40, {"params": jnp.ones(4), "epoch": jnp.int32(40)})
    state = {"params": jnp.zeros(4), "epoch": jnp.int32(0)}
    epoch, restored = ckpt.latest(3, state)  # the same layout resumes
    assert epoch == 40 and np.array_equal(restored["params"], np.ones(4))
    for target in ({**state, "restarts": jnp.int32(0)}, {**state, "params": jnp.zeros(5)}):
        with pytest.warns(UserWarning, match="checkpoint not resumable.*retraining block 3"):
            assert ckpt.latest(3, target) is None


CKPT_CHILD = """
import sys, jax, numpy as np
from mlds_jax.coord import set_cpu_devices
set_cpu_devices(int(sys.argv[2]))
from mlds_jax.coord._checkpoint import BlockCheckpoints
ck = BlockCheckpoints(sys.argv[1])
dev = jax.devices()[-1]  # with 2 devices the state lives on the second
state = [jax.device_put(np.arange(4, dtype=np.float32) + i, dev) for i in range(2)]
if sys.argv[3] == "save":
    ck.save(1, 3, state)
else:
    epoch, got = ck.latest(1, [s * 0 for s in state])
    print(epoch, [np.asarray(g).tolist() for g in got], got[0].devices() == {dev})
"""


def test_checkpoint_written_on_two_devices_restores_on_one(tmp_path):
    """A checkpointed block resumes after the device count changed (--cpu-devices, another
    core count): each leaf is restored onto the device of the new run's state."""
    def child(devices, what):
        return run_python(CKPT_CHILD, str(tmp_path / "ck"), str(devices), what,
                          py_flags=("-W", "error::UserWarning")).strip()

    child(2, "save")
    assert child(1, "load") == "3 [[0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]] True"
