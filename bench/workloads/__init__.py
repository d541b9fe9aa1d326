"""The workloads, in the order they run. Each module has ``NAME`` and ``run(ctx) -> tables``."""

from __future__ import annotations

from types import ModuleType

from bench.workloads import (
    bandwidth,
    compile_time,
    grad_cost,
    graph_scale,
    linalg,
    logistic,
    loops,
    mlp,
    overhead,
    reduction,
)

WORKLOADS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (
        bandwidth,
        logistic,
        overhead,
        mlp,
        reduction,
        graph_scale,
        compile_time,
        grad_cost,
        loops,
        linalg,
    )
}
