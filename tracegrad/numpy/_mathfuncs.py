"""numpy's inverse trigonometric and hyperbolic functions, hypot, logaddexp(2), cbrt, sinc and
the angle conversions as composites of primitive rows (their gradients come from the rows' VJPs).

Each is written in a form that keeps the rows' accuracy (measured error bounds, in ulp of the
result against a long-double reference, are in ``tests/test_ufunc_composites.py`` and
docs/numpy_elementwise.md). Odd functions take ``|x|`` as ``copysign(x, 1)`` and put the sign
back with ``copysign``: copysign's derivative is +-1 everywhere, so the gradient at 0 is the
true one (``abs'(0) = 0`` would zero it).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType, float_loop
from tracegrad.ir.ops import Op
from tracegrad.ir.value import Value
from tracegrad.numpy._core import traced

_LN2 = math.log(2.0)
_LOG2E = 1.0 / _LN2
_BIG = 2.0**28  # beyond it, asinh(x) = log(2x) and acosh(x) = log(2x) to the last bit


def as_float(x: Any) -> Value:
    """The operand as a float Value (ints and bools -> their float loop, as numpy's float
    ufuncs: int8 -> float16, int32 -> float64)."""
    value = b.to_value(x)
    return b.cast(value, float_loop(value.dtype))


def floats(x: Any, y: Any) -> tuple[Value, Value]:
    """Both operands at their NEP 50 common dtype's float loop."""
    x_, y_ = b.promote_operands(x, y, dtype=float_loop(b.result_dtype(x, y)))
    return x_, y_


def half_in_single(fn: Callable[..., Value]) -> Callable[..., Value]:
    """numpy computes its float16 loops of these functions in float32 and rounds the result
    to float16 once: so do the composites (in float16 every step would round)."""

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Value:
        if float_loop(b.result_dtype(*args)) is not DType.FLOAT16:
            return fn(*args)
        singles = [b.cast(b.to_value(a), DType.FLOAT32) for a in args]
        return b.cast(fn(*singles), DType.FLOAT16)

    return wrapper


def copysign(x: Any, y: Any) -> Value:
    return b.binary(Op.COPYSIGN, x, y)


def _nan_where(cond: Value, dtype: DType) -> Value:
    """NaN where cond holds, else 1, as a factor: NaN also in the derivative there."""
    return b.cast(b.where(cond, float("nan"), 1.0), dtype)


def _sqrt_one_minus_square(x: Value) -> Value:
    """sqrt((1 - x)(1 + x)): 1 - x is exact near 1 (Sterbenz), so the small root keeps its
    digits (1.5 ulp for arcsin; sqrt(1 - x) * sqrt(1 + x) measures 2.4). At x = +-1 the
    split form (also 0 there) is selected: its derivative is -+inf, where the product's
    chain rule gives inf * 0 = NaN."""
    lo, hi = b.sub(1.0, x), b.add(1.0, x)
    edge = b.eq(b.unary(Op.ABS, x), 1.0)
    return b.where(edge, b.mul(b.sqrt(lo), b.sqrt(hi)), b.sqrt(b.mul(lo, hi)))


@traced(elementwise=True)
@half_in_single
def arcsin(x: Any) -> Any:
    """Inverse sine: arctan2(x, sqrt((1 - x)(1 + x))); NaN outside [-1, 1]."""
    v = as_float(x)
    return b.binary(Op.ATAN2, v, _sqrt_one_minus_square(v))


@traced(elementwise=True)
@half_in_single
def arccos(x: Any) -> Any:
    """Inverse cosine: arctan2(sqrt((1 - x)(1 + x)), x); NaN outside [-1, 1]."""
    v = as_float(x)
    return b.binary(Op.ATAN2, _sqrt_one_minus_square(v), v)


def _log_twice(a: Value) -> Value:
    return b.add(b.log(a), _LN2)


