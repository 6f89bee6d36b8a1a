from mlds_jax.cli import main
from mlds_jax.coord import block_indices, make_plan, my_blocks


def test_plan_is_pure_and_consistent():
    p = make_plan(50_000, 1024, n_devices=8, process_count=4)
    assert p == make_plan(50_000, 1024, n_devices=8, process_count=4)
    assert p["blocks"] == 49 and p["padded_networks"] == 49 * 1024 - 50_000
    assert p["networks_per_device_per_block"] == 128
    assert p["blocks_per_process"] == [len(my_blocks(49, i, 4)) for i in range(4)]
    assert sum(p["blocks_per_process"]) == 49


def test_blocks_cover_every_network_once():
    seen = []
    for b in range(make_plan(103, 10)["blocks"]):
        idx, n_real = block_indices(b, 103, 10)
        seen += idx[:n_real].tolist()
    assert seen == list(range(103))


def test_plan_cli(capsys, monkeypatch):
    # `ds1` trains the tiny recipe (the same network): the estimate is of its width-8 segment
    # program without recording, which tests/coord/test_blocksize.py compiles too (one
    # compilation in a session; the recipe's took 14 s)
    from helpers import tiny_ds1

    from mlds_jax.spec import _recipes

    monkeypatch.setitem(_recipes.RECIPES, "ds1",
                        lambda per_class, seed=0, **kw: tiny_ds1(per_class, **kw))
    assert main(["plan", "ds1", "--per-class", "100", "--block-size", "64",
                 "--process-count", "2", "--snapshots", "none"]) == 0
    out = capsys.readouterr().out
    assert "500 networks" in out and "blocks: 8" in out
    assert "blocks_per_process: [4, 4]" in out and "estimated device memory per chunk" in out
