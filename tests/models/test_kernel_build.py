"""Building the fused kernel for a cluster: ``python -m mlds_jax.models`` prebuilds it into
the cache, and workers starting at once on a cold cache compile it once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from mlds_jax.models import _fused_gru_build as build


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "JAX_PLATFORMS": "cpu", **extra}


@pytest.mark.skipif(build.unavailable_reason() is not None,
                    reason=f"no kernel build here: {build.unavailable_reason()}")
def test_workers_on_a_cold_cache_compile_once(tmp_path):
    log = tmp_path / "compiles.log"
    cxx = tmp_path / "cxx"  # the real compiler, counting its compiles
    cxx.write_text(f'#!/bin/sh\ncase " $* " in *" --version "*) ;; *) echo x >> "{log}";; '
                   f'esac\nexec {shutil.which(os.environ.get("CXX", "g++"))} "$@"\n')
    cxx.chmod(0o755)
    env = _env(CXX=str(cxx), MLDS_JAX_CACHE_DIR=str(tmp_path / "cache"))
    procs = [subprocess.Popen([sys.executable, "-m", "mlds_jax.models"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e for _, e in outs]
    paths = {o.strip() for o, _ in outs}
    assert len(paths) == 1 and os.path.isfile(paths.pop())
    assert log.read_text().count("x") == 1  # one compile, the other two waited for it


def test_prebuild_without_a_compiler_says_so(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mlds_jax.models"], capture_output=True,
                       text=True, timeout=120,
                       env=_env(CXX="no-such-compiler-mlds",
                                MLDS_JAX_CACHE_DIR=str(tmp_path)))
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == (
        "mlds_jax: the fused CPU GRU kernel cannot be built here: no C++ compiler (set $CXX "
        "or install g++)")
