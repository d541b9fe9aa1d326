"""The stability probes (JAX returns NaN on all six; PyTensor only passes at its top level):
value and gradient, finite and correct, at every optimization level.

Values run through ``jit`` at opt_level 0 and 2; gradients through ``tracegrad.grad`` (which
optimizes the forward graph before differentiating). Both use the reference interpreter as
the backend: these tests are about the optimizer, the LLVM backend has its own.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tracegrad
import tracegrad.numpy as tnp

PROBES: list[tuple[str, Callable, np.ndarray | float, object]] = [
    ("log_sigmoid_lib", lambda x: np.log(tnp.sigmoid(x)), -800.0, -800.0),
    ("log_sigmoid_hand", lambda x: np.log(1 / (1 + np.exp(-x))), -800.0, -800.0),
    ("log_sigmoid_reciprocal", lambda x: np.log(np.reciprocal(1 + np.exp(-x))), -800.0, -800.0),
    ("log_sigmoid_pow", lambda x: np.log((1 + np.exp(-x)) ** -1), -800.0, -800.0),
    ("softplus", lambda x: np.log(1 + np.exp(x)), 800.0, 800.0),
    ("logsumexp_hand", lambda x: np.log(np.sum(np.exp(x))), np.array([-np.inf, -np.inf]), -np.inf),
    ("logsumexp_lib", lambda x: tnp.logsumexp(x), np.array([-np.inf, -np.inf]), -np.inf),
    ("log_softmax_lib", lambda x: np.log(tnp.softmax(x)), np.array([0.0, 1000.0, 0.0]),
     np.array([-1000.0, 0.0, -1000.0])),
    ("log_softmax_hand", lambda x: np.log(np.exp(x) / np.sum(np.exp(x))),
     np.array([0.0, 1000.0, 0.0]), np.array([-1000.0, 0.0, -1000.0])),
    ("log_one_minus_sigmoid", lambda x: np.log(1 - tnp.sigmoid(x)), 800.0, -800.0),
]  # fmt: skip

GRADIENTS: list[tuple[str, Callable, np.ndarray | float, object]] = [
    ("log_sigmoid_lib", lambda x: np.log(tnp.sigmoid(x)), -800.0, 1.0),
    ("log_sigmoid_hand", lambda x: np.log(1 / (1 + np.exp(-x))), -800.0, 1.0),
    ("softplus", lambda x: np.log(1 + np.exp(x)), 800.0, 1.0),
    # at the origin the stable forms' branches meet: the gradient must still be exact there
    ("log_sigmoid_at_0", lambda x: np.log(tnp.sigmoid(x)), 0.0, 0.5),
    ("softplus_at_0", lambda x: np.log(1 + np.exp(x)), 0.0, 0.5),
    ("sigmoid_at_0", lambda x: 1 / (1 + np.exp(-x)), 0.0, 0.25),
    # all -inf: the gradient (softmax of the input) is 0/0; convention: 0, finite
    ("logsumexp_hand", lambda x: np.log(np.sum(np.exp(x))), np.array([-np.inf, -np.inf]),
     np.zeros(2)),
    ("logsumexp_lib", lambda x: tnp.logsumexp(x), np.array([-np.inf, -np.inf]), np.zeros(2)),
    ("log_softmax", lambda x: np.sum(np.log(tnp.softmax(x))), np.array([0.0, 1000.0, 0.0]),
     np.array([1.0, -2.0, 1.0])),
    ("log_softmax_hand", lambda x: np.sum(np.log(np.exp(x) / np.sum(np.exp(x)))),
     np.array([0.0, 1000.0, 0.0]), np.array([1.0, -2.0, 1.0])),
    ("where_sqrt", lambda x: np.where(x < 1, x, np.sqrt(x)), 0.0, 1.0),
    # norm at 0: documented convention, gradient 0 (the minimum-norm subgradient)
    ("norm_lib", lambda x: tnp.norm(x), np.zeros(3), np.zeros(3)),
    ("norm_hand", lambda x: np.sqrt(np.sum(x * x)), np.zeros(3), np.zeros(3)),
]  # fmt: skip


@pytest.fixture(autouse=True)
def _interpret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")


@pytest.mark.parametrize("level", [0, 2])
@pytest.mark.parametrize(("name", "f", "x", "expected"), PROBES, ids=[p[0] for p in PROBES])
def test_value(name: str, f: Callable, x: object, expected: object, level: int) -> None:
    got = tracegrad.jit(f, opt_level=level)(x)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize(("name", "f", "x", "expected"), GRADIENTS, ids=[p[0] for p in GRADIENTS])
def test_gradient(name: str, f: Callable, x: object, expected: object) -> None:
    grad = getattr(tracegrad, "grad", None)
    if grad is None:
        pytest.skip("tracegrad.grad (the autodiff issue) is not available")
    got = grad(f)(x)
    assert np.all(np.isfinite(got)), got
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_where_trap_gradient_graph_by_hand() -> None:
    """The cotangent reverse mode builds for where(x < 1, x, sqrt(x)) at the sqrt branch,
    where(c, 0, ct) / (2 * sqrt(x)), is 0/0 at x = 0; select-sinking makes it 0."""
    from tracegrad.ir import build as b
    from tracegrad.ir.dtypes import DType
    from tracegrad.ir.interpreter import evaluate
    from tracegrad.ir.passes import optimize
    from tracegrad.ir.types import TensorType
    from tracegrad.ir.value import Function, param

    x = param(0, TensorType(DType.FLOAT64, ()), "x")
    c = b.lt(x, 1.0)
    ct = b.where(c, 1.0, 0.0)
    d_sqrt = b.div(b.where(c, 0.0, 1.0), b.mul(2.0, b.sqrt(x)))
    f = Function("g", (x,), (b.add(ct, d_sqrt),))
    assert np.isnan(evaluate(f, [np.array(0.0)])[0])
    for level in (0, 2):
        assert evaluate(optimize(f, level, verify=True), [np.array(0.0)])[0] == 1.0
