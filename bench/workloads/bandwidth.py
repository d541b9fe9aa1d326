"""The machine's memory-bandwidth floor: a large copy and a STREAM-style triad, in GB/s.

The floor used by the other workloads is the best single-thread rate measured here: a kernel
that streams ``B`` bytes per element through memory cannot beat ``B * n / floor`` seconds on
one core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench import peers
from bench.context import Context
from bench.report import Table, timing_table
from bench.runner import Case, Impl, Metrics, Result

NAME = "bandwidth"
SCALAR = 3.0


def size(ctx: Context) -> int:
    if ctx.settings.tiny:
        return 10**6
    return 10**7 if ctx.settings.quick else 4 * 10**7


def bandwidth_metrics(n: int, bytes_per_element: int) -> Metrics:
    def metrics(seconds: float) -> dict[str, float]:
        return {"ns/elem": seconds / n * 1e9, "GB/s": bytes_per_element * n / seconds / 1e9}

    return metrics


def copy_case(n: int) -> Case:
    src = np.random.default_rng(0).random(n)

    def build() -> Callable[[], Any]:
        dst = np.empty_like(src)
        return lambda: (np.copyto(dst, src), dst)[1]

    return Case(
        NAME,
        f"copy, n={n:.0e} float64, 16 B/elem",
        lambda: src,
        [Impl("numpy copyto", build)],
        rtol=0.0,
        metrics=bandwidth_metrics(n, 16),
        metric_names=("ns/elem", "GB/s"),
    )


def numba_triad(parallel: bool) -> Callable[..., None]:
    nb = peers.numba()

    @nb.njit(parallel=parallel)
    def triad(a: np.ndarray, b: np.ndarray, c: np.ndarray, s: float) -> None:
        for i in nb.prange(a.shape[0]):
            a[i] = b[i] + s * c[i]

    return triad


def triad_case(n: int) -> Case:
    rng = np.random.default_rng(1)
    b, c = rng.random(n), rng.random(n)

    def build_numpy() -> Callable[[], Any]:
        a = np.empty_like(b)

        def run() -> np.ndarray:
            np.multiply(c, SCALAR, out=a)
            np.add(a, b, out=a)
            return a

        return run

    def build_numba(parallel: bool) -> Callable[[], Callable[[], Any]]:
        def build() -> Callable[[], Any]:
            kernel = numba_triad(parallel)
            a = np.empty_like(b)
            return lambda: (kernel(a, b, c, SCALAR), a)[1]

        return build

    impls = [
        Impl("numpy multiply+add", build_numpy, note="two passes"),
        Impl("numba triad, 1 thread", build_numba(False)),
        Impl("numba triad, parallel", build_numba(True), note=f"{peers.cpu_count()} threads"),
    ]
    return Case(
        NAME,
        f"triad a = b + s*c, n={n:.0e} float64, 24 B/elem",
        lambda: b + SCALAR * c,
        impls,
        rtol=1e-15,
        metrics=bandwidth_metrics(n, 24),
        metric_names=("ns/elem", "GB/s"),
    )


SINGLE_THREAD = ("numpy copyto", "numba triad, 1 thread")


def record_floor(ctx: Context, results: list[Result]) -> None:
    rates = [
        (r.metrics["GB/s"], r.impl)
        for r in results
        if r.status == "ok" and r.impl in SINGLE_THREAD and "GB/s" in r.metrics
    ]
    if rates:
        ctx.cache["floor"] = max(rates)


def floor_gbps(ctx: Context) -> tuple[float, str]:
    """(GB/s, where it came from): measured by this workload, or by a quick copy if the
    bandwidth workload was not selected."""
    if "floor" not in ctx.cache:
        record_floor(ctx, ctx.run(copy_case(size(ctx))))
    if "floor" not in ctx.cache:  # the copy itself failed: say so rather than invent a figure
        ctx.cache["floor"] = (float("nan"), "unmeasured")
    return ctx.cache["floor"]


def run(ctx: Context) -> list[Table]:
    n = size(ctx)
    tables = []
    for case in (copy_case(n), triad_case(n)):
        results = ctx.run(case)
        record_floor(ctx, results)
        tables.append(timing_table(case.key, results, case.metric_names))
    gbps, source = floor_gbps(ctx)
    tables[-1].notes.append(f"bandwidth floor used below: {gbps:.1f} GB/s ({source})")
    return tables
