"""One host, several devices: blocks split over a `models` mesh (4 fake CPU devices)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import tiny_ds1

from mlds_jax.coord import block_shardings
from mlds_jax.errors import SpecError
from mlds_jax.pipeline import generate
from mlds_jax.store import open_store

CHILD = """
import json, sys, jax
sys.path.insert(0, "tests")
from helpers import tiny_ds1
from mlds_jax.coord import block_shardings
from mlds_jax.pipeline import generate
from mlds_jax.train import make_block_trainer, network_inputs
import numpy as np
spec = tiny_ds1(per_class=3)
sh = block_shardings(8)
out = make_block_trainer(spec)(jax.device_put(network_inputs(spec, np.arange(8)), sh[0]))
generate(spec, sys.argv[1], block_size=8, progress=False)
print(json.dumps({"devices": len(jax.devices()),
                  "result_devices": len(out.params.sharding.device_set)}))
"""


def test_four_devices_equal_one(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "mesh.zarr")], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info == {"devices": 4, "result_devices": 4}  # the block really ran on 4 devices

    generate(tiny_ds1(per_class=3), tmp_path / "one.zarr", block_size=8, progress=False)
    a, b = open_store(tmp_path / "mesh.zarr"), open_store(tmp_path / "one.zarr")
    for name in ("status", "epochs", "stopped_early"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # Each device runs a block of 2 instead of 8: float32 rounding may differ in the last
    # bit (see test_network_7_same_in_block_of_4_and_64), nothing more.
    for name in ("params", "final_val_loss", "history/val_loss"):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_single_device_needs_no_mesh():
    assert block_shardings(7) is None  # this test process has one CPU device


def test_uneven_block_is_refused():
    import jax

    devs = [jax.devices()[0]] * 3  # a 3-"device" mesh for the arithmetic only
    with pytest.raises(SpecError, match="multiple of the 3 local devices, got 8"):
        block_shardings(8, devs)
