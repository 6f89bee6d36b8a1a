"""One host, several devices: a block's chunks spread over the local devices (2 CPU devices,
asked for with ``set_cpu_devices`` as the CLI does) give the same store, bit for bit, as
one device. Two, not four: each device compiles the chunk programs once, and two show the
spread as well as four (tests/coord/test_devices.py covers the device count)."""

import json
import os
import subprocess
import sys

import numpy as np
from helpers import tiny_ds1

from mlds_jax.pipeline import generate
from mlds_jax.store import open_store

CHILD = """
import json, sys, jax
from mlds_jax.coord import set_cpu_devices
assert set_cpu_devices(2) == 2  # before JAX starts, as `mlds-jax generate --cpu-devices 2`
sys.path.insert(0, "tests")
from helpers import tiny_ds1
from mlds_jax.pipeline import generate
from mlds_jax.train import make_runner, network_inputs
import numpy as np
spec = tiny_ds1(per_class=3, snapshot_epochs="none")  # recording: its own tests
runner = make_runner(spec, width=2)
chunks = runner.split(network_inputs(spec, np.arange(4)))
states = runner.init(chunks)
generate(spec, sys.argv[1], block_size=4, chunk_width=2, progress=False)
print(json.dumps({"devices": len(jax.devices()),
                  "chunk_devices": len({d for s in states for d in s.epoch.devices()})}))
"""


def test_two_devices_equal_one(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "mesh.zarr")], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info == {"devices": 2, "chunk_devices": 2}  # the block really ran on 2 devices

    generate(tiny_ds1(per_class=3, snapshot_epochs="none"), tmp_path / "one.zarr", block_size=4,
             chunk_width=2, progress=False)
    a, b = open_store(tmp_path / "mesh.zarr"), open_store(tmp_path / "one.zarr")
    for name in ("status", "epochs", "stopped_early", "params", "final_val_loss",
                 "history/val_loss", "val_bit_accuracy"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
