"""What the benchmarks share: running a case in its own process and describing the machine.

:func:`run_case` starts ``python -m benchmarks.harness --case JSON``, which runs
:func:`child` (a PyTorch peer from ``_torch_cases`` or a JAX case from ``_jax_cases``) and
prints its measurements as one JSON line. ``benchmarks.throughput`` and
``benchmarks.fused_gru`` both run their cases this way.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


# --------------------------------------------------------------------------- child side
def child(case: dict) -> dict:
    """Runs one case in this process (the subprocess :func:`run_case` starts) and returns
    its measurements: ``network_steps``, ``seconds``, ``peak_rss_mb`` and what the case's
    kind adds."""
    kind = case["kind"]
    if kind.startswith("torch"):
        import torch

        torch.set_num_threads(case.get("threads", os.cpu_count() or 1))
        from benchmarks import _torch_cases as tc

        if kind == "torch_single":
            out = tc.torch_single(case["workload"], case["seconds"])
        elif kind == "torch_func":
            out = tc.torch_func_vmap(case["workload"], case["n"], case["seconds"])
        elif kind == "torch_ensemble":
            out = tc.torch_ensemble(case["workload"], case["n"], case["seconds"],
                                    compile=case.get("compile", False))
        elif kind == "torch_batched":
            out = tc.torch_batched(case["workload"], case["n"], case["seconds"],
                                   compile=case.get("compile", False))
        elif kind == "torch_peak":
            out = {"gflops": tc.torch_matmul_peak(case["seconds"])}
        else:
            raise ValueError(kind)
        if tc.TIMED_CPU_S and kind != "torch_peak":
            out["cpu_seconds"] = tc.TIMED_CPU_S[-1]
        if torch.cuda.is_available():
            out["device_peak_bytes"] = int(torch.cuda.max_memory_allocated())
    else:
        if "gru_kernel" in case:  # read by mlds_jax.models at trace time
            os.environ["MLDS_JAX_GRU_KERNEL"] = case["gru_kernel"]
        import jax

        from mlds_jax.coord import set_cpu_devices

        # the bulk rows run as `generate` does (one CPU device per core unless the case
        # says); one network at a time and the matmul peak on one device
        bulk = kind in ("gru_bulk", "mlp_bulk") and case.get("label") != "jax_single"
        set_cpu_devices(case.get("cpu_devices") if bulk else 1)

        from benchmarks import _jax_cases as jc

        if kind == "jax_peak":
            out = {"gflops": jc.jax_matmul_peak(case["seconds"])}
        elif kind == "gru_bulk":
            out = jc.gru_bulk(case["n"], case["steps"], case["epochs"], case["repeats"],
                              case.get("width"))
        elif kind == "gru_single":
            out = jc.gru_single(case["steps"], case["epochs"], case["repeats"])
        elif kind == "mlp_bulk":
            out = jc.mlp_bulk(case["n"], case["steps"], case["repeats"], case.get("width"),
                              case.get("workload", "mlp"))
        else:
            raise ValueError(kind)
        if bulk and jax.default_backend() == "cpu":
            out["cpu_devices"] = len(jax.devices())
        stats = jax.devices()[0].memory_stats() or {}
        if "peak_bytes_in_use" in stats:
            out["device_peak_bytes"] = int(stats["peak_bytes_in_use"])
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


# -------------------------------------------------------------------------- parent side
def _spawn(case: dict) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "benchmarks.harness", "--case",
                             json.dumps(case)], stdout=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT)


def _collect(p: subprocess.Popen, case: dict) -> dict:
    out, _ = p.communicate()
    if p.returncode != 0:
        return {**case, "error": f"exit {p.returncode}"}
    return {**case, **json.loads(out.strip().splitlines()[-1])}


def run_case(case: dict) -> dict:
    """``case`` run in its own process (:func:`child`), its measurements merged into it
    (``error`` where the process failed)."""
    return _collect(_spawn(case), case)


def run_processes(case: dict, n_proc: int) -> dict:
    """``n_proc`` copies of a one-thread case at once, one process per core: PyTorch one
    network at a time (``torch_procs``, as MLDS's volunteers ran) or an ensemble of
    ``n / n_proc`` networks each (a ``torch_ensemble`` case with ``procs``). Each process
    times its own steps; the row counts every process's steps over the slowest one's time."""
    each = ({**case, "kind": "torch_single"} if case["kind"] == "torch_procs" else
            {**case, "n": max(case["n"] // n_proc, 1)})
    procs = [_spawn({**each, "threads": 1}) for _ in range(n_proc)]
    rs = [_collect(p, each) for p in procs]
    if any("error" in r for r in rs):
        return {**case, "error": "a process failed"}
    return {**case, "processes": n_proc, "threads": 1,
            "network_steps": sum(r["network_steps"] for r in rs),
            "seconds": max(r["seconds"] for r in rs),
            "n_models": sum(r.get("n_models", 1) for r in rs),
            "cpu_seconds": (sum(r["cpu_seconds"] for r in rs)
                            if all("cpu_seconds" in r for r in rs) else None),
            "compile_s": max((r["compile_s"] for r in rs if "compile_s" in r), default=None),
            "peak_rss_mb": sum(r["peak_rss_mb"] for r in rs)}


def torch_available() -> bool:
    """Whether PyTorch (the peers' ``bench`` extra) is installed."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def cpu_busy(seconds: float = 3.0) -> float | None:
    """Cores' worth of CPU time other processes used over the last ``seconds`` (from
    /proc/stat; ``None`` where there is none). Unlike the 1-minute load average it does not
    lag: a job that ended a minute ago no longer counts."""
    def sample():
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return (1.0 - (i1 - i0) / max(t1 - t0, 1)) * (os.cpu_count() or 1)


def machine() -> dict:
    """The machine a results file was measured on: CPU, cores, versions, backend, device,
    date, and the load when the run began."""
    from mlds_jax._provenance import cpu_model

    info = {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "date": datetime.date.today().isoformat(), "load_start": os.getloadavg()[0],
            "busy_start": cpu_busy()}
    import jax

    dev = jax.devices()[0]
    info.update(jax=jax.__version__, backend=jax.default_backend(), device=dev.device_kind)
    if torch_available():
        import torch

        info["torch"] = torch.__version__
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="runs one benchmark case (see run_case)")
    ap.add_argument("--case", required=True, help="the case as JSON")
    print(json.dumps(child(json.loads(ap.parse_args(argv).case))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