@traced(elementwise=True)
@half_in_single
def arcsinh(x: Any) -> Any:
    """Inverse hyperbolic sine (fdlibm's forms): log1p(a + a²/(1 + sqrt(1 + a²))) for
    a = |x| < 2**28, log(2a) beyond, with the sign of x."""
    v = as_float(x)
    a = copysign(v, 1.0)
    big = b.gt(a, _BIG)
    small = b.where(big, 1.0, a)  # keeps a² finite in the branch not taken
    a2 = b.mul(small, small)
    near = b.unary(Op.LOG1P, b.add(small, b.div(a2, b.add(1.0, b.sqrt(b.add(1.0, a2))))))
    return copysign(b.where(big, _log_twice(a), near), v)


@traced(elementwise=True)
@half_in_single
def arccosh(x: Any) -> Any:
    """Inverse hyperbolic cosine: log1p(t + sqrt(t(t + 2))) with t = x - 1 (exact near 1),
    log(2x) beyond 2**28; NaN below 1."""
    v = as_float(x)
    big = b.gt(b.unary(Op.ABS, v), _BIG)  # log(2x) is NaN for x < -2**28, as it should be
    t = b.sub(b.where(big, 1.0, v), 1.0)
    t2 = b.add(t, 2.0)  # at t = 0 the split root (also 0) gives the derivative +inf, not NaN
    root = b.where(b.eq(t, 0.0), b.mul(b.sqrt(t), b.sqrt(t2)), b.sqrt(b.mul(t, t2)))
    near = b.unary(Op.LOG1P, b.add(t, root))
    # NaN below 1, its derivative too
    return b.mul(b.where(big, _log_twice(v), near), _nan_where(b.lt(v, 1.0), v.dtype))


@traced(elementwise=True)
@half_in_single
def arctanh(x: Any) -> Any:
    """Inverse hyperbolic tangent: 0.5 * log1p(2a + 2a²/(1 - a)) with a = |x|, the sign of
    x; +-inf at +-1, NaN beyond."""
    v = as_float(x)
    a = copysign(v, 1.0)
    twice = b.add(a, a)
    inner = b.add(twice, b.div(b.mul(twice, a), b.sub(1.0, a)))
    half_log = b.mul(b.unary(Op.LOG1P, inner), 0.5)
    # at 1: the same inf from 0.5 (log1p(a) - log1p(-a)), whose derivative is inf, not NaN
    edge = b.mul(b.sub(b.unary(Op.LOG1P, a), b.unary(Op.LOG1P, b.neg(a))), 0.5)
    half_log = b.where(b.eq(a, 1.0), edge, half_log)
    # beyond 1 the sum can round to a finite value (float32 at 2**28 gives 0): times NaN
    # there (not a select, so the derivative is NaN too, as for the other functions)
    half_log = b.mul(half_log, _nan_where(b.gt(a, 1.0), v.dtype))
    return copysign(half_log, v)


@traced(elementwise=True)
@half_in_single
def hypot(x: Any, y: Any) -> Any:
    """sqrt(x² + y²) without overflow: m * sqrt(1 + (n/m)²) with m, n = max, min of |x|, |y|;
    +inf when either is infinite (even with a NaN), as C99."""
    xv, yv = floats(x, y)
    ax, ay = b.unary(Op.ABS, xv), b.unary(Op.ABS, yv)
    m, n = b.maximum(ax, ay), b.minimum(ax, ay)
    zero = b.eq(m, 0.0)
    safe_m = b.where(zero, 1.0, m)
    r = b.div(n, safe_m)
    scaled = b.mul(safe_m, b.sqrt(b.add(1.0, b.mul(r, r))))
    inf = b.binary(Op.LOGICAL_OR, b.eq(ax, float("inf")), b.eq(ay, float("inf")))
    # the value's formula has kinks where |x| = |y| (max, min): the derivatives (every order)
    # of its finite part are the smooth sqrt(x^2 + y^2)'s, x / hypot, from
    # tracegrad.autodiff.composites, which recognizes it (0 at (0, 0) and at infinities)
    return b.where(inf, float("inf"), b.where(zero, 0.0, scaled))


