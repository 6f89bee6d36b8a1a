"""Building and loading the fused CPU GRU kernel (``csrc/fused_gru.cc``, an XLA FFI custom call).

The C++ source ships inside the package. At first use it is compiled with the system's C++
compiler (``$CXX``, else ``g++``) into a per-user cache directory
(``$MLDS_JAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/mlds-jax``, else ``~/.cache/mlds-jax``),
keyed by a hash of the source, the compiler flags, the compiler's version, the jax version
and the CPU's model name and feature flags: the library is built with ``-march=native``, so a
home directory shared by machines with different instruction sets gets one library per kind
of CPU and never loads AVX-512 code on a CPU without it.

When no compiler is found, compilation fails or the platform is not Linux/macOS x86-64 or
arm64, :func:`load_fused_gru` returns ``None`` and warns once; callers then use the XLA path.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import jax

SOURCE = Path(__file__).resolve().parent / "csrc" / "fused_gru.cc"
# -ffp-contract=off: no fused multiply-add, so the rounding is the same whatever vector width
# the compiler picks for this CPU (the kernel's lanes are networks; see the .cc header).
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-std=c++17", "-fPIC", "-shared",
         "-Wno-attributes", "-Wno-return-type", "-Wno-aggressive-loop-optimizations")
TARGETS = {"mlds_gru_fwd": "MldsGruFwd", "mlds_gru_fwd_train": "MldsGruFwdTrain",
           "mlds_gru_bwd": "MldsGruBwd"}

_lock = threading.Lock()
_state: dict[str, object] = {}


def cache_dir() -> Path:
    """Where compiled kernels are kept (one file per source/flags/compiler/jax/CPU hash)."""
    if d := os.environ.get("MLDS_JAX_CACHE_DIR"):
        return Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlds-jax"


def _cpu_id() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() + platform.machine()
    keep = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags", "Features"))]
    return "\n".join(sorted(set(keep)))


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CXX", "g++"))


def library_path() -> Path | None:
    """The cached library's path for this source, compiler, jax and CPU (None: no compiler)."""
    cxx = _compiler()
    if cxx is None:
        return None
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True,
                             check=False).stdout
    h = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join(FLAGS).encode(), version.encode(),
                 jax.__version__.encode(), _cpu_id().encode()):
        h.update(part)
        h.update(b"\0")
    return cache_dir() / f"fused_gru-{h.hexdigest()[:16]}.so"


def _compile(out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)  # atomic publish: rename
    os.close(fd)
    try:
        cmd = [_compiler(), *FLAGS, f"-I{jax.ffi.include_dir()}", str(SOURCE), "-o", tmp]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_fused_gru() -> bool:
    """Compiles (once per cache key) and registers the kernel's FFI targets on CPU.

    Returns True when the targets are registered; False (with one warning per process)
    when the kernel cannot be built here, in which case callers use the XLA path.
    """
    with _lock:
        if "ok" in _state:
            return bool(_state["ok"])
        try:
            if platform.machine().lower() not in ("x86_64", "amd64", "aarch64", "arm64"):
                raise RuntimeError(f"unsupported machine {platform.machine()!r}")
            path = library_path()
            if path is None:
                raise RuntimeError("no C++ compiler (set $CXX or install g++)")
            if not path.exists():
                _compile(path)
            lib = ctypes.cdll.LoadLibrary(str(path))
            for target, symbol in TARGETS.items():
                jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)),
                                            platform="cpu")
            _state["lib"] = lib
            _state["ok"] = True
        except Exception as e:  # noqa: BLE001 - any failure means: use the XLA path
            warnings.warn(f"mlds_jax: fused CPU GRU kernel unavailable, using the XLA GRU "
                          f"({e})", RuntimeWarning, stacklevel=2)
            _state["ok"] = False
        return bool(_state["ok"])
