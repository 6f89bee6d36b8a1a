"""Building and loading the fused CPU GRU kernel (``csrc/fused_gru.cc``, an XLA FFI custom call).

The C++ source ships inside the package. At first use it is compiled with the system's C++
compiler (``$CXX``, else ``g++``) into a per-user cache directory
(``$MLDS_JAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/mlds-jax``, else ``~/.cache/mlds-jax``),
keyed by a hash of the source, the compiler flags, the compiler's version, the jax version
and the CPU's model name and feature flags: the library is built with ``-march=native``, so a
home directory shared by machines with different instruction sets gets one library per kind
of CPU and never loads AVX-512 code on a CPU without it.

When no compiler is found, compilation fails or the platform is not Linux/macOS x86-64 or
arm64, :func:`load_fused_gru` returns ``False`` and warns once; callers then use the XLA path.
:func:`unavailable_reason` says when the kernel cannot be built here at all (no compiler, an
unsupported machine); :func:`require_fused_gru` loads it or raises :class:`KernelBuildError`
with the compiler's own message (what the tests use: where a compiler exists, a kernel that
does not build fails them instead of skipping them).
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

from mlds_jax._provenance import cpu_id

SOURCE = Path(__file__).resolve().parent / "csrc" / "fused_gru.cc"
# -ffp-contract=off: no fused multiply-add, so the rounding is the same whatever vector width
# the compiler picks for this CPU (the kernel's lanes are networks; see the .cc header).
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-std=c++17", "-fPIC", "-shared",
         "-Wno-attributes", "-Wno-return-type", "-Wno-aggressive-loop-optimizations")
TARGETS = {"mlds_gru_fwd": "MldsGruFwd", "mlds_gru_fwd_train": "MldsGruFwdTrain",
           "mlds_gru_bwd": "MldsGruBwd"}
VARIANTS = {"fused": (), "fused_fma": ("-DMLDS_GRU_FMA=1",)}
"""The kernel's builds from the one source: ``fused`` rounds every multiply-add twice (the
stores made since the kernel landed), ``fused_fma`` rounds it once (an explicit fused
multiply-add in every lane). Each is its own library and its own set of FFI targets
(:func:`target`). ``-DMLDS_GRU_RECOMPUTE=1`` (no build here uses it: measured 4-5% slower
per CPU-second on a quiet machine, docs/benchmarks.md) saves only h for the backward, which
recomputes the gates with the same floats (:func:`residual_width`)."""


def target(name: str, variant: str = "fused") -> str:
    """The FFI target name of ``name`` (a key of :data:`TARGETS`) in ``variant``'s library."""
    return name if variant == "fused" else name.replace("mlds_gru_", f"mlds_gru_{variant}_", 1)


def _variant(variant: str) -> tuple[str, ...]:
    if variant not in VARIANTS:
        raise ValueError(f"fused GRU kernel variant: expected one of {tuple(VARIANTS)}, "
                         f"got {variant!r}")
    return VARIANTS[variant]


def residual_width(variant: str = "fused") -> int:
    """Residuals ``variant``'s forward saves for its backward per step, in hidden sizes: 5
    (r, z, n, W_hn h + b_hn and h), or 1 (h alone) where built with
    ``-DMLDS_GRU_RECOMPUTE=1``: its backward recomputes the gates from h and the inputs."""
    return 1 if "-DMLDS_GRU_RECOMPUTE=1" in _variant(variant) else 5

_lock = threading.Lock()
_state: dict[str, object] = {}


def cache_dir() -> Path:
    """Where compiled kernels are kept (one file per source/flags/compiler/jax/CPU hash)."""
    if d := os.environ.get("MLDS_JAX_CACHE_DIR"):
        return Path(d)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mlds-jax"


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CXX", "g++"))


def library_path(variant: str = "fused") -> Path | None:
    """The cached library's path for this source, variant, compiler, jax and CPU (None: no
    compiler)."""
    extra = _variant(variant)
    cxx = _compiler()
    if cxx is None:
        return None
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True,
                             check=False).stdout
    h = hashlib.sha256()
    for part in (SOURCE.read_bytes(), " ".join((*FLAGS, *extra)).encode(), version.encode(),
                 jax.__version__.encode(), cpu_id().encode()):
        h.update(part)
        h.update(b"\0")
    stem = "fused_gru" if variant == "fused" else f"{variant}_gru"
    return cache_dir() / f"{stem}-{h.hexdigest()[:16]}.so"


