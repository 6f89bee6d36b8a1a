"""kill -9 during `generate` at random moments, re-run: nothing lost, nothing duplicated, and
the final store equals an uninterrupted run."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import zarr

from mlds_jax.store import open_store, verify

SPEC = """
name = "crashy"
classes = ["SingleDirectMachine", "ParityMachine", "EightBitMachine"]
per_class = 8
[train]
batch_size = 8
seq_len = 8
n_train = 64
n_val = 16
max_epochs = 20
stop_val_loss = 0.0
"""


def _done(path):
    try:
        return int((zarr.open_group(str(path), mode="r")["status"][:] != 0).sum())
    except Exception:  # noqa: BLE001 - no store yet
        return -1


def _phase(path):
    if not os.path.exists(path):
        leftovers = [p for p in os.listdir(os.path.dirname(path)) if ".tmp-" in p]
        return "before the store existed" + (" (temp dir left)" if leftovers else "")
    done = int((zarr.open_group(str(path), mode="r")["status"][:] != 0).sum())
    return f"store with {done}/24 networks done"


def test_random_kills_then_resume_equals_uninterrupted(tmp_path):
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(SPEC)
    out = tmp_path / "crashy.zarr"
    cmd = [sys.executable, "-m", "mlds_jax.cli", "generate", "--spec", str(spec_file),
           "--out", str(out), "--block-size", "2", "--quiet"]
    # The uninterrupted reference run.
    ref = tmp_path / "reference.zarr"
    subprocess.run([*cmd[:-4], str(ref), *cmd[-3:]], check=True, timeout=300,
                   stdout=subprocess.DEVNULL)
    rng = random.Random(1234)
    # Kill points: during start-up (import), just after the first block lands (store
    # created, first write), and after a random number of networks more than the run
    # started with (mid-training and mid-write, with a random extra delay). Relative to
    # progress, not time: with the tests' compilation cache a whole run takes a few seconds
    # (a kill at 3-6 s used to come after the run had finished, so only the start-up kill
    # was exercised).
    targets = [("time", 1.0), ("done", 1), ("done", rng.randint(2, 3)),
               ("done", rng.randint(2, 3))]
    log = []
    for attempt, (kind, value) in enumerate(targets):
        start = max(_done(out), 0)  # finished networks before this run
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.perf_counter()
        if kind == "time":
            time.sleep(value)
        else:
            while p.poll() is None and _done(out) < start + value:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.1))
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            log.append(f"kill {attempt + 1} at {time.perf_counter() - t0:.1f}s "
                       f"(target {kind} {'+' if kind == 'done' else ''}{value}): {_phase(out)}")
        else:
            log.append(f"run {attempt + 1} finished before its kill point")
    print("\n".join(log))
    final = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    assert verify(out) == [], verify(out)
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]  # no temp dirs left

    a, b = open_store(out), open_store(ref)
    for name in ("params", "status", "epochs", "final_val_loss", "history/val_loss", "key"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # the start-up kill and the first two progress kills really happened (24 networks in
    # blocks of 2: a kill overshoots its target by a block or two, so networks are left)
    assert [line[:6] for line in log[:3]] == ["kill 1", "kill 2", "kill 3"], log
