"""Elementwise functions of the namespace (numpy's ufuncs): one per primitive row with numpy
names (generated from the rows), plus the composites below."""

from __future__ import annotations

from typing import Any

from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import DTypeError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import PRIMS
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
