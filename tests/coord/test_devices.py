"""``set_cpu_devices``: one JAX CPU device per core by default, an explicit count on
demand, and a count chosen elsewhere (or a JAX already running) left alone — each checked in
a fresh process, since JAX fixes its device count when it starts."""

import pytest
from helpers import run_python

from mlds_jax.coord import set_cpu_devices, usable_cores


def _child(code: str, **env: str) -> list[str]:
    """The words ``code`` prints in a fresh interpreter without the suite's one-device
    setting."""
    return run_python(code, **env).split()


# in a child: this host's cores read as 3, so the default is seen to act on any machine
THREE_CORES = "import mlds_jax.coord._devices as d\nd.usable_cores = lambda: 3\n"


def test_default_is_one_device_per_usable_core():
    out = _child(THREE_CORES + "from mlds_jax.coord import set_cpu_devices; import jax\n"
                 "print(set_cpu_devices(), len(jax.devices()))")
    assert out == ["3", "3"]
    out = _child("from mlds_jax.coord import set_cpu_devices, usable_cores; import jax\n"
                 "print(set_cpu_devices(), usable_cores(), len(jax.devices()))")
    assert out[0] == out[1] == out[2] == str(usable_cores())  # the real count here


def test_cli_default_and_ray_driver():
    # DS4 plans: no XLA memory estimate to compile
    plan = ("from mlds_jax.cli import main\n"
            "main(['plan', 'MNISTclean', '--per-class', '400', '--block-size', 'auto'{}])")
    text = " ".join(_child(THREE_CORES + plan.format("")))
    assert "devices_per_process: 3" in text and "block_size: 192" in text
    # a Ray driver trains nothing: one device, blocks sized for one worker
    gen = ("from mlds_jax.cli import build_parser, _apply_cpu_devices; import jax\n"
           "_apply_cpu_devices(build_parser().parse_args(['generate', 'ds1', '--backend', "
           "'ray', '--out', 'x.zarr']))\nprint('devices', len(jax.devices()))")
    assert _child(THREE_CORES + gen) == ["devices", "1"]


def test_cgroup_quota_caps_the_cores(tmp_path):
    from mlds_jax.coord._devices import _cgroup_cores

    f = tmp_path / "cpu.max"
    for text, want in (("200000 100000\n", 2), ("150000 100000", 2), ("max 100000", None),
                       ("garbage", None)):
        f.write_text(text)
        assert _cgroup_cores(f) == want
    assert _cgroup_cores(tmp_path / "missing") is None


def test_explicit_count_then_refusal_once_running():
    out = _child(
        "from mlds_jax.coord import set_cpu_devices; import jax\n"
        "print(set_cpu_devices(3), len(jax.devices()))\n"
        "print(set_cpu_devices(3), set_cpu_devices())  # the same count again; the default\n"
        "try:\n    set_cpu_devices(2)\nexcept ValueError as e:\n    print('refused', e)")
    assert out[:4] == ["3", "3", "3", "None"]
    assert out[4] == "refused" and "already runs with 3 CPU device(s)" in " ".join(out)


@pytest.mark.parametrize("env", [{"XLA_FLAGS": "--xla_force_host_platform_device_count=3"},
                                 {"JAX_NUM_CPU_DEVICES": "3"}])
def test_default_leaves_a_count_chosen_elsewhere(env):
    out = _child("from mlds_jax.coord import set_cpu_devices; import jax\n"
                 "print(set_cpu_devices(), len(jax.devices()))", **env)
    assert out == ["None", "3"]


def test_bad_count_is_refused():
    top = 4 * usable_cores()
    for n in (0, top + 1):
        with pytest.raises(ValueError, match=f"expected 1 to {top} .* got {n}"):
            set_cpu_devices(n)


@pytest.mark.parametrize("argv, problem", [
    (["generate", "ds1", "--out", "x.zarr", "--backend", "ray", "--cpu-devices", "2"],
     "--cpu-devices: not with --backend ray"),
    (["verify", "x.zarr", "--cpu-devices", "2"], "--cpu-devices: only with --recompute"),
    (["plan", "ds1", "--cpu-devices", "100000"], "CPU devices: expected 1 to"),
])
def test_cli_refuses_a_count_it_cannot_use(argv, problem, capsys):
    from mlds_jax.cli import main

    assert main(argv) == 2  # refused before JAX is asked for anything
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1


def test_cli_flag_sets_the_plan_devices():
    code = ("from mlds_jax.cli import main\n"
            "main(['plan', 'MNISTclean', '--per-class', '64', '--block-size', '{}', "
            "'--cpu-devices', '{}'])")
    text = " ".join(_child(code.format(64, 3)))
    assert "devices_per_process: 3" in text and "idle" not in text  # 8 chunks of 8
    text = " ".join(_child(code.format(16, 3)))  # 2 chunks of 8 for 3 devices
    assert "devices_per_process: 3" in text and "2 chunk(s) for 3 devices: 1 idle" in text
