"""Elementwise functions of the namespace (numpy's ufuncs): one per primitive row with numpy
names (generated from the rows), plus the composites below."""

from __future__ import annotations

from typing import Any

import numpy as _np

from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import DTypeError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import PRIMS
from tracegrad.ir.value import Value
from tracegrad.numpy._core import traced
from tracegrad.numpy._mathfuncs import floats


def _unary(op: Op, name: str, doc: str) -> Any:
    def builder(x: Any) -> Any:
        return b.unary(op, x)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = doc
    return traced(builder, elementwise=True)


def _binary(op: Op, name: str, doc: str) -> Any:
    def builder(x: Any, y: Any) -> Any:
        return b.binary(op, x, y)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = doc
    return traced(builder, elementwise=True)


def _from_rows() -> dict[str, Any]:
    """One function per elementwise row with numpy names, bound to each of them (the ufunc
    dispatch list in ``_dispatch`` reads the same names)."""
    out: dict[str, Any] = {}
    for op, prim in PRIMS.items():
        if prim.is_elementwise and prim.numpy_names:
            make = _unary if prim.arity == 1 else _binary
            fn = make(op, prim.numpy_names[0], prim.doc)
            out.update(dict.fromkeys(prim.numpy_names, fn))
    return out


globals().update(_from_rows())  # exp, log, add, ... (``tracegrad.numpy`` star-imports them)


@traced(elementwise=True)
def logical_xor(x: Any, y: Any) -> Any:
    """Elementwise exclusive or (of truth values)."""
    return b.ne(_truth(x), _truth(y))


def _truth(x: Any) -> Any:
    value = b.to_value(x)
    return value if value.dtype.is_bool else b.ne(value, 0)


def _bitwise(op: Op, name: str) -> Any:
    def builder(x: Any, y: Any) -> Any:
        dtype = b.result_dtype(x, y)
        if not dtype.is_bool:
            raise DTypeError(f"{name} on {dtype.value} is not supported (only bool arrays)")
        return b.binary(op, x, y)

    builder.__name__ = name
    return traced(builder, elementwise=True)


bitwise_and = _bitwise(Op.LOGICAL_AND, "bitwise_and")
bitwise_or = _bitwise(Op.LOGICAL_OR, "bitwise_or")


@traced(elementwise=True)
def bitwise_xor(x: Any, y: Any) -> Any:
    """Elementwise xor of bool arrays."""
    if not b.result_dtype(x, y).is_bool:
        raise DTypeError("bitwise_xor is only supported on bool arrays")
    return b.ne(x, y)


@traced(elementwise=True)
def invert(x: Any) -> Any:
    """~x for bool arrays."""
    value = b.to_value(x)
    if not value.dtype.is_bool:
        raise DTypeError("~ (invert) is only supported on bool arrays")
    return b.unary(Op.LOGICAL_NOT, value)


@traced(elementwise=True)
def where(condition: Any, x: Any, y: Any) -> Any:
    """Select x where condition holds, else y (numpy.where with three arguments).

    >>> import tracegrad.numpy as tnp
    >>> tnp.where([True, False], 1.0, 2.0).tolist()
    [1.0, 2.0]
    """
    return b.where(condition, x, y)


@traced(elementwise=True)
def square(x: Any) -> Any:
    """x * x."""
    return b.mul(x, x)


@traced(elementwise=True)
def reciprocal(x: Any) -> Any:
    """1 / x."""
    return b.div(1.0 if b.to_value(x).dtype.is_float else 1, x)


@traced(elementwise=True)
def positive(x: Any) -> Any:
    return b.to_value(x)


@traced(elementwise=True)
def isnan(x: Any) -> Any:
    """True where x is NaN (x != x)."""
    value = b.to_value(x)
    return b.ne(value, value) if value.dtype.is_float else b.full(value.shape, False, DType.BOOL)


@traced(elementwise=True)
def isinf(x: Any) -> Any:
    """True where x is +-inf."""
    value = b.to_value(x)
    if not value.dtype.is_float:
        return b.full(value.shape, False, DType.BOOL)
    return b.eq(b.unary(Op.ABS, value), float("inf"))


@traced(elementwise=True)
def isfinite(x: Any) -> Any:
    """True where x is neither NaN nor infinite."""
    value = b.to_value(x)
    if not value.dtype.is_float:
        return b.full(value.shape, True, DType.BOOL)
    return b.lt(b.unary(Op.ABS, value), float("inf"))


@traced(elementwise=True)
def ceil(x: Any) -> Any:
    """Round up: -floor(-x)."""
    value = b.to_value(x)
    return b.neg(b.unary(Op.FLOOR, b.neg(value))) if value.dtype.is_float else value


@traced(elementwise=True)
def fmax(x: Any, y: Any) -> Any:
    """Maximum ignoring NaN (numpy.fmax)."""
    m = b.maximum(x, y)
    return b.where(b.ne(b.to_value(x), x), y, b.where(b.ne(b.to_value(y), y), x, m))


@traced(elementwise=True)
def fmin(x: Any, y: Any) -> Any:
    """Minimum ignoring NaN (numpy.fmin)."""
    m = b.minimum(x, y)
    return b.where(b.ne(b.to_value(x), x), y, b.where(b.ne(b.to_value(y), y), x, m))


