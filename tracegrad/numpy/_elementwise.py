"""Elementwise functions of the namespace (numpy's ufuncs)."""

from __future__ import annotations

from typing import Any

from tracegrad.errors import DTypeError
from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.numpy._core import traced


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


negative = _unary(Op.NEG, "negative", "Elementwise -x.")
exp = _unary(
    Op.EXP,
    "exp",
    "Elementwise e**x.\n\n>>> import tracegrad.numpy as tnp\n>>> float(tnp.exp(0.0))\n1.0",
)
log = _unary(Op.LOG, "log", "Natural logarithm.")
log1p = _unary(Op.LOG1P, "log1p", "log(1 + x), accurate near 0.")
expm1 = _unary(Op.EXPM1, "expm1", "exp(x) - 1, accurate near 0.")
sin = _unary(Op.SIN, "sin", "Sine.")
cos = _unary(Op.COS, "cos", "Cosine.")
tan = _unary(Op.TAN, "tan", "Tangent.")
tanh = _unary(Op.TANH, "tanh", "Hyperbolic tangent.")
sqrt = _unary(Op.SQRT, "sqrt", "Square root.")
abs = absolute = _unary(Op.ABS, "abs", "Absolute value.")  # noqa: A001
sign = _unary(Op.SIGN, "sign", "Sign (-1, 0, 1; NaN stays NaN).")
floor = _unary(Op.FLOOR, "floor", "Round down.")
logical_not = _unary(Op.LOGICAL_NOT, "logical_not", "Elementwise not.")

add = _binary(Op.ADD, "add", "Elementwise x + y.")
subtract = _binary(Op.SUB, "subtract", "Elementwise x - y.")
multiply = _binary(Op.MUL, "multiply", "Elementwise x * y.")
divide = true_divide = _binary(Op.DIV, "divide", "Elementwise true division x / y.")
floor_divide = _binary(Op.FLOORDIV, "floor_divide", "x // y with numpy's rounding.")
remainder = mod = _binary(Op.MOD, "remainder", "x % y with the sign of y (numpy's).")
power = _binary(Op.POW, "power", "x ** y.")
maximum = _binary(Op.MAXIMUM, "maximum", "Elementwise maximum; NaN propagates.")
minimum = _binary(Op.MINIMUM, "minimum", "Elementwise minimum; NaN propagates.")
equal = _binary(Op.EQ, "equal", "x == y.")
not_equal = _binary(Op.NE, "not_equal", "x != y.")
less = _binary(Op.LT, "less", "x < y.")
less_equal = _binary(Op.LE, "less_equal", "x <= y.")
greater = _binary(Op.GT, "greater", "x > y.")
greater_equal = _binary(Op.GE, "greater_equal", "x >= y.")
logical_and = _binary(Op.LOGICAL_AND, "logical_and", "Elementwise and (of truth values).")
logical_or = _binary(Op.LOGICAL_OR, "logical_or", "Elementwise or (of truth values).")


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
