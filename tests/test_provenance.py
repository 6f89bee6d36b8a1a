"""The one reader of /proc/cpuinfo and the versions a store records."""

from __future__ import annotations

import platform

import pytest

from mlds_jax import _provenance as prov
from mlds_jax.models import _fused_gru_build as build

X86 = ("model name\t: AMD EPYC 7B13", "flags\t\t: fpu sse4_2 avx avx2 fma")


def test_cpu_description_names_the_model_and_widest_instruction_set(monkeypatch):
    monkeypatch.setattr(prov, "cpuinfo_lines", lambda: X86)
    assert prov.cpu_description() == "AMD EPYC 7B13 (avx2)"
    assert prov.cpu_model() == "AMD EPYC 7B13"
    assert prov.cpu_id() == "\n".join(sorted(X86))


def test_without_cpuinfo_the_platform_names_the_cpu(monkeypatch):
    monkeypatch.setattr(prov, "cpuinfo_lines", lambda: ())
    assert prov.cpu_id() == platform.processor() + platform.machine()
    assert prov.cpu_description() == (
        f"{platform.processor() or platform.machine()} (unknown)")


def test_the_kernel_cache_is_keyed_by_the_same_cpu_id(monkeypatch):
    if build.library_path() is None:
        pytest.skip("no C++ compiler: the kernel has no cache key here")
    here = build.library_path()
    monkeypatch.setattr(prov, "cpuinfo_lines", lambda: X86)
    assert build.library_path() != here


def test_provenance_records_versions_device_and_cpu():
    p = prov.provenance()
    assert {"library_version", "jax_version", "jaxlib_version", "zarr_version",
            "numpy_version", "python_version", "device_kind", "platform", "cpu",
            "created"} <= set(p)
    assert p["cpu"] == prov.cpu_description()