def _log_add(x: Any, y: Any, tie: float, tail: Any) -> Value:
    """numpy's npy_logaddexp(2): max + tail(|x - y|); equal inputs (also equal infinities)
    give max + tie; NaN propagates. That is the value, and all the forward pass computes;
    the value's formula has kinks at ties (|x - y|, max), so the derivatives (every order)
    are the smooth function's, from tracegrad.autodiff.composites, which recognizes this
    graph: a tie gets half the gradient each and the right curvature; where the result is
    not finite they are 0."""
    xv, yv = floats(x, y)
    m = b.maximum(xv, yv)
    equal = b.eq(xv, yv)
    d = b.where(equal, 0.0, b.sub(xv, yv))  # inf - inf stays out of the branch not taken
    return b.where(equal, b.add(m, tie), b.add(m, tail(b.neg(b.unary(Op.ABS, d)))))


@traced(elementwise=True)
@half_in_single
def logaddexp(x: Any, y: Any) -> Any:
    """log(exp(x) + exp(y)), never overflowing."""
    return _log_add(x, y, _LN2, lambda t: b.unary(Op.LOG1P, b.exp(t)))


@traced(elementwise=True)
@half_in_single
def logaddexp2(x: Any, y: Any) -> Any:
    """log2(2**x + 2**y), never overflowing (2**t by pow, which is accurate for large t)."""
    return _log_add(x, y, 1.0, lambda t: b.mul(b.unary(Op.LOG1P, b.pow(2.0, t)), _LOG2E))


@traced(elementwise=True)
@half_in_single
def cbrt(x: Any) -> Any:
    """Real cube root: pow(|x|, 1/3) and one Newton step (pow alone is off by up to
    ln|x| * 2e-17 relative, since 1/3 is inexact), with the sign of x."""
    v = as_float(x)
    a = copysign(v, 1.0)
    y0 = b.pow(a, 1.0 / 3.0)
    regular = b.binary(Op.LOGICAL_AND, b.gt(y0, 0.0), b.lt(y0, float("inf")))
    y = b.where(regular, y0, 1.0)
    a_safe = b.where(regular, a, 1.0)
    newton = b.add(y, b.div(b.sub(b.div(a_safe, b.mul(y, y)), y), 3.0))
    return copysign(b.where(regular, newton, y0), v)


@traced
def sinc(x: Any) -> Any:
    """sin(pi x) / (pi x), numpy's formula: x = 0 is replaced by 1e-20 (so sinc(0) = 1 and
    its gradient there is 0)."""
    v = as_float(x)
    y = b.mul(b.where(b.eq(v, 0.0), 1.0e-20, v), math.pi)
    return b.div(b.unary(Op.SIN, y), y)


# deg2rad is numpy's x * (pi/180) and rad2deg x * (180/pi), with the constant computed in the
# operand's precision as numpy's loops do (float32: float32(180) / float32(pi), which is not
# float32(180 / pi)).
_TO_RADIANS = {DType.FLOAT64: math.pi / 180.0, DType.FLOAT32: float(np.float32(math.pi / 180.0))}
_TO_DEGREES = {
    DType.FLOAT64: 180.0 / math.pi,
    DType.FLOAT32: float(np.float32(180.0) / np.float32(math.pi)),
}


@traced(elementwise=True)
@half_in_single
def deg2rad(x: Any) -> Any:
    """Degrees to radians: x * (pi / 180), bitwise numpy's."""
    v = as_float(x)
    return b.mul(v, _TO_RADIANS[v.dtype])


@traced(elementwise=True)
@half_in_single
def rad2deg(x: Any) -> Any:
    """Radians to degrees: x * (180 / pi), bitwise numpy's."""
    v = as_float(x)
    return b.mul(v, _TO_DEGREES[v.dtype])


radians, degrees = deg2rad, rad2deg


@traced(elementwise=True)
def fabs(x: Any) -> Any:
    """numpy.fabs: |x| as a float (ints and bools become floats, as numpy's float loop)."""
    return b.unary(Op.ABS, as_float(x))