@traced(elementwise=True)
def exp2(x: Any) -> Any:
    """2 ** x."""
    return b.exp(b.mul(x, 0.6931471805599453))


@traced(elementwise=True)
def log2(x: Any) -> Any:
    """Base-2 logarithm."""
    return b.div(b.log(x), 0.6931471805599453)


@traced(elementwise=True)
def log10(x: Any) -> Any:
    """Base-10 logarithm."""
    return b.div(b.log(x), 2.302585092994046)


@traced(elementwise=True)
def sinh(x: Any) -> Any:
    """Hyperbolic sine, (e^x - e^-x) / 2."""
    return b.mul(b.sub(b.unary(Op.EXPM1, x), b.unary(Op.EXPM1, b.neg(x))), 0.5)


@traced(elementwise=True)
def cosh(x: Any) -> Any:
    """Hyperbolic cosine, (e^x + e^-x) / 2."""
    return b.mul(b.add(b.exp(x), b.exp(b.neg(x))), 0.5)


# ---- rounding and special values (issue 15) -------------------------------------------------


@traced
def fix(x: Any) -> Any:
    """Round toward zero (numpy.fix; equal to trunc, integers and bools unchanged)."""
    return b.unary(Op.TRUNC, x)


@traced
def round(a: Any, decimals: int = 0) -> Any:  # noqa: A001
    """numpy.round: rint(a * 10**d) / 10**d (d >= 0) or rint(a / 10**-d) * 10**-d, in a's
    precision, as numpy computes it; integers are unchanged for d >= 0 and rounded (halves to
    even) through float64 for d < 0."""
    value = b.to_value(a)
    if not isinstance(decimals, int):
        raise DTypeError("round: decimals must be a Python int (a static argument)")
    if not value.dtype.is_float:
        if decimals >= 0 or value.dtype.is_bool:
            return value if value.dtype.is_int else b.unary(Op.RINT, value)
        scaled = round.builder(b.cast(value, DType.FLOAT64), decimals)
        return b.cast(scaled, value.dtype)
    factor = b.to_value(_np.asarray(10.0 ** abs(decimals), dtype=value.dtype.numpy))
    if decimals >= 0:
        return b.div(b.unary(Op.RINT, b.mul(value, factor)), factor)
    return b.mul(b.unary(Op.RINT, b.div(value, factor)), factor)


around = round


@traced
def nan_to_num(
    x: Any, copy: bool = True, nan: float = 0.0, posinf: Any = None, neginf: Any = None
) -> Any:
    """NaN -> nan, +inf -> posinf (default: the largest finite value), -inf -> neginf
    (default: the most negative); integers and bools unchanged. The gradient is 1 where x is
    kept and 0 where it is replaced."""
    value = b.to_value(x)
    if not value.dtype.is_float:
        return value
    big = float(_np.finfo(value.dtype.numpy).max)
    hi = big if posinf is None else posinf
    lo = -big if neginf is None else neginf
    out = b.where(b.eq(value, float("inf")), hi, value)
    out = b.where(b.eq(value, float("-inf")), lo, out)
    return b.where(b.ne(value, value), nan, out)


@traced
def isclose(a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: bool = False):
    """numpy.isclose: |a - b| <= atol + rtol * |b| where b is finite, or a == b; with
    equal_nan also where both are NaN (b is made float first, as numpy does)."""
    return _isclose(a, b, rtol, atol, equal_nan)  # (``b`` is numpy's name; the builder's too)


def _isclose(a: Any, y: Any, rtol: Any, atol: Any, equal_nan: bool) -> Value:
    y = b.to_value(y) if not b.is_weak(y) else float(y)
    if isinstance(y, Value) and not y.dtype.is_float:
        y = b.cast(y, b.result_dtype(y, 1.0))
    x = b.to_value(a)
    tolerance = b.add(atol, b.mul(rtol, b.unary(Op.ABS, y)))
    close = b.binary(Op.LE, b.unary(Op.ABS, b.sub(x, y)), tolerance)
    out = b.binary(Op.LOGICAL_OR, b.binary(Op.LOGICAL_AND, close, isfinite.builder(y)), b.eq(x, y))
    if equal_nan:
        both = b.binary(Op.LOGICAL_AND, b.ne(x, x), b.ne(y, y))
        out = b.binary(Op.LOGICAL_OR, out, both)
    return out


@traced(elementwise=True)
def heaviside(x1: Any, x2: Any) -> Any:
    """0 where x1 < 0, x2 where x1 == 0, 1 where x1 > 0, NaN where x1 is NaN. The gradient is
    0 in x1 (a step) and flows to x2 where x1 == 0."""
    x, h = floats(x1, x2)
    inner = b.where(b.eq(x, 0.0), h, x)  # NaN stays NaN
    return b.where(b.lt(x, 0.0), 0.0, b.where(b.gt(x, 0.0), 1.0, inner))


@traced(elementwise=True)
def signbit(x: Any) -> Any:
    """True where the sign bit is set (-0.0 and NaNs with the sign bit included)."""
    value = b.to_value(x)
    if value.dtype.is_bool:
        return b.full(value.shape, False, DType.BOOL)
    if not value.dtype.is_float:
        return b.lt(value, 0)
    return b.lt(b.binary(Op.COPYSIGN, 1.0, value), 0.0)
