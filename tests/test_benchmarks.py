"""The benchmark harness's pure parts: what it plans, how it summarises and renders."""

import numpy as np

from benchmarks import throughput as tp
from benchmarks._workloads import GRU, MLP, DS4Net
from benchmarks.harness import cpu_busy, torch_available


def test_plan_uses_larger_blocks_and_no_process_case_on_an_accelerator():
    cpu, gpu = tp.plan(True, accelerator=False), tp.plan(True, accelerator=True)
    for w in ("gru", "mlp", "ds4"):
        cpu_n = [c["n"] for c in cpu[w] if c["kind"] in ("gru_bulk", "mlp_bulk")
                 and c.get("n", 1) > 1 and not c.get("shared_order")]
        gpu_n = [c["n"] for c in gpu[w] if c["kind"] in ("gru_bulk", "mlp_bulk")
                 and c.get("n", 1) > 1 and not c.get("shared_order")]
        assert max(gpu_n) > max(cpu_n)
        assert not any(c["kind"] == "torch_procs" for c in gpu[w])


def _row(kind, n, steps_per_s, **extra):
    return {"kind": kind, "n": n, "n_models": n, "network_steps": steps_per_s,
            "seconds": 1.0, "peak_rss_mb": 1.0, **extra}


def test_summarise_ratios_against_the_best_peer_of_the_run():
    res = {"peak_gflops": 100.0, "cases": {
        "gru": [_row("torch_single", 1, 10.0), _row("torch_func", 64, 30.0),
                _row("torch_ensemble", 64, 40.0, compile=True),
                _row("torch_ensemble", 256, 35.0), _row("gru_bulk", 64, 120.0),
                _row("gru_bulk", 256, 80.0, gru_kernel="fused", width=16),
                _row("gru_single", 1, 50.0, label="x"),
                {"kind": "gru_bulk", "n": 1024, "error": "exit 1"}],
        "mlp": [_row("mlp_bulk", 64, 1000.0), _row("mlp_bulk", 256, 5000.0,
                                                   shared_order=True)]}}
    tp.summarise(res)
    r = res["ratios"]["gru"]
    assert r["vs_torch_single"] == 12.0 and r["vs_best_peer"] == 3.0
    best = res["best_peer"]["gru"]
    assert best["n_models"] == 64 and best["label"].endswith("torch.compile")
    line = tp._ratio_line(res, "gru")
    assert "best peer: PyTorch ensemble" in line and "bulk / best peer: 3.00×" in line
    assert "predates" not in line  # this run has the ensemble peer
    # the MLP rows have no PyTorch peer at all: no best peer, and the line says the run
    # predates the ensemble peer (both, not either: the old `or` held whatever the line said)
    assert "mlp" not in res["best_peer"]
    assert "predates" in tp._ratio_line(res, "mlp")
    assert tp._label(res["cases"]["gru"][5]) == (
        "mlds-jax bulk trainer, fused CPU GRU kernel, chunks of 16")
    assert abs(r["bulk_best_pct_peak"] - 120 * GRU.flops_per_step() / 1e9) < 1e-9
    # the shared-order reference row never counts as the bulk result
    assert abs(res["ratios"]["mlp"]["bulk_best_pct_peak"]
               - 1000 * MLP.flops_per_step() / 1e9) < 1e-9


def test_the_ds4_table_trains_the_recipe_network_against_its_peers():
    from mlds_jax.spec import DS4_WIDTHS

    assert DS4Net.widths == DS4_WIDTHS and DS4Net.flops_per_step() > 5 * MLP.flops_per_step()
    cases = tp.plan(True, accelerator=False)["ds4"]
    assert all(c["workload"] == "ds4" for c in cases)
    assert {"torch_single", "torch_ensemble", "mlp_bulk"} <= {c["kind"] for c in cases}
    res = {"peak_gflops": 100.0, "cases": {"ds4": [_row("torch_ensemble", 64, 100.0),
                                                   _row("mlp_bulk", 64, 250.0)]}}
    tp.summarise(res)
    assert res["ratios"]["ds4"]["vs_best_peer"] == 2.5
    assert abs(res["ratios"]["ds4"]["bulk_best_pct_peak"]
               - 250 * DS4Net.flops_per_step() / 1e9) < 1e-9


