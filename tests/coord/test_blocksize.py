import jax
import pytest
from helpers import tiny_ds1

from mlds_jax.coord import auto_block_size, block_size_for_memory
from mlds_jax.coord._blocksize import _xla_bytes
from mlds_jax.spec import ds1, ds4

GB = 2**30


def test_memory_model_picks_largest_power_of_two_that_fits():
    # 1 MB per network, 1 GB fixed, 80 GB device: half is 40 GB -> 39,936 fit -> 32768,
    # capped at 16384 per device
    assert block_size_for_memory(1 * GB, 2**20, 80 * GB, 10**6) == 16384
    # 10 MB per network: (40 - 1) GB / 10 MB = 3993 fit -> 2048
    assert block_size_for_memory(1 * GB, 10 * 2**20, 80 * GB, 10**6) == 2048
    # never more than the dataset needs, and a multiple of the device count
    assert block_size_for_memory(0, 2**20, 80 * GB, 500) == 500
    assert block_size_for_memory(0, 2**20, 80 * GB, 500, n_devices=4) == 500
    assert block_size_for_memory(0, 2**20, 80 * GB, 501, n_devices=4) == 504
    # 40 GB / 10 MB = 4096 per device (the memory of each device counts once)
    assert block_size_for_memory(0, 10 * 2**20, 80 * GB, 10**6, n_devices=4) == 4 * 4096
    # nothing fits: still one network per device
    assert block_size_for_memory(100 * GB, GB, 80 * GB, 100) == 1
    with pytest.raises(ValueError, match="positive"):
        block_size_for_memory(0, 0, 80 * GB, 100)


def test_auto_on_cpu_is_64_per_device_capped_by_the_dataset():
    assert jax.devices()[0].platform == "cpu"
    assert auto_block_size(ds1(100)) == 64
    assert auto_block_size(ds1(2)) == 10
    assert auto_block_size(ds4("MNISTclean", 20)) == 20
    nine = jax.devices() * 9  # as nine CPU devices (one per core of a 9-core host)
    assert auto_block_size(ds1(100), nine) == 500  # 64 per device, capped by the dataset
    assert auto_block_size(ds1(1), nine) == 5  # not 9: the chunk width stays one tile
    assert auto_block_size(ds1(200), nine) == 576


def test_xla_memory_estimate_grows_with_the_block():
    spec = tiny_ds1(4, snapshot_epochs="none")  # two small programs (the recipe's took ~55 s)
    a, b = _xla_bytes(spec, 8), _xla_bytes(spec, 16)
    assert b > a > 0
