"""Test-wide settings.

* JAX: rank promotion raises, so a [n_models] vector silently broadcast against
  [n_models, batch] becomes an error instead of a wrong answer; dtype promotion is strict
  (``JAX_NUMPY_DTYPE_PROMOTION=strict``, inherited by subprocesses): mixing dtypes, a
  Python float with an int32 array included, is a ``TypePromotionError`` instead of a
  silent cast. The library casts explicitly; optax's Adam, which does not, is traced under
  standard promotion (``mlds_jax/train/_step.py``).
* BLAS (NumPy/SciPy/scikit-learn) runs on one thread: the suite runs on 2 cores beside
  XLA's own threads, and a multi-threaded OpenBLAS on a busy 2-core machine spins its
  threads against them (measured: an SVD of a 120 x 4,364 matrix took 2.7 s instead of
  0.05 s). Results do not depend on it (no test compares BLAS floats across thread counts).
* XLA programs are compiled once per test run, not once per process: a
  persistent compilation cache in a fresh temporary directory (removed at exit), inherited
  through the environment by every subprocess and Ray worker a test starts, and shared by
  the pytest-xdist workers (the controller makes it, the workers reuse it). Many tests run
  the same chunk programs in several processes (a killed run and its resume, two processes
  on one store, a Ray worker, an uninterrupted reference); each used to spend ~12 s of a ~19
  s run compiling them. A cached program is the executable XLA compiled for the same key
  (HLO, XLA flags, device assignment, versions), so results are the same bits; a fresh
  directory per session means nothing survives from one run of the suite to the next.
* One JAX CPU device (``JAX_NUM_CPU_DEVICES=1``, inherited by subprocesses): the CLI's
  default of one device per core compiles each chunk program once per device, which would
  multiply the suite's compile time; tests that want several devices ask for them
  explicitly (``tests/coord/test_mesh.py``, ``tests/coord/test_devices.py``).
"""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # read when each OpenBLAS copy loads
os.environ.setdefault("OMP_NUM_THREADS", "1")
# pytest-xdist workers inherit the controller's directory, so a program one worker compiled
# is a cache hit in the other (each used to compile the same tiny-spec chunk programs).
_XLA_CACHE = os.environ.get("MLDS_JAX_TESTS_XLA_CACHE", "")
if not (os.environ.get("PYTEST_XDIST_WORKER") and os.path.isdir(_XLA_CACHE)):
    _XLA_CACHE = tempfile.mkdtemp(prefix="mlds-jax-tests-xla-cache-")
    os.environ["MLDS_JAX_TESTS_XLA_CACHE"] = _XLA_CACHE
    atexit.register(shutil.rmtree, _XLA_CACHE, ignore_errors=True)
os.environ["JAX_COMPILATION_CACHE_DIR"] = _XLA_CACHE  # read by jax at import (children too)
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"  # small programs add up
os.environ["JAX_NUM_CPU_DEVICES"] = "1"  # read by jax at import (children too)
os.environ["JAX_NUMPY_DTYPE_PROMOTION"] = "strict"  # read by jax at import (children too)

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")  # in case jax was imported first
jax.config.update("jax_compilation_cache_dir", _XLA_CACHE)  # in case jax was imported first
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # scikit-learn (the analysis extra) brings it; without it, no limit
    pass
else:  # in case a plugin loaded NumPy before the variables above were set
    threadpool_limits(1, user_api="blas")
