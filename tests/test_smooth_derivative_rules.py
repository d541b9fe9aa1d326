"""logaddexp, logaddexp2 and hypot: the forward pass computes numpy's exact value only, and
the derivatives (every order) are the smooth function's, from composite VJP rules
(tracegrad/autodiff/composites.py) instead of a smooth twin computed on every call."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad
import tracegrad.numpy as tnp
import tracegrad.tensor as tt
from tracegrad.ir.ops import Op
from tracegrad.testing import check_grads

FNS = [np.logaddexp, np.logaddexp2, np.hypot]
X = np.array([0.6, -1.0, 2.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 3e200, -2.5])
Y = np.array([0.6, 0.5, -2.0, 0.0, 0.0, np.inf, -np.inf, 1.0, 4e200, 2.5])


@pytest.mark.parametrize("fn", FNS, ids=lambda f: f.__name__)
def test_the_forward_pass_is_the_exact_value_only(fn) -> None:
    ir = tracegrad.make_ir(fn)(X, Y)
    ops = {v.op for v in ir.order}
    assert Op.STOP_GRADIENT not in ops, "a smooth twin is computed in the forward pass"
    assert Op.LOG not in ops  # the twins' log(b**(x - m) + b**(y - m)); the value uses log1p
    with np.errstate(all="ignore"):
        want = fn(X, Y)
    got = tracegrad.jit(fn)(X, Y)
    # ties, zeros (-0.0 too) and infinities bitwise; elsewhere the math routines' ulp bounds
    exact = [0, 3, 4, 5, 6]
    assert got[exact].tobytes() == want[exact].tobytes()
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0, equal_nan=True)


@pytest.mark.parametrize("fn", FNS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("c", [0.7, -0.7])
def test_third_order_at_a_tie_with_a_constant(fn, c: float) -> None:
    # a constant operand lets the optimizer fold parts of the value's graph (hypot's infinite
    # branch), which the rules must still recognize at every order
    check_grads(lambda a: fn(a, c), (np.array([0.7, -1.0, 2.0]),), order=3)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_broadcast_gradients_in_single_and_half(dtype) -> None:
    x, y = np.array([[0.3, -1.2, 2.0]]), np.array([[0.3], [1.0]])
    bx, by = np.broadcast_arrays(x, y)
    s = 1 / (1 + np.exp(-(bx - by)))
    tol = 1e-6 if dtype is np.float32 else 2e-3
    gx, gy = tracegrad.grad(lambda a, c: np.logaddexp(a, c).sum(), (0, 1))(
        x.astype(dtype), y.astype(dtype)
    )
    assert gx.dtype == gy.dtype == dtype
    np.testing.assert_allclose(gx, s.sum(0, keepdims=True), rtol=tol, atol=tol)
    np.testing.assert_allclose(gy, (1 - s).sum(1, keepdims=True), rtol=tol, atol=tol)
    hx, _ = tracegrad.grad(lambda a, c: np.hypot(a, c).sum(), (0, 1))(
        x.astype(dtype), y.astype(dtype)
    )
    np.testing.assert_allclose(hx, (bx / np.hypot(bx, by)).sum(0, keepdims=True), rtol=tol)


def test_derivatives_where_the_value_is_not_finite_are_zero() -> None:
    for fn in FNS:
        for a, c in [(np.inf, 1.0), (-np.inf, -np.inf), (np.nan, 1.0), (np.inf, np.inf)]:
            ga, gc = tracegrad.grad(fn, (0, 1))(a, c)
            assert (float(ga), float(gc)) == (0.0, 0.0), (fn.__name__, a, c)
    ga, gc = tracegrad.grad(np.logaddexp, (0, 1))(-np.inf, 5.0)
    assert (float(ga), float(gc)) == (0.0, 1.0)


def test_theano_front_end_gets_the_rules() -> None:
    p, q = tt.dscalars("p", "q")
    g = tracegrad.function([p, q], tt.grad(tnp.logaddexp(p, q), p))
    h = tracegrad.function([p, q], tt.grad(tt.grad(tnp.hypot(p, q), p), p))
    assert float(g(0.6, 0.6)) == 0.5
    assert float(h(0.6, 0.6)) == pytest.approx(0.36 / 0.72**1.5, rel=1e-12)  # y^2 / r^3


def _not_logaddexp(a, c):
    # logaddexp's graph but for |a + c| in place of |a - c|: not logaddexp
    m, tie = np.maximum(a, c), a == c
    gap = np.where(tie, 0.0, a + c)
    return np.where(tie, m + np.log(2.0), m + np.log1p(np.exp(-np.abs(gap))))


def _not_hypot(a, c):
    # hypot's finite part but for max / max' in place of min / max': not hypot
    m = np.maximum(np.abs(a), np.abs(c))
    zero = m == 0.0
    safe = np.where(zero, 1.0, m)
    r = m / safe
    return np.where(zero, 0.0, safe * np.sqrt(1.0 + r * r))


@pytest.mark.parametrize("fn", [_not_logaddexp, _not_hypot], ids=lambda f: f.__name__)
def test_look_alike_graphs_get_their_own_derivatives(fn) -> None:
    check_grads(fn, (np.array([0.3, -1.2, 2.0]), np.array([1.1, 0.5, -0.4])), order=2)


@pytest.mark.parametrize("fn", FNS, ids=lambda f: f.__name__)
def test_second_derivative_at_ties_with_a_constant_array(fn) -> None:
    """A constant array operand equal to the variable (autograd's check_grads(np.hypot)(v, v)
    holds the second argument fixed): the curvature is the smooth function's, not 0."""
    v = np.array([1.76, 0.4, 0.98])
    hessian = tracegrad.hessian(lambda a: np.sum(fn(a, np.array([1.76, 0.4, 0.98]))))(v)
    eps = 1e-4
    second = [
        (fn(x + eps, x) - 2 * fn(x, x) + fn(x - eps, x)) / eps**2 for x in v
    ]  # the constant held at x
    np.testing.assert_allclose(np.diag(hessian), second, rtol=1e-5)
