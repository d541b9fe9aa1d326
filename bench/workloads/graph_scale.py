"""Graph scale: the gradient of a Python loop of N elementwise steps on a 100-vector.

``x = sin(x)*1.0001 + 0.001`` unrolled N times, then summed; tracegrad, JAX, PyTensor and
autograd see N steps in their graph, numpy and Numba get a hand-written backward loop. Every
implementation runs in its own process with a timeout, so a slow compiler cannot hang the
suite; an implementation that timed out is not tried at the larger N. PyTensor runs with its
C backend only: its Numba backend fails at N = 1000 (a tuple of more than 1000 arguments).
"""

from __future__ import annotations

import math

from bench.context import Context
from bench.report import Table, best_peer, fmt_ratio, fmt_spread, fmt_time, status_text
from bench.runner import Result, log
from bench.subproc import run_child

NAME = "graph"
IMPLS = (
    ("numpy", "numpy (hand backward loop)"),
    ("numba", "numba (hand backward loop, not unrolled)"),
    ("jax", "jax.jit(grad)"),
    ("pytensor-c", "pytensor C"),
    ("autograd", "autograd (no compile; traces every call)"),
    ("tracegrad", "tracegrad jit(grad)"),
)


def step_counts(ctx: Context) -> list[int]:
    if ctx.settings.tiny:
        return [10, 100]
    return [1000] if ctx.settings.quick else [1000, 10000]


def table(title: str, results: list[Result]) -> Table:
    best = best_peer(results)
    header = [
        "implementation",
        "compile (first call - steady)",
        "first call",
        "run (median)",
        "spread",
        "run vs best peer",
    ]
    rows = []
    for r in results:
        if r.status != "ok" or r.median_s is None:
            rows.append([r.impl, status_text(r), "", "", "", ""])
            continue
        ratio = r.median_s / best.median_s if best and best.median_s else None
        rows.append(
            [
                r.impl,
                fmt_time(r.compile_s),
                fmt_time(r.first_call_s),
                fmt_time(r.median_s),
                fmt_spread(r.low_s, r.high_s),
                fmt_ratio(ratio),
            ]
        )
    notes = ["each implementation in a fresh process; tracegrad with TRACEGRAD_CACHE=0"]
    return Table(title, header, rows, notes, results)


def growth_table(by_n: dict[int, list[Result]]) -> Table | None:
    """Compile-time growth between the two step counts, as an exponent: 1 is linear."""
    if len(by_n) < 2:
        return None
    (n1, first), (n2, second) = sorted(by_n.items())[:2]
    rows = []
    for a, b in zip(first, second, strict=True):
        if a.status == b.status == "ok" and (a.compile_s or 0) > 0.01 and b.compile_s:
            exponent = math.log(b.compile_s / a.compile_s) / math.log(n2 / n1)
            rows.append([a.impl, fmt_time(a.compile_s), fmt_time(b.compile_s), f"{exponent:.2f}"])
        else:
            rows.append(
                [
                    a.impl,
                    fmt_time(a.compile_s),
                    status_text(b) if b.status != "ok" else fmt_time(b.compile_s),
                    "",
                ]
            )
    header = ["implementation", f"compile N={n1}", f"compile N={n2}", "growth exponent"]
    return Table(
        f"graph scale: compile-time growth from N={n1} to N={n2}",
        header,
        rows,
        ["exponent log(c2/c1)/log(N2/N1): 1 means linear in N"],
    )


def run(ctx: Context) -> list[Table]:
    tables = []
    by_n: dict[int, list[Result]] = {}
    gave_up: dict[str, str] = {}
    for n in step_counts(ctx):
        label = f"gradient of {n} unrolled steps on a 100-vector, float64"
        title = f"{NAME}: {label}"
        log(f"[bench] {title}")
        results = []
        for key, name in IMPLS:
            if key in gave_up:
                results.append(
                    Result(
                        NAME,
                        label,
                        name,
                        "skipped",
                        is_peer=key != "tracegrad",
                        reason=gave_up[key],
                    )
                )
                continue
            args = ["graph", key, str(n)] + (["--quick"] if ctx.settings.quick else [])
            result = run_child(
                args,
                workload=NAME,
                case=label,
                impl=name,
                timeout_s=ctx.settings.timeout_s,
                env={"TRACEGRAD_CACHE": "0"},
            )
            if result.status == "timeout":
                gave_up[key] = f"timed out at N={n}"
            results.append(result)
        by_n[n] = results
        ctx.record(results)
        tables.append(table(title, results))
    growth = growth_table(by_n)
    if growth is not None:
        tables.append(growth)
    return tables