def test_recipes_section_has_one_row_per_run():
    recipes = [{"device": "GPU X", "date": "2026-01-01", "jax": "0.1", "runs": [
        {"recipe": "ds1 per_class=10", "block": 50, "seconds": 2.0, "compile_s": 1.0,
         "networks_per_hour": 90000.0},
        {"recipe": "ds4 MNISTclean", "block": 64, "seconds": 4.0, "compile_s": 1.0,
         "networks_per_hour": 57600.0}]}]
    text = tp.render_recipes(recipes)
    assert ("| GPU X (2026-01-01, jax 0.1) | ds1 per_class=10 | 50 | 2.0 | 1.0 | 90,000 | – |"
            in text)
    assert "57,600" in text
    assert tp.render_recipes([]) == ""


def test_recipes_never_show_a_rate_scaled_from_part_of_a_run():
    old = [{"device": "GPU X", "date": "2026-01-01", "jax": "0.1", "runs": [
        {"recipe": "ds4 MNISTclean (20 epochs)", "block": 64, "seconds_per_epoch": 2.0,
         "seconds": 40.0, "compile_s": 1.0, "networks_per_hour": 5760.0}]}]
    text = tp.render_recipes(old)
    assert "5,760" not in text and "not a full run" in text


def test_plan_has_every_peer_and_both_gru_kernels_on_a_cpu():
    cases = tp.plan(True, accelerator=False)["gru"]
    kinds = {(c["kind"], bool(c.get("compile")), c.get("threads")) for c in cases}
    assert {("torch_single", False, None), ("torch_procs", False, None),
            ("torch_func", False, None), ("torch_ensemble", False, None),
            ("torch_ensemble", True, None), ("torch_ensemble", False, 1)} <= kinds or not (
        torch_available())
    assert {c.get("gru_kernel") for c in cases if c["kind"] == "gru_bulk"} == {"xla", "fused"}


def test_fused_gru_section_names_the_best_width():
    from benchmarks.fused_gru_report import render

    res = {"machine": {"cpu": "X", "cores": 2, "date": "d", "jax": "j"}, "rounds": 3, "n": 256,
           "layer": {"fused forward": {"ms": 1.0, "gflops": 30.0}},
           "chunks": {"fused W=8": {"network_steps_per_s": 900.0, "compile_s": 1.0},
                      "fused W=16": {"network_steps_per_s": 1000.0, "compile_s": 1.0},
                      "xla W=8": {"network_steps_per_s": 400.0, "compile_s": 1.0}}}
    text = render(res)
    assert "Best W: fused W = 16 (1,000 network-steps/s); xla W = 8 (400" in text


def test_plan_runs_the_bulk_gru_rows_per_asked_kernel_on_an_accelerator():
    gpu = tp.plan(True, accelerator=True, gru_kernels=("xla", "pallas"))["gru"]
    bulk = [c for c in gpu if c["kind"] == "gru_bulk"]
    assert {c["gru_kernel"] for c in bulk} == {"xla", "pallas"}
    assert ({c["n"] for c in bulk if c["gru_kernel"] == "pallas"}
            == {c["n"] for c in bulk if c["gru_kernel"] == "xla"})
    assert {c["gru_kernel"] for c in tp.plan(True, accelerator=True)["gru"]
            if c["kind"] == "gru_bulk"} == {"xla"}
    assert tp._label({"kind": "gru_bulk", "gru_kernel": "pallas"}).endswith("Pallas GRU kernel")


def _rendered(**machine):
    res = {"peak_gflops": 100.0, "jax_peak": 100.0, "torch_peak": 90.0, "mode": "quick",
           "wall_s": 1.0, "machine": {"cpu": "X", "cores": 2, "date": "d", "jax": "j",
                                      "python": "p", "backend": "cpu", "device": "cpu",
                                      **machine},
           "cases": {"gru": [_row("torch_single", 1, 10.0), _row("gru_bulk", 64, 120.0)],
                     "mlp": [_row("mlp_bulk", 64, 1000.0)]}}
    return tp.render([tp.summarise(res) or res])


def test_shared_machine_is_judged_by_cpu_time_before_the_run_where_recorded():
    # a lagging load average from a job that has ended: quiet by the CPU time
    quiet = _rendered(load_start=1.5, load_end=1.6, busy_start=0.1)
    assert "Quiet machine: 0.10 cores busy" in quiet and "Shared machine" not in quiet
    busy = _rendered(load_start=0.2, load_end=1.6, busy_start=1.2)
    assert "**Shared machine**: 1.2 cores busy with other work" in busy
    # older results without the CPU-time sample keep the load-average rule
    old = _rendered(load_start=1.5, load_end=1.6)
    assert "**Shared machine**: 1-minute load average 1.5 at the start" in old
    assert "Shared machine" not in _rendered(load_start=0.4, load_end=1.6)


