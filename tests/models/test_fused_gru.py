"""The fused CPU GRU kernel: its independence from the number of networks in a call, the
switch between it and XLA, and its build (the contract every path keeps is
test_gru_kernels.py)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import kernel_or_skip, tiny_ds1

from mlds_jax.models import (
    FUSED_KERNELS,
    GRU_KERNEL_MAX_DIM,
    KERNELS,
    apply_gru_batch,
    gru_kernel_for,
    init_gru,
    resolve_gru_kernel,
)
from mlds_jax.models import _fused_gru_build as build
from mlds_jax.models._fused_gru import FUSED_LAYERS, _make_layer
from mlds_jax.spec import GRUSpec
from mlds_jax.train import task_width


@pytest.fixture
def kernel():
    kernel_or_skip()


@pytest.fixture(params=["fused", "fused_fma"])
def variant(request) -> str:
    """Each build of the kernel (``fused_fma``: one rounding per multiply-add)."""
    kernel_or_skip(request.param)
    return request.param


needs_kernel = pytest.mark.usefixtures("kernel")

T, B = 6, 3  # time, batch


def _layers(n: int, inp: int, hidden: int, seed: int = 0):
    """``n`` networks' GRU layer tensors and inputs: ``w_ih [n, 3*hidden, inp]`` ...
    ``xs [n, time, batch, inp]``."""
    k = jax.random.split(jax.random.PRNGKey(seed), 5)
    s = hidden**-0.5

    def u(key, shape):
        return jax.random.uniform(key, (n, *shape), jnp.float32, -s, s)

    return (u(k[0], (3 * hidden, inp)), u(k[1], (3 * hidden, hidden)), u(k[2], (3 * hidden,)),
            u(k[3], (3 * hidden,)), jax.random.normal(k[4], (n, T, B, inp), jnp.float32))


@jax.jit(static_argnums=0)
def _value_and_grads(layer, args, d_hs):
    """``vmap(layer)(*args)`` and the gradients of ``sum(out * d_hs)`` (one compile)."""
    out, vjp = jax.vjp(jax.vmap(layer), *args)
    return out, vjp(d_hs)


# The contract every path keeps (forward and gradients against autodiff, independence from
# the call's other networks, apply_gru_batch under vmap of grad) is tests/models/
# test_gru_kernels.py; here what only the fused kernel has.
def test_a_network_does_not_depend_on_the_width_of_its_call(variant):
    args = _layers(40, 5, 12)
    d_hs = jax.random.normal(jax.random.PRNGKey(2), (40, T, B, 12), jnp.float32)

    def one(i, lo, hi):
        """Network i computed in a call over networks [lo, hi)."""
        h, g = _value_and_grads(FUSED_LAYERS[variant], tuple(a[lo:hi] for a in args),
                                d_hs[lo:hi])
        return h[i - lo], [x[i - lo] for x in g]

    ref_h, ref_g = one(17, 17, 18)  # alone
    for lo, hi in [(0, 40), (10, 20), (3, 18)]:  # other tiles, lanes, padded tails
        h, g = one(17, lo, hi)
        np.testing.assert_array_equal(h, ref_h)
        for a, b in zip(g, ref_g):
            np.testing.assert_array_equal(a, b)


def test_a_build_recomputing_the_gates_it_does_not_save_gives_the_same_bits(monkeypatch):
    """Built with ``-DMLDS_GRU_RECOMPUTE=1`` the forward saves only h and the backward
    recomputes r, z, n and W_hn h + b_hn from h_{t-1} and x_t with the forward's own code:
    output and gradients equal ``fused_fma``'s (which saves all five) bit for bit (a padded
    tile, DS1's compiled-in shapes and the generic path)."""
    kernel_or_skip("fused_fma")
    assert (build.residual_width("fused"), build.residual_width("fused_fma")) == (5, 5)
    monkeypatch.setitem(build.VARIANTS, "fma_recompute",
                        (*build.VARIANTS["fused_fma"], "-DMLDS_GRU_RECOMPUTE=1"))
    kernel_or_skip("fma_recompute")
    assert build.residual_width("fma_recompute") == 1
    recomputing, saving = _make_layer("fma_recompute"), FUSED_LAYERS["fused_fma"]
    for hidden, inp in [(12, 5), (12, 12), (7, 3)]:
        args = _layers(10, inp, hidden, seed=hidden + inp)
        d_hs = jax.random.normal(jax.random.PRNGKey(inp), (10, T, B, hidden), jnp.float32)
        (h_a, g_a), (h_b, g_b) = (_value_and_grads(f, args, d_hs)
                                  for f in (recomputing, saving))
        np.testing.assert_array_equal(h_a, h_b)
        for a, b in zip(g_a, g_b, strict=True):
            np.testing.assert_array_equal(a, b)


