"""Kernels are formed once, by the backend's planner: the optimizer's passes leave a plain
graph, and ``explain`` shows the plan the backend runs (not a second, IR-side guess)."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad
import tracegrad.numpy as tnp
from tracegrad.ir.interpreter import evaluate
from tracegrad.ir.passes import explain, optimize
from tracegrad.ir.value import Function
from tracegrad.llvm.backend import LLVMBackend
from tracegrad.llvm.plan.kernels import describe
from tracegrad.tensor import fmatrix

KERNEL_OPS = {"fused"}  # ops only a kernel-forming pass makes


def _logistic_grad() -> Function:
    return tracegrad.make_ir(tracegrad.grad(lambda v: np.sum(1 / (1 + np.exp(-v)))))(np.zeros(5))


def _softmax_xent_grad() -> Function:
    y = np.eye(3)[[0, 2, 1, 1, 0]]

    def xent(z):  # noqa: ANN001, ANN202
        return -np.sum(y * np.log(tnp.softmax(z)))

    return tracegrad.make_ir(tracegrad.grad(xent))(np.zeros((5, 3)))


@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("make", [_logistic_grad, _softmax_xent_grad])
def test_the_passes_form_no_kernels(make, level: int) -> None:  # noqa: ANN001
    optimized = optimize(make(), level, verify=True)
    assert {v.op.value for v in optimized.order} & KERNEL_OPS == set()


def test_explain_shows_the_plan_the_backend_runs() -> None:
    report = explain(_softmax_xent_grad(), planner=describe)
    executable = LLVMBackend().compile(report.final)
    assert len(report.plan) == len(executable.plan.steps) > 1  # type: ignore[union-attr]
    assert list(report.plan) == describe(report.final)
    assert "backend plan" in report.summary() and str(report).endswith(report.plan[-1])
    assert explain(_softmax_xent_grad()).plan == ()  # no planner: the passes only


def test_logistic_gradient_is_one_kernel() -> None:
    raw = _logistic_grad()
    report = explain(raw, planner=describe)
    (line,) = report.plan  # the whole gradient, 21 ops, is one loop writing the output
    assert line.startswith("kernel elementwise -> %11: f64[5]")
    assert "return %11" in str(report.final)
    arg = np.array([-800.0, -3.0, 0.0, 2.0, 800.0])
    expected = np.exp(-np.abs(arg)) / (1 + np.exp(-np.abs(arg))) ** 2
    got = LLVMBackend().compile(report.final)([arg])[0]
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-300)
    np.testing.assert_array_equal(got, evaluate(raw, [arg])[0])


def test_theano_front_end_optimized_graph_is_plain() -> None:
    x = fmatrix("x")
    f = tracegrad.function([x], tracegrad.tensor.grad(tracegrad.tensor.sum(tnp.tanh(x) ** 2), x))
    assert {v.op.value for v in f.optimized_function.order} & KERNEL_OPS == set()
    a = np.linspace(-2, 2, 6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(f(a), 2 * np.tanh(a) * (1 - np.tanh(a) ** 2), rtol=1e-5)
