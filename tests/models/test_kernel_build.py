"""Building the fused kernel for a cluster: ``python -m mlds_jax.models`` prebuilds it into
the cache, and workers starting at once on a cold cache compile it once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from mlds_jax._provenance import cpu_description
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


# Forward and gradients of 10 networks' layer (DS1's shape) through each build of the fused
# kernel, as the SHA-256 of their bytes; argv[1:]: the -march and extra flags it is built with.
_DIGEST = """
import hashlib, sys
import jax, jax.numpy as jnp, numpy as np
from mlds_jax.models import _fused_gru_build as b
from mlds_jax.models._fused_gru import FUSED_LAYERS
b.FLAGS = (*(f"-march={sys.argv[1]}" if f.startswith("-march=") else f for f in b.FLAGS),
           *sys.argv[2:])
rng = np.random.default_rng(0)
s = 12 ** -0.5
u = lambda *shape: jnp.asarray(rng.uniform(-s, s, (10, *shape)), jnp.float32)
args = (u(36, 5), u(36, 12), u(36), u(36), jnp.asarray(rng.standard_normal((10, 6, 3, 5)),
                                                       jnp.float32))
for variant, layer in FUSED_LAYERS.items():
    out, vjp = jax.vjp(jax.vmap(layer), *args)
    h = hashlib.sha256(np.asarray(out).tobytes())
    for g in vjp(jnp.ones_like(out)):
        h.update(np.asarray(g).tobytes())
    print(b.library_path(variant).name, h.hexdigest())
"""


@pytest.mark.skipif(build.unavailable_reason() is not None
                    or "avx512f" not in cpu_description(),
                    reason="needs a C++ compiler and an AVX-512 CPU")
def test_a_kernel_built_for_avx2_gives_the_avx512_builds_bits(tmp_path):
    """The kernel's lanes are networks and it is built without FMA contraction, so its
    floats do not depend on the vector width the compiler picks: AVX2 (x86-64-v3) and
    AVX-512 with 512-bit vectors (gcc's -march=native alone keeps 256-bit ones). The same
    for the ``fused_fma`` build (an explicit fused multiply-add in every lane), whose floats
    differ from ``fused``'s."""
    runs = {}
    for name, flags in {"avx512": ("native", "-mprefer-vector-width=512"),
                        "avx2": ("x86-64-v3",)}.items():
        r = subprocess.run([sys.executable, "-c", _DIGEST, *flags], capture_output=True,
                           text=True, timeout=300,
                           env=_env(MLDS_JAX_CACHE_DIR=str(tmp_path / name)))
        assert r.returncode == 0, r.stderr[-2000:]
        runs[name] = r.stdout.split()
    assert len(set(runs["avx512"][::2]) | set(runs["avx2"][::2])) == 4  # four libraries
    assert runs["avx512"][1::2] == runs["avx2"][1::2]  # fused, fused_fma
    assert runs["avx512"][1] != runs["avx512"][3]  # FMA rounds once: other floats
