"""The optimizer's cost grows linearly with the graph, and the facts a pipeline shares between
its passes (which rules do not fire where) change nothing but the cost.

Work is measured deterministically, as the number of Python function calls ``optimize`` makes
(``sys.setprofile``), never as wall time."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest

import tracegrad
import tracegrad.numpy as tnp
from tracegrad.ir.passes import DEFAULT_PIPELINE, explain, optimize
from tracegrad.ir.rewrite import RECORDER, Session, session
from tracegrad.ir.value import Function


def _chain(n: int) -> Callable:
    def chain(x):  # noqa: ANN001, ANN202  (the issue-7 graph-scale workload)
        for _ in range(n):
            x = np.sin(x) * 1.0001 + 0.001
        return np.sum(x)

    return chain


def _graph(n: int, gradient: bool) -> Function:
    f = _chain(n)
    return tracegrad.make_ir(tracegrad.grad(f) if gradient else f)(np.ones(100))


def _calls(function: Function) -> int:
    count = 0

    def profile(frame, event, arg):  # noqa: ANN001, ANN202, ARG001
        nonlocal count
        count += event == "call"

    sys.setprofile(profile)
    try:
        optimize(function)
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.parametrize("gradient", [False, True], ids=["forward", "gradient"])
def test_optimize_work_is_linear_in_the_graph(gradient: bool) -> None:
    _calls(_graph(20, gradient))  # warm the per-rule-set caches
    small, large = _graph(100, gradient), _graph(400, gradient)
    assert large.count_ops() >= 3.9 * small.count_ops()
    ratio = _calls(large) / _calls(small)
    assert ratio < 4.6, f"4x the ops cost {ratio:.2f}x the work (quadratic would be ~16x)"


def _softmax_xent(z):  # noqa: ANN001, ANN202
    return -np.sum(np.log(tnp.softmax(z)))


def _logistic(w):  # noqa: ANN001, ANN202
    return np.sum(np.log(1 / (1 + np.exp(-w))) * np.cos(w) + w**2 - 2.0 * w)


@pytest.mark.parametrize(
    "make",
    [
        lambda: _graph(30, True),
        lambda: tracegrad.make_ir(tracegrad.grad(_softmax_xent))(np.ones((3, 4))),
        lambda: tracegrad.make_ir(tracegrad.grad(_logistic))(np.ones(5)),
    ],
    ids=["chain_grad", "softmax_xent_grad", "logistic_grad"],
)
def test_shared_facts_change_neither_result_nor_counts(make: Callable[[], Function]) -> None:
    raw = make()
    shared = explain(raw)  # one session across the passes
    current = raw
    for stage, report in zip(
        [s for s in DEFAULT_PIPELINE if s.min_level <= 2], shared.stages, strict=True
    ):
        counts: Counter[str] = Counter()
        token = RECORDER.set(counts)
        try:
            with session():  # a fresh session per pass: every rule tried on every node
                current = stage.run(current)
        finally:
            RECORDER.reset(token)
        assert current == report.function, stage.name  # interned: the very same graph
        assert counts == report.counts, stage.name


def test_a_session_is_reused_when_nested() -> None:
    with session() as outer, session() as inner:
        assert isinstance(outer, Session) and inner is outer