@needs_kernel
def test_apply_gru_batch_paths_agree_and_switch(monkeypatch):
    spec = GRUSpec(5, 12, 2, (8,), 1)
    flat = jax.vmap(lambda k: init_gru(k, spec))(jax.random.split(jax.random.PRNGKey(0), 3))
    x = jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (3, B, T, 5)).astype(jnp.float32)
    y = {k: jax.vmap(lambda p, xb, k=k: apply_gru_batch(p, xb, spec, kernel=k))(flat, x)
         for k in ("fused", "xla")}
    np.testing.assert_allclose(y["fused"], y["xla"], rtol=1e-5, atol=1e-5)

    assert resolve_gru_kernel("auto") == "fused"  # never fused_fma: its floats are others
    assert resolve_gru_kernel("xla") == "xla"
    monkeypatch.setenv("MLDS_JAX_GRU_KERNEL", "xla")
    assert resolve_gru_kernel() == "xla"
    monkeypatch.setenv("MLDS_JAX_GRU_KERNEL", "fused_fma")
    assert resolve_gru_kernel() == gru_kernel_for(spec) == "fused_fma"
    monkeypatch.setenv("MLDS_JAX_GRU_KERNEL", "fast")
    with pytest.raises(ValueError, match=r"\$MLDS_JAX_GRU_KERNEL: expected one of"):
        resolve_gru_kernel()


@needs_kernel
def test_layers_wider_than_the_kernel_take_xla(monkeypatch):
    monkeypatch.delenv("MLDS_JAX_GRU_KERNEL", raising=False)
    narrow, wide = GRUSpec(5, 12, 2, (8,), 1), GRUSpec(5, GRU_KERNEL_MAX_DIM + 1, 1, (), 1)
    assert gru_kernel_for(narrow) == "fused"
    assert gru_kernel_for(narrow, "xla") == "xla"
    assert gru_kernel_for(wide) == "xla"
    assert gru_kernel_for(wide, "fused") == "xla"