def test_cpu_busy_reads_a_share_of_the_cores():
    busy = cpu_busy(0.2)
    assert busy is None or 0.0 <= busy <= tp.os.cpu_count()  # None: no /proc/stat


def test_dense_titles_name_the_widths_their_run_recorded():
    def titled(**extra):
        res = {"peak_gflops": 100.0, "jax_peak": 100.0, "torch_peak": 90.0, "mode": "quick",
               "wall_s": 1.0, "machine": {"cpu": "X", "cores": 2, "date": "d", "jax": "j",
                                          "python": "p", "backend": "cpu", "device": "cpu"},
               "cases": {"mlp": [_row("mlp_bulk", 64, 1000.0)],
                         "ds4": [_row("mlp_bulk", 64, 100.0, cpu_devices=2)]}, **extra}
        return tp.render([tp.summarise(res) or res])

    text = titled(widths={"mlp": [784, 16, 10], "ds4": [784, 64, 64, 10]})
    assert "### Dense MLP (784-16-10), per-network data order" in text
    assert "### DS4 recipe network (784-64-64-10), per-network data order" in text
    assert "| mlds-jax bulk trainer, 2 CPU devices | 64 |" in text
    old = titled()  # a file from before widths were recorded: what those tables measured
    assert "### DS4 recipe network (784-128-128-128-10)," in old
    assert "### Dense MLP (784-32-10)," in old


def test_hand_batched_peer_computes_each_networks_gru():
    """The hand-batched PyTorch peer (stacked, pre-transposed weights, time-major data) gives
    every network the logits of torch's own ``nn.GRU`` + head with that network's weights."""
    import pytest

    torch = pytest.importorskip("torch", reason="the bench extra installs torch")
    from benchmarks import _torch_cases as tc

    torch.manual_seed(0)
    nets = [tc._GRUNet() for _ in range(3)]
    p = []
    for k in range(GRU.layers):
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            t = torch.stack([getattr(n.gru, f"{name}_l{k}").detach() for n in nets])
            p.append(t.transpose(1, 2) if name.startswith("weight") else t[:, None])
    for j in range(len(GRU.head) + 1):
        p += [torch.stack([n.fc[2 * j].weight.detach() for n in nets]).transpose(1, 2),
              torch.stack([n.fc[2 * j].bias.detach() for n in nets])[:, None]]
    x = torch.randint(0, 2, (3, 2, GRU.time, GRU.input)).float()  # [n, batch, time, in]
    got = tc._batched_gru_logits(p, x.transpose(1, 2).contiguous())  # [n, time * batch, 1]
    want = torch.stack([n(xi) for n, xi in zip(nets, x)])  # [n, batch, time, 1]
    assert torch.allclose(got.view(3, GRU.time, 2, 1).transpose(1, 2), want, atol=1e-5)
    assert [t.shape for t in tc._batched_params("gru", 3, "cpu")] == [t.shape for t in p]
    assert tp._label({"kind": "torch_batched", "compile": True, "processes": 2}) == (
        "PyTorch hand-batched ensemble: stacked weights, baddbmm, one backward, one Adam, "
        "torch.compile, one 1-thread process per core (2)")


def test_rounds_report_the_median_round_and_every_rate():
    rounds = [{"network_steps": 10.0, "seconds": 1.0}, {"error": "exit 1"},
              {"network_steps": 30.0, "seconds": 1.0}, {"network_steps": 20.0, "seconds": 1.0}]
    row = tp.median_of_rounds(rounds)
    assert row["network_steps"] == 20.0 and row["round_rates"] == [10.0, None, 30.0, 20.0]
    assert tp.median_of_rounds([{"error": "exit 1"}]) == {"error": "exit 1"}


