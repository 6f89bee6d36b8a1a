"""Several independent processes share one store (scheduler-driven multi-process)."""

import subprocess
import sys

import numpy as np
import pytest

from mlds_jax.coord import my_blocks
from mlds_jax.pipeline import generate
from mlds_jax.spec import load_spec_file
from mlds_jax.store import open_store, verify

SPEC = """
name = "two-procs"
classes = ["SingleDirectMachine", "ParityMachine", "SimpleXORMachine"]
per_class = 6
[train]
batch_size = 8
seq_len = 8
n_train = 16
n_val = 16
max_epochs = 3
"""


def test_blocks_are_dealt_round_robin():
    assert my_blocks(5, 0, 2) == [0, 2, 4] and my_blocks(5, 1, 2) == [1, 3]
    assert sorted(my_blocks(7, 0, 3) + my_blocks(7, 1, 3) + my_blocks(7, 2, 3)) == list(range(7))
    with pytest.raises(ValueError, match="process_index"):
        my_blocks(3, 2, 2)


def test_two_processes_at_once_equal_one(tmp_path):
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(SPEC)
    # the single-process reference first: the two processes below then load its compiled
    # programs from the tests' compilation cache instead of both compiling them at once
    single = tmp_path / "single.zarr"
    generate(load_spec_file(spec_file), single, block_size=4, progress=False)
    shared = tmp_path / "shared.zarr"
    cmd = [sys.executable, "-m", "mlds_jax.cli", "generate", "--spec", str(spec_file),
           "--out", str(shared), "--block-size", "4", "--quiet", "--process-count", "2"]
    procs = [subprocess.Popen([*cmd, "--process-index", str(i)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in (0, 1)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    # 18 networks in 5 blocks of 4: process 0 trains blocks 0, 2, 4 (4+4+2), process 1 8
    trained = sorted(int(o[0].split("trained ")[1].split()[0]) for o in outs)
    assert trained == [8, 10]
    assert verify(shared) == []
    a, b = open_store(shared), open_store(single)
    for name in ("params", "status", "epochs", "final_val_loss", "history/val_loss"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