class KernelBuildError(RuntimeError):
    """A C++ compiler exists but the fused kernel did not build or load (the message holds
    the command and the end of the compiler's output)."""


def unavailable_reason() -> str | None:
    """Why the fused kernel cannot be built on this machine at all (an unsupported machine,
    no C++ compiler), or None when it can be (it may still fail to build: see
    :func:`require_fused_gru`)."""
    if platform.machine().lower() not in ("x86_64", "amd64", "aarch64", "arm64"):
        return f"unsupported machine {platform.machine()!r}"
    if _compiler() is None:
        return "no C++ compiler (set $CXX or install g++)"
    return None


def _compile(out: Path, source: Path | None = None, flags: tuple[str, ...] | None = None
             ) -> None:
    """Compiles ``source`` (default :data:`SOURCE`) with ``flags`` (default :data:`FLAGS`)
    into ``out`` (atomically); raises :class:`KernelBuildError` when the compiler fails."""
    source, flags = source or SOURCE, flags or FLAGS
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)  # atomic publish: rename
    os.close(fd)
    try:
        cmd = [_compiler(), *flags, f"-I{jax.ffi.include_dir()}", str(source), "-o", tmp]
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise KernelBuildError(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _compile_once(path: Path, variant: str = "fused") -> None:
    """Compiles into ``path`` unless another process has by the time this one holds the
    cache's lock (an exclusive ``flock`` on ``path`` + ``.lock``): N workers starting on a
    cold cache compile once, the others wait and load that library."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not path.exists():
            _compile(path, flags=(*FLAGS, *_variant(variant)))


def prebuild(variant: str = "fused") -> Path:
    """Builds the kernel into the cache now (for nodes that run without a compiler: build on
    one with the same CPU, jax and cache directory) and returns the library's path; raises
    :class:`KernelBuildError` (the compiler failed) or ``RuntimeError`` (it cannot be built
    here). ``python -m mlds_jax.models`` runs it."""
    if reason := unavailable_reason():
        raise RuntimeError(f"the fused CPU GRU kernel cannot be built here: {reason}")
    path = library_path(variant)
    if path is None:  # the compiler went away since unavailable_reason looked
        raise RuntimeError("the fused CPU GRU kernel cannot be built here: no C++ compiler")
    if not path.exists():
        _compile_once(path, variant)
    return path


def load_fused_gru(variant: str = "fused") -> bool:
    """Compiles (once per cache key) and registers the FFI targets of ``variant``'s build
    (a key of :data:`VARIANTS`) on CPU.

    Returns True when the targets are registered; False (with one warning per process and
    variant) when the kernel cannot be built here, in which case callers use the XLA path.
    """
    _variant(variant)
    with _lock:
        state = _state.setdefault(variant, {})
        if "ok" in state:
            return bool(state["ok"])
        try:
            if reason := unavailable_reason():
                raise RuntimeError(reason)
            path = library_path(variant)
            if path is None:  # the compiler went away since unavailable_reason looked
                raise RuntimeError("no C++ compiler (set $CXX or install g++)")
            if not path.exists():
                _compile_once(path, variant)
            lib = ctypes.cdll.LoadLibrary(str(path))
            for name, symbol in TARGETS.items():
                jax.ffi.register_ffi_target(target(name, variant),
                                            jax.ffi.pycapsule(getattr(lib, symbol)),
                                            platform="cpu")
            state["lib"] = lib
            state["ok"] = True
        except Exception as e:  # noqa: BLE001 - any failure means: use the XLA path
            state["error"] = e
            warnings.warn(f"mlds_jax: fused CPU GRU kernel unavailable, using the XLA GRU "
                          f"({e})", RuntimeWarning, stacklevel=2)
            state["ok"] = False
        return bool(state["ok"])


def require_fused_gru(variant: str = "fused") -> None:
    """Loads the kernel (as :func:`load_fused_gru`) or raises: :class:`KernelBuildError` where
    it could be built (:func:`unavailable_reason` is None) but was not, with the compiler's or
    loader's message; ``RuntimeError`` with the reason where it cannot be built at all."""
    if load_fused_gru(variant):
        return
    reason = unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"the fused CPU GRU kernel cannot be built here: {reason}")
    e = _state.get(variant, {}).get("error")
    raise KernelBuildError(f"the fused CPU GRU kernel did not build or load: {e}") from (
        e if isinstance(e, BaseException) else None)