def test_ds1_projection_follows_chunks_and_devices():
    from benchmarks import recipes

    # 2 classes x 2 networks, chunks of 2 on 1 device: chunk maxima 10 and 4 -> 14 chunk-epochs
    run = {"epochs": [10, 2, 4, 3], "class_id": [0, 0, 1, 1], "chunk_width": 2, "devices": 1,
           "seconds": 14.0}
    assert recipes.project_ds1(run, 2, draws=50) <= 14.0  # same size: at most the measured
    # class 0 always draws 10 or 2, class 1 4 or 3: chunk maxima are 10 or 2 and 4 or 3
    big = recipes.project_ds1(run, 200, draws=50)
    assert 100 * 2 + 100 * 3 <= big <= 100 * 10 + 100 * 4
    # on a CPU the CPU time is spread over every chunk's maximum, devices one per core
    cpu = {**run, "devices": 2, "seconds": 99.0, "cpu_seconds": 14.0}
    assert recipes.project_ds1(cpu, 2, draws=50) <= 10.0  # the busiest of 2 devices
    # two devices run chunks side by side: the busiest device's sum
    assert recipes._device_epochs(np.array([[5.0, 1.0, 2.0]]), 2)[0] == 7.0
    assert recipes._chunk_max(np.array([1.0, 5.0, 2.0]), 2).tolist() == [5.0, 2.0]
    rows = [{"device": "cpu", "date": "d", "jax": "j", "cpu_devices": 2, "runs": [
        {**run, "recipe": "ds1 per_class=2", "networks": 4, "block": 4, "compile_s": 1.0,
         "networks_per_hour": 1028.6, "networks_per_core_hour": 514.3, "epochs_max": 10,
         "restarts": 1, "learnt": 1.0, "projected_s": {"100": 600.0, "10000": 7200.0}}]}]
    text = tp.render_recipes(rows)
    assert "| 1,029 | 514 |" in text
    assert "DS1-100 (500 networks) **10 min**; DS1-10,000 (50,000 networks) **2.0 h**" in text


def test_gpu_sweep_covers_widths_kernels_unroll_and_command_buffers():
    from benchmarks import gpu_sweep as gs

    widths = {w for c in gs.CONFIGS for w in c["widths"]}
    assert min(widths) == 1024 and max(widths) == 16384
    assert {c.get("kernel") for c in gs.CONFIGS} == {None, "pallas"}
    assert {c.get("unroll") for c in gs.CONFIGS} >= {4, 16}
    flags = [c.get("xla_flags", "") for c in gs.CONFIGS]
    assert "--xla_gpu_enable_command_buffer=" in flags
    assert any("+WHILE" in f for f in flags)
    assert all(c["widths"] == [2] for c in gs.smoke_configs(gs.CONFIGS))
    text = gs.render([
        {"name": "xla", "widths": [1024], "scan_probe": {"iterations": 1000, "seconds": 0.008},
         "rows": [{"width": 1024, "steps_per_s": 70000.0, "seconds": 1.0, "compile_s": 9.0}]},
        {"name": "off", "xla_flags": "--xla_gpu_enable_command_buffer=", "widths": [4096],
         "error": "exit 1"}])
    assert "| xla | default | 1,024 | 70,000 | 9.0 |" in text
    assert "| off | `--xla_gpu_enable_command_buffer=` | – | error: exit 1 | |" in text
    assert "xla: 8.00 µs" in text


def test_smoke_plan_keeps_every_path_once_at_a_tiny_size():
    cases = tp.smoke_plan(tp.plan(True, accelerator=False))["gru"]
    assert sum(bool(c.get("compile")) for c in cases) == 1
    assert {c["kind"] for c in cases} >= {"torch_single", "torch_ensemble", "torch_batched",
                                          "gru_bulk"}
    assert all(c.get("n", 1) <= 4 and c["seconds"] <= 0.2 for c in cases)
    assert {c.get("gru_kernel") for c in cases if c["kind"] == "gru_bulk"} == {"xla", "fused"}


def test_rates_per_cpu_second_name_their_own_best_peer():
    res = {"peak_gflops": 100.0, "jax_peak": 100.0, "torch_peak": 90.0, "mode": "quick",
           "wall_s": 1.0, "machine": {"cpu": "X", "cores": 2, "date": "d", "jax": "j",
                                      "python": "p", "backend": "cpu", "device": "cpu"},
           "cases": {"gru": [_row("torch_batched", 64, 40.0, cpu_seconds=0.5),
                             _row("torch_ensemble", 64, 50.0, cpu_seconds=2.0),
                             _row("gru_bulk", 64, 120.0, cpu_seconds=0.5)]}}
    tp.summarise(res)
    assert res["ratios"]["gru"]["vs_best_peer"] == 120.0 / 50.0
    assert res["ratios"]["gru"]["vs_best_peer_per_cpu_s"] == 240.0 / 80.0
    text = tp.render([res])
    assert "per CPU-second, best peer: PyTorch hand-batched ensemble" in text
    assert "**bulk / best peer per CPU-second: 3.00×**" in text
    assert text.count("| 240 |") == 1  # the bulk row's per-CPU-second column