def test_fused_fma_is_chosen_end_to_end_and_its_store_recomputes_bit_for_bit(
        tmp_path, monkeypatch, capsys):
    """A tiny DS1 store made on ``fused_fma`` (the fused kernel's chunk width) records it,
    verifies and recomputes bit for bit with ``--gru-kernel fused_fma``; on the
    default ``fused`` its resume is refused and a recompute gives other floats."""
    from mlds_jax.cli import GRU_KERNELS, main
    from mlds_jax.errors import SpecError
    from mlds_jax.pipeline import generate
    from mlds_jax.store import open_store
    from mlds_jax.workunits import recompute

    kernel_or_skip("fused_fma")
    assert GRU_KERNELS == KERNELS and set(FUSED_KERNELS) <= set(KERNELS)
    spec = tiny_ds1(per_class=1, max_epochs=2, snapshot_epochs="none")  # 5 networks
    out = tmp_path / "fma.zarr"
    widths = {}
    for k in ("xla", "fused", "fused_fma"):
        monkeypatch.setenv("MLDS_JAX_GRU_KERNEL", k)
        widths[k] = task_width(spec)
    assert widths["fused_fma"] == widths["fused"] != widths["xla"]  # two 8-network tiles
    generate(spec, out, block_size=8, progress=False)
    assert open_store(out).attrs["gru_kernel"] == "fused_fma"
    assert main(["verify", str(out), "--recompute", "5", "--gru-kernel", "fused_fma"]) == 0
    assert "recomputed 5 networks" in capsys.readouterr().out

    monkeypatch.delenv("MLDS_JAX_GRU_KERNEL")  # auto: fused
    with pytest.raises(SpecError, match="'fused_fma' GRU kernel, this process uses 'fused'; "
                                        "set MLDS_JAX_GRU_KERNEL=fused_fma to resume it"):
        generate(spec, out, block_size=8, progress=False)
    r = recompute(out, 5)  # traced again on fused (not the programs traced on fused_fma)
    assert len(r["mismatches"]) == 5, r["mismatches"]
    assert all("params differs" in m for m in r["mismatches"])
    assert "trained with the 'fused_fma' GRU kernel, this run used 'fused'" in r["note"]
    # reading the store applies its networks with the kernel it records, whatever this
    # process's default: the stored floats' own kernel
    rng = np.random.default_rng(0)
    store, x = open_store(out), jnp.asarray(rng.integers(0, 2, (4, 8, 5)), jnp.float32)
    params = jnp.asarray(store.params(0))
    on = {k: np.asarray(jax.jit(lambda p, x, k=k: apply_gru_batch(p, x, spec.model, k))(
        params, x)) for k in FUSED_KERNELS}
    assert not np.array_equal(on["fused"], on["fused_fma"])
    np.testing.assert_array_equal(np.asarray(store.apply(params, x)), on["fused_fma"])


def test_without_a_compiler_auto_falls_back_to_xla(monkeypatch, tmp_path):
    monkeypatch.setattr(build, "_state", {})
    monkeypatch.setattr(build, "_compiler", lambda: None)
    monkeypatch.setenv("MLDS_JAX_CACHE_DIR", str(tmp_path))
    with pytest.warns(RuntimeWarning, match="fused CPU GRU kernel unavailable"):
        assert resolve_gru_kernel("auto") == "xla"
    with pytest.raises(RuntimeError, match="'fused' was asked for but cannot be built"):
        resolve_gru_kernel("fused")


BROKEN = "extern \"C\" int MldsGruFwd( { return 0; }\n"  # a syntax error


@pytest.mark.skipif(build.unavailable_reason() is not None,
                    reason=f"no kernel build here: {build.unavailable_reason()}")
@pytest.mark.parametrize("what", ["source", "flag"])
def test_a_kernel_that_does_not_build_raises_the_compilers_error(what, tmp_path):
    source, flags = build.SOURCE, build.FLAGS
    if what == "source":
        source = tmp_path / "broken.cc"
        source.write_text(BROKEN)
    else:
        flags = (*flags, "-fno-such-option-mlds")
    with pytest.raises(build.KernelBuildError, match="failed:") as e:
        build._compile(tmp_path / "out.so", source, flags)
    assert ("broken.cc" if what == "source" else "-fno-such-option-mlds") in str(e.value)
    assert not (tmp_path / "out.so").exists()


@pytest.mark.skipif(build.unavailable_reason() is not None or jax.default_backend() != "cpu",
                    reason="no kernel build here (another backend or no compiler)")
def test_where_a_compiler_exists_a_broken_build_fails_the_kernel_tests(monkeypatch, tmp_path):
    """The guard every kernel test runs (``kernel_or_skip``) raises, not skips, when the
    kernel does not build; ``auto`` still falls back to XLA with a warning."""
    broken = tmp_path / "broken.cc"
    broken.write_text(BROKEN)
    monkeypatch.setattr(build, "_state", {})
    monkeypatch.setattr(build, "SOURCE", broken)
    monkeypatch.setenv("MLDS_JAX_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.warns(RuntimeWarning, match="fused CPU GRU kernel unavailable"):
        assert resolve_gru_kernel("auto") == "xla"
    with pytest.raises(build.KernelBuildError, match="broken.cc"):
        kernel_or_skip()
