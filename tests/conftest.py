"""Test-wide settings.

* JAX: rank promotion raises, so a [n_models] vector silently broadcast against
  [n_models, batch] becomes an error instead of a wrong answer.
* BLAS (NumPy/SciPy/scikit-learn) runs on one thread: the suite runs on 2 cores beside
  XLA's own threads, and a multi-threaded OpenBLAS on a busy 2-core machine spins its
  threads against them (measured: an SVD of a 120 x 4,364 matrix took 2.7 s instead of
  0.05 s). Results do not depend on it (no test compares BLAS floats across thread counts).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # read when each OpenBLAS copy loads
os.environ.setdefault("OMP_NUM_THREADS", "1")

import jax  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # scikit-learn (the analysis extra) brings it; without it, no limit
    pass
else:  # in case a plugin loaded NumPy before the variables above were set
    threadpool_limits(1, user_api="blas")
