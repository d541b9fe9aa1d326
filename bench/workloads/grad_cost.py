"""The gradient's cost: time of the gradient over time of the function alone.

For the logistic sum the gradient is ``grad(f)``; for the MLP it is the training step (loss and
all parameter gradients) over the loss alone. Each implementation's function and gradient are
measured back to back, so that a noisy machine moves both alike. Reverse mode should cost a
small constant factor: the target for tracegrad is at most 2x.
"""

from __future__ import annotations

import numpy as np

from bench.context import Context
from bench.report import Table, fmt_time, status_text
from bench.runner import Case, Result, log, run_impl
from bench.workloads import logistic, mlp

NAME = "gradcost"


def cost_table(title: str, values: list[Result], grads: list[Result]) -> Table:
    header = ["implementation", "function", "gradient", "gradient / function"]
    rows = []
    for value, grad in zip(values, grads, strict=True):
        bad = next((r for r in (value, grad) if r.status != "ok" or r.median_s is None), None)
        if bad is not None:
            which = "function" if bad is value else "gradient"
            rows.append([grad.impl, f"{which} {status_text(bad)}", "", ""])
            continue
        ratio = (grad.median_s or 0.0) / (value.median_s or 1.0)
        rows.append([grad.impl, fmt_time(value.median_s), fmt_time(grad.median_s), f"{ratio:.2f}x"])
    return Table(title, header, rows)


def measure_pairs(
    ctx: Context, value_case: Case, grad_case: Case
) -> tuple[list[Result], list[Result]]:
    log(f"[bench] {NAME}: {grad_case.key} over {value_case.label}")
    value_ref, grad_ref = value_case.reference(), grad_case.reference()
    values, grads = [], []
    for value_impl, grad_impl in zip(value_case.impls, grad_case.impls, strict=True):
        values.append(run_impl(value_case, value_impl, value_ref, ctx.settings.policy))
        grads.append(run_impl(grad_case, grad_impl, grad_ref, ctx.settings.policy))
        log(f"[bench]   {grad_impl.name}: {values[-1].status}, {grads[-1].status}")
    ctx.record(values + grads)
    return values, grads


def run(ctx: Context) -> list[Table]:
    n = 10**3 if ctx.settings.tiny else 10**6 if ctx.settings.quick else 10**7
    pairs = measure_pairs(
        ctx, logistic.value_case(n, np.float64), logistic.grad_case(ctx, n, np.float64)
    )
    tables = [cost_table(f"{NAME}: logistic sum, n={n:.0e} float64", *pairs)]
    dtypes = (np.float32,) if ctx.settings.quick or ctx.settings.tiny else mlp.DTYPES
    for dtype in dtypes:
        pairs = measure_pairs(ctx, mlp.loss_case(ctx, dtype), mlp.step_case(ctx, dtype))
        tables.append(cost_table(f"{NAME}: MLP step over MLP loss, {np.dtype(dtype).name}", *pairs))
    return tables
