"""Compile time of the logistic gradient in a fresh process: with an empty disk cache (cold),
then in a second new process that finds the cache the first one filled (warm).

Each framework's own disk cache is pointed at a fresh temporary directory: tracegrad's
TRACEGRAD_CACHE_DIR, JAX's persistent compilation cache, Numba's ``cache=True`` files and
PyTensor's compiledir. Compile time is the first call (building included) minus the steady
state; the framework's import time is shown apart.

Python bytecode is treated alike for everyone, as in an installed package: the children
write and read ``.pyc`` files (PYTHONDONTWRITEBYTECODE is dropped) under a cache prefix of
this run, and each implementation first runs once, unmeasured, with a throwaway disk cache.
That run compiles every module's bytecode (pip does that for installed peers; an editable
tracegrad checkout would otherwise be compiled from source in every process) and warms the
OS file cache for shared libraries; its compiled code never reaches the measured runs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.context import Context
from bench.report import Table, fmt_time, status_text
from bench.runner import Result, log
from bench.subproc import run_child

NAME = "compile"
IMPLS = (
    ("jax", "jax.jit(grad)"),
    ("numba", "numba (hand derivative, cache=True)"),
    ("pytensor-c", "pytensor C"),
    ("pytensor-numba", "pytensor numba"),
    ("tracegrad", "tracegrad jit(grad)"),
)


def cache_env(root: Path, pycache: Path) -> dict[str, str | None]:
    return {
        "PYTHONDONTWRITEBYTECODE": None,
        "PYTHONPYCACHEPREFIX": str(pycache),
        "TRACEGRAD_CACHE_DIR": str(root / "tracegrad"),
        "TRACEGRAD_CACHE": None,
        "JAX_COMPILATION_CACHE_DIR": str(root / "jax"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        "NUMBA_CACHE_DIR": str(root / "numba"),
        "PYTENSOR_FLAGS": f"base_compiledir={root / 'pytensor'}",
    }


def size(ctx: Context) -> int:
    return 10**3 if ctx.settings.tiny else 10**5


def cells(result: Result) -> list[str]:
    if result.status != "ok":
        return [status_text(result), ""]
    return [fmt_time(result.first_call_s), fmt_time(result.compile_s)]


def run(ctx: Context) -> list[Table]:
    n = size(ctx)
    label = f"logistic gradient, n={n:.0e} float64, fresh processes"
    log(f"[bench] {NAME}: {label}")
    rows = []
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        for key, name in IMPLS:
            cold, warm = run_impl_pair(ctx, key, name, label, n, Path(pycache))
            results += [cold, warm]
            import_s = cold.extra.get("import_s")
            steady = fmt_time(cold.median_s) if cold.status == "ok" else ""
            rows.append([name, fmt_time(import_s), *cells(cold), *cells(warm), steady])
    ctx.record(results)
    header = [
        "implementation",
        "import",
        "cold: first call",
        "cold: compile",
        "warm cache: first call",
        "warm cache: compile",
        "steady call",
    ]
    notes = [
        "first call includes building the function (jit wrapper, pytensor.function) and"
        " tracing; import time is not included",
        "bytecode compiled once per run, as for installed packages (see the module"
        " docstring); tracegrad loads LLVM on its first compile, not at import",
        "tracegrad compiles its native call path on the third call: not in these columns",
    ]
    return [Table(f"{NAME}: {label}", header, rows, notes)]


def run_impl_pair(
    ctx: Context, key: str, name: str, label: str, n: int, pycache: Path
) -> tuple[Result, Result]:
    """(cold, warm) results of one implementation, after an unmeasured warm-up run."""
    args = ["logistic", key, str(n), "--quick"]

    def child(case: str, cache_dir: str) -> Result:
        return run_child(
            args,
            workload=NAME,
            case=f"{label}, {case}",
            impl=name,
            timeout_s=ctx.settings.timeout_s,
            env=cache_env(Path(cache_dir), pycache),
        )

    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        child("warm-up", tmp)
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        cold = child("cold", tmp)  # an empty cache, filled by this run
        if cold.status == "ok":
            return cold, child("warm", tmp)
    reason = f"cold run {cold.status}"
    return cold, Result(
        NAME, f"{label}, warm", name, "skipped", is_peer=cold.is_peer, reason=reason
    )
