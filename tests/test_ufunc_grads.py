"""Gradients of issue #15's elementwise functions: finite differences (check_grads, orders 1
and 2, reverse and forward mode) on smooth domains, closed forms from calculus, and the
conventions of docs/autodiff.md where calculus is silent or infinite."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tracegrad
from tracegrad.testing import check_grads

RNG = np.random.default_rng(15)


def _u(lo: float, hi: float, n: int = 4, both_signs: bool = False) -> np.ndarray:
    x = RNG.uniform(lo, hi, n)
    return x * RNG.choice([-1.0, 1.0], n) if both_signs else x


# name: (domain per operand, closed-form derivative per operand)
UNARY: dict[str, tuple[np.ndarray, Callable]] = {
    "arcsin": (_u(-0.9, 0.9), lambda x: 1 / np.sqrt(1 - x * x)),
    "arccos": (_u(-0.9, 0.9), lambda x: -1 / np.sqrt(1 - x * x)),
    "arcsinh": (_u(-3.0, 3.0), lambda x: 1 / np.sqrt(1 + x * x)),
    "arccosh": (_u(1.2, 4.0), lambda x: 1 / np.sqrt(x * x - 1)),
    "arctanh": (_u(-0.8, 0.8), lambda x: 1 / (1 - x * x)),
    "cbrt": (_u(0.2, 3.0, both_signs=True), lambda x: 1 / (3 * np.cbrt(x) ** 2)),
    "sinc": (_u(-2.0, 2.0), lambda x: (np.cos(np.pi * x) - np.sinc(x)) / x),
    "deg2rad": (_u(-400, 400), lambda x: np.full_like(x, np.pi / 180)),
    "radians": (_u(-400, 400), lambda x: np.full_like(x, np.pi / 180)),
    "rad2deg": (_u(-7, 7), lambda x: np.full_like(x, 180 / np.pi)),
    "degrees": (_u(-7, 7), lambda x: np.full_like(x, 180 / np.pi)),
}  # fmt: skip


def _sigmoid(t: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-t))


BINARY: dict[str, tuple[tuple[np.ndarray, np.ndarray], Callable]] = {
    "hypot": ((_u(0.2, 3, both_signs=True), _u(0.2, 3, both_signs=True)),
              lambda x, y: (x / np.hypot(x, y), y / np.hypot(x, y))),
    "logaddexp": ((_u(-3, 3), _u(-3, 3)), lambda x, y: (_sigmoid(x - y), _sigmoid(y - x))),
    "logaddexp2": ((_u(-3, 3), _u(-3, 3)),
                   lambda x, y: (2**x / (2**x + 2**y), 2**y / (2**x + 2**y))),
    "copysign": ((_u(0.2, 2, both_signs=True), _u(0.2, 2, both_signs=True)),
                 lambda x, y: (np.sign(x) * np.sign(y), 0 * y)),
    "fmod": ((_u(0.1, 0.9, both_signs=True), _u(1.1, 2.0, both_signs=True)),
             lambda x, y: (np.ones_like(x), -np.trunc(x / y))),
    "fmax": ((_u(-2, -0.1), _u(0.1, 2)), lambda x, y: (0 * x, np.ones_like(y))),
    "fmin": ((_u(-2, -0.1), _u(0.1, 2)), lambda x, y: (np.ones_like(x), 0 * y)),
}  # fmt: skip


def _grads(name: str, *args: np.ndarray) -> tuple:
    fn = getattr(np, name)
    argnums = tuple(range(len(args)))
    g = tracegrad.jit(tracegrad.grad(lambda *a: np.sum(fn(*a)), argnums=argnums))(*args)
    return tuple(g)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_finite_differences_and_closed_form(name: str) -> None:
    x, derivative = UNARY[name]
    fn = getattr(np, name)
    check_grads(lambda v: fn(v), (x,), order=2)
    (g,) = _grads(name, x)
    np.testing.assert_allclose(g, derivative(x), rtol=1e-13)


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_finite_differences_and_closed_form(name: str) -> None:
    (x, y), derivative = BINARY[name]
    fn = getattr(np, name)
    check_grads(lambda a, c: fn(a, c), (x, y), order=2)
    for got, want in zip(_grads(name, x, y), derivative(x, y), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-300)


def test_odd_functions_have_their_derivative_at_zero() -> None:
    """arcsinh, arctanh, arcsin: derivative 1 at +-0 (|x| is taken by copysign, whose
    derivative never vanishes; abs'(0) = 0 would give 0)."""
    x = np.array([0.0, -0.0])
    for name in ("arcsinh", "arctanh", "arcsin"):
        assert _grads(name, x)[0].tolist() == [1.0, 1.0], name
    assert _grads("arccos", x)[0].tolist() == [-1.0, -1.0]


def test_gradients_far_out() -> None:
    """The branches beyond 2**28 (log(2x)) and hypot's and logaddexp's scaling keep the
    gradients finite and right where the naive formulas overflow."""
    big = np.array([1e10, 1e200, -1e300])
    np.testing.assert_allclose(_grads("arcsinh", big)[0], 1 / np.abs(big), rtol=1e-15)
    np.testing.assert_allclose(_grads("arccosh", np.abs(big))[0], 1 / np.abs(big), rtol=1e-15)
    gx, gy = _grads("hypot", np.array([3e200, 1e-300]), np.array([4e200, 0.0]))
    np.testing.assert_allclose(gx, [0.6, 1.0], rtol=1e-15)
    np.testing.assert_allclose(gy, [0.8, 0.0], rtol=1e-15)
    gx, gy = _grads("logaddexp", np.array([1000.0, -np.inf, 0.0]), np.array([0.0, 5.0, 2000.0]))
    assert gx.tolist() == [1.0, 0.0, 0.0] and gy.tolist() == [0.0, 1.0, 1.0]


def test_conventions_where_calculus_is_silent() -> None:
    """The rows of docs/autodiff.md's conventions table added for issue 15."""
    x = np.array([-1.5, -0.5, 0.0, 0.5, 2.5])
    for name in ("rint", "trunc", "fix", "round", "around"):  # piecewise constant: 0
        assert _grads(name, x)[0].tolist() == [0.0] * 5, name
    # heaviside: 0 in x1 (a step), 1 in x2 where x1 == 0
    g1, g2 = _grads("heaviside", x, np.full(5, 0.5))
    assert g1.tolist() == [0.0] * 5 and g2.tolist() == [0, 0, 1, 0, 0]
    # fmax/fmin ties: 0.5 each (maximum's rule); a NaN side gets 0, the other side 1
    a, c = np.array([1.0, np.nan, 2.0]), np.array([1.0, 3.0, np.nan])
    for name in ("fmax", "fmin"):
        ga, gc = _grads(name, a, c)
        assert ga.tolist() == [0.5, 0.0, 1.0] and gc.tolist() == [0.5, 1.0, 0.0], name
    # logaddexp(x, x): 0.5 each, also at equal infinities' neighbours
    ga, gc = _grads("logaddexp", np.array([2.0, -3.0]), np.array([2.0, -3.0]))
    assert ga.tolist() == gc.tolist() == [0.5, 0.5]
    # nan_to_num: 1 where x is kept, 0 where it is replaced
    v = np.array([np.nan, np.inf, -np.inf, 1.5])
    assert _grads("nan_to_num", v)[0].tolist() == [0.0, 0.0, 0.0, 1.0]
    # copysign: d/dx = sign(x) sign(y) by the sign bits (also at +-0), d/dy = 0
    gx, gy = _grads("copysign", np.array([0.0, -0.0, 2.0]), np.array([-1.0, -1.0, 0.0]))
    assert gx.tolist() == [-1.0, 1.0, 1.0] and gy.tolist() == [0.0, 0.0, 0.0]
    # sinc'(0) = 0; cbrt'(0) = inf (calculus)
    assert _grads("sinc", np.array([0.0]))[0].tolist() == [0.0]
    assert _grads("cbrt", np.array([0.0]))[0].tolist() == [np.inf]


def test_predicates_inside_differentiated_code() -> None:
    """isnan/isinf/isfinite/signbit/isclose under grad (they are not differentiated: they
    select, and the selected branch carries the gradient)."""

    def f(x: np.ndarray) -> np.ndarray:
        safe = np.where(np.isnan(x) | np.isinf(x), 0.0, x)
        flip = np.where(np.signbit(x), -1.0, 1.0)
        near = np.where(np.isclose(x, 1.0), 10.0, 1.0)
        return np.sum(np.where(np.isfinite(x), safe * safe * flip * near, 0.0))

    x = np.array([np.nan, np.inf, -2.0, 1.0, 3.0, -0.0])
    g = tracegrad.jit(tracegrad.grad(f))(x)
    assert g.tolist() == [0.0, 0.0, 4.0, 20.0, 6.0, 0.0]


@pytest.mark.parametrize("name", [*UNARY, "nan_to_num"])
def test_size_zero_and_zero_d_gradients(name: str) -> None:
    assert _grads(name, np.zeros((0, 2)))[0].shape == (0, 2)
    inside = UNARY[name][0][0] if name in UNARY else 0.5  # a point of the domain
    g = _grads(name, np.float64(inside))[0]
    assert np.shape(g) == () and np.isfinite(g)


@pytest.mark.parametrize("name", list(BINARY))
def test_size_zero_and_zero_d_binary_gradients(name: str) -> None:
    gx, gy = _grads(name, np.zeros((0, 2)), np.ones((0, 2)))
    assert gx.shape == gy.shape == (0, 2)
    gx, gy = _grads(name, np.float64(0.5), np.float64(1.5))
    assert np.shape(gx) == np.shape(gy) == ()


def test_float32_gradients_stay_float32() -> None:
    x = np.array([0.25, -0.5], np.float32)
    for name in ("arcsin", "arcsinh", "cbrt", "deg2rad", "sinc"):
        g = _grads(name, x)[0]
        assert g.dtype == np.float32, name
        np.testing.assert_allclose(g, UNARY[name][1](x.astype(np.float64)), rtol=2e-6)


def test_domain_edges_and_outside() -> None:
    """Where the derivative is infinite (the domain's edges) it is +-inf as calculus says,
    not inf * 0 = NaN; outside the domain value and derivative are NaN."""
    edge = np.array([1.0, -1.0])
    assert _grads("arcsin", edge)[0].tolist() == [np.inf, np.inf]
    assert _grads("arccos", edge)[0].tolist() == [-np.inf, -np.inf]
    assert _grads("arctanh", edge)[0].tolist() == [np.inf, np.inf]
    assert _grads("arccosh", np.array([1.0]))[0].tolist() == [np.inf]
    outside = {"arcsin": [2.0, -1.5], "arccos": [2.0, -1.5], "arctanh": [2.0, -1.5]}
    outside["arccosh"] = [0.5, -2.0]
    for name, points in outside.items():
        assert np.isnan(_grads(name, np.array(points))[0]).all(), name


def _unary_text(op: str) -> str:
    return f'func @p(%0: f64[2] "x") -> (f64[2]) {{\n  %1 = {op} %0 : f64[2]\n  return %1\n}}'


def _binary_text(op: str) -> str:
    return (
        f'func @p(%0: f64[2] "x", %1: f64[2] "y") -> (f64[2]) {{\n'
        f"  %2 = {op} %0, %1 : f64[2]\n  return %2\n}}"
    )


@pytest.mark.parametrize(
    ("text", "bad", "good", "reason"),
    [
        (_unary_text("trunc"), [[0.5, 2.00001]], [[0.5, 2.5]], "trunc near a jump"),
        (_unary_text("rint"), [[0.2, 2.50001]], [[0.2, 2.2]], "rint near a jump"),
        (_binary_text("copysign"), [[1.0, 1e-6], [1.0, 1.0]], [[1.0, -2.0], [1.0, -1.0]],
         "copysign near a sign change"),
        (_binary_text("copysign"), [[1.0, 2.0], [1.0, 1e-7]], [[1.0, 2.0], [-1.0, 1.0]],
         "copysign near a sign change"),
        (_binary_text("fmod"), [[3.0, 1.0], [1.5, 0.7]], [[3.2, 1.0], [1.5, 0.7]],
         "fmod near a jump"),
    ],
)  # fmt: skip
def test_fuzzer_knows_the_new_rows_jumps(text: str, bad: list, good: list, reason: str) -> None:
    """Random-program gradient checks skip points next to the new rows' jumps and kinks
    (tracegrad.testing.domain), and check the rest."""
    from tracegrad.ir.parser import parse_function
    from tracegrad.testing.domain import outside_differentiable_domain

    f = parse_function(text)
    assert outside_differentiable_domain(f, [np.array(x) for x in bad]) == reason
    assert outside_differentiable_domain(f, [np.array(x) for x in good]) is None


@pytest.mark.parametrize("fn", [np.logaddexp, np.logaddexp2])
def test_logaddexp_derivatives_at_ties(fn) -> None:
    # at x == y the value's formula has kinks (|x - y|, max): the derivatives must still be
    # the smooth function's, half the gradient each and the right curvature (autograd's
    # systematic tests evaluate every binary ufunc at equal arguments)
    scale = 1.0 if fn is np.logaddexp else np.log(2.0)
    gx = tracegrad.grad(lambda a: fn(a, 0.6))(0.6)
    assert float(gx) == pytest.approx(0.5)
    hxx = tracegrad.hessian(lambda a: fn(a, 0.6))(0.6)
    assert float(hxx) == pytest.approx(0.25 * scale, rel=1e-12)
    hxy = tracegrad.grad(tracegrad.grad(lambda a, c: fn(a, c), 0), 1)(0.6, 0.6)
    assert float(hxy) == pytest.approx(-0.25 * scale, rel=1e-12)


def test_hypot_derivatives_at_ties_and_zero() -> None:
    # |x| = |y| is a kink of the value's formula (max, min): the derivatives must be the
    # smooth sqrt(x^2 + y^2)'s there; (0, 0) gets the zero subgradient, not NaN
    for x, y in ((0.6, 0.6), (0.6, -0.6), (-2.0, 2.0)):
        check_grads(np.hypot, (x, y), order=2, modes=("rev", "fwd"))
    g = tracegrad.grad(lambda a: np.hypot(a, np.array([0.0, 3.0])).sum())(np.array([-0.0, 3.0]))
    np.testing.assert_allclose(g, [0.0, 3.0 / np.hypot(3.0, 3.0)])
