"""Building IR with numpy's rules: the Value-level numpy the tracer, the VJP rules and the
rewrites all use. Operands may be Values, numpy arrays and numpy scalars (strong dtypes) or
Python scalars (weak, NEP 50). Broadcasting becomes explicit BROADCAST ops and promotion
explicit CASTs, so every primitive sees equal shapes and dtypes.

>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.value import param
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> x = param(0, TensorType(DType.FLOAT32, (3,)), "x")
>>> str(b.mul(x, 2.5).type)
'f32[3]'
"""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.ir.dtypes import DType, float_loop, int_range, promote, promote_weak
from tracegrad.ir.errors import DTypeError, ShapeError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import PRIMS, Promotion
from tracegrad.ir.types import Shape, broadcast_shapes, format_shape
from tracegrad.ir.value import Value, const

Operand = Value | np.ndarray | np.generic | bool | int | float

_MAX_ELEMENTS = 2**62  # index math is int64; refuse shapes whose element count overflows

# Set by the tracer: returns "file:line" of the user's code for error messages.
location_hook: Callable[[], str | None] | None = None


def apply(op: Op, operands: Sequence[Value], **attrs: Any) -> Value:
    """Type-check ``op`` on ``operands`` through its table row and return the interned Value."""
    prim = PRIMS[op]
    result_type = prim.type_rule(tuple(v.type for v in operands), attrs)
    if result_type.is_concrete and math.prod(result_type.shape) > _MAX_ELEMENTS:  # type: ignore[arg-type]
        raise ShapeError(
            f"array is too big: shape {format_shape(result_type.shape)} has more than 2**62 "
            "elements"
        )
    loc = location_hook() if location_hook is not None else None
    return Value.make(op, result_type, tuple(operands), tuple(sorted(attrs.items())), loc)


def is_weak(x: object) -> bool:
    return isinstance(x, (bool, int, float)) and not isinstance(x, np.generic)


def to_value(x: Operand, dtype: DType | None = None) -> Value:
    """A Value for ``x``; arrays and scalars become constants (of ``dtype`` if given)."""
    if isinstance(x, Value):
        return x if dtype is None else cast(x, dtype)
    if isinstance(x, (list, tuple)):
        if _holds_value(x):
            return _stack_sequence(x, dtype)
        x = _array_from_sequence(x)
    if isinstance(x, np.ndarray) and x.dtype == object:
        raise DTypeError("tracegrad does not support object arrays")
    if is_weak(x):
        return _scalar_const(x, dtype)  # type: ignore[arg-type]
    data = np.asarray(x)
    kind = DType.from_numpy(data.dtype)
    return const(data.astype((dtype or kind).numpy, copy=False))


_SCALAR_CONSTS: dict[tuple, Value] = {}


def _scalar_const(x: bool | int | float, dtype: DType | None) -> Value:
    """Constants of Python scalars, memoized: tracing loops make the same ones repeatedly."""
    key = (type(x), x if type(x) is not float else struct.pack("<d", x), dtype)
    found = _SCALAR_CONSTS.get(key)
    if found is None:
        if len(_SCALAR_CONSTS) > 4096:
            _SCALAR_CONSTS.clear()
        # numpy raises OverflowError for a Python int out of the target's range (NEP 50)
        found = const(np.asarray(x, dtype=None if dtype is None else dtype.numpy))
        _SCALAR_CONSTS[key] = found
    return found


def _holds_value(seq: list | tuple) -> bool:
    return any(
        isinstance(s, Value) or (isinstance(s, (list, tuple)) and _holds_value(s)) for s in seq
    )


def _stack_sequence(seq: list | tuple, dtype: DType | None) -> Value:
    """``np.array(seq)`` for a nested sequence mixing Values and constants: the items as numpy
    builds them (Python scalars are float64/int64/bool, not weak), stacked along a new first
    axis; items of different shapes are ragged, as in numpy."""
    items = [
        _stack_sequence(s, None) if isinstance(s, (list, tuple)) and _holds_value(s)
        else s if isinstance(s, Value) else to_value(np.asarray(s))
        for s in seq
    ]  # fmt: skip
    shapes = {tuple(v.shape) for v in items}
    if len(shapes) != 1:
        raise DTypeError(f"cannot make an array from a ragged sequence: item shapes {shapes}")
    kind = dtype or result_dtype(*items)
    rows = [apply(Op.RESHAPE, [cast(v, kind)], shape=(1, *v.shape)) for v in items]
    return rows[0] if len(rows) == 1 else apply(Op.CONCATENATE, rows, axis=0)


def _array_from_sequence(seq: list | tuple) -> np.ndarray:
    try:
        return np.asarray(seq)
    except ValueError as error:
        raise DTypeError(f"cannot make an array from a ragged sequence: {error}") from None


def cast(x: Value, dtype: DType) -> Value:
    return x if x.dtype is dtype else apply(Op.CAST, [x], dtype=dtype)


def broadcast_to(x: Value, shape: Shape) -> Value:
    shape = tuple(shape)
    return x if x.shape == shape else apply(Op.BROADCAST, [x], shape=shape)


def result_dtype(*xs: Operand) -> DType:
    """NEP 50 promotion of strong and weak operands."""
    strong = [x.dtype if isinstance(x, Value) else _strong_dtype(x) for x in xs if not is_weak(x)]
    if strong:
        dtype = strong[0]
        for other in strong[1:]:
            dtype = promote(dtype, other)
        for weak in (x for x in xs if is_weak(x)):
            dtype = promote_weak(dtype, weak)
        return dtype
    arrays_and_scalars: Any = xs  # no Values here: numpy's stubs cannot know that
    return DType.from_numpy(np.result_type(*arrays_and_scalars))


def _strong_dtype(x: Any) -> DType:
    if isinstance(x, (list, tuple)):
        if _holds_value(x):
            return _stack_sequence(x, None).dtype
        x = _array_from_sequence(x)
    return DType.from_numpy(np.asarray(x).dtype)


def promote_operands(*xs: Operand, dtype: DType | None = None) -> list[Value]:
    """Cast to the common (or given) dtype and broadcast to the common shape."""
    dtype = dtype or result_dtype(*xs)
    values = [to_value(x, dtype) for x in xs]
    shape = broadcast_shapes(*(v.shape for v in values))
    return [broadcast_to(v, shape) for v in values]


# ---- elementwise -------------------------------------------------------------------------

# The promotion of unary/binary ops is the row's (``Prim.promotion``): NEP 50 first, then
# the kind's adjustment.


def unary(op: Op, x: Operand) -> Value:
    v = to_value(x)
    kind = PRIMS[op].promotion
    if kind is Promotion.FLOAT and not v.dtype.is_float:
        v = cast(v, float_loop(v.dtype))  # numpy: bool, int8 -> float16, ..., int64 -> float64
    elif kind is Promotion.TRUTH and not v.dtype.is_bool:
        v = ne(v, 0)
    elif kind is Promotion.BOOL_IDENTITY and v.dtype.is_bool:
        return v
    return apply(op, [v])


_COMPARE = {Op.EQ: operator.eq, Op.NE: operator.ne, Op.LT: operator.lt, Op.LE: operator.le,
            Op.GT: operator.gt, Op.GE: operator.ge}  # fmt: skip


def binary(op: Op, a: Operand, b: Operand) -> Value:
    if op in _COMPARE and (fixed := _compare_out_of_range(op, a, b)) is not None:
        return fixed
    dtype = result_dtype(a, b)
    kind = PRIMS[op].promotion
    if kind is Promotion.FLOAT and not dtype.is_float:
        dtype = float_loop(dtype)
    elif kind is Promotion.TRUE_DIVIDE and not dtype.is_float:
        dtype = DType.FLOAT64
    elif kind is Promotion.TRUTH:
        a, b = _as_bool(a), _as_bool(b)
        dtype = DType.BOOL
    elif kind is Promotion.NO_BOOL and dtype.is_bool:
        raise DTypeError(
            f"numpy boolean {PRIMS[op].numpy_names[0]} is not supported, use logical_xor"
        )
    elif kind is Promotion.BOOL_TO_INT and dtype.is_bool:
        dtype = DType.INT8
    x, y = promote_operands(a, b, dtype=dtype)
    return apply(op, [x, y])


def _compare_out_of_range(op: Op, a: Operand, b: Operand) -> Value | None:
    """numpy 2 compares an integer array with a Python int outside its dtype's range
    exactly (``uint8_array < 300`` is all True) instead of raising OverflowError: the
    answer is the same for every element, so it is a constant."""
    for weak, strong, flipped in ((b, a, False), (a, b, True)):
        if type(weak) is not int or is_weak(strong):
            continue
        strong_value = to_value(strong)
        if not strong_value.dtype.is_int:
            continue
        lo, hi = int_range(strong_value.dtype)
        if not lo <= weak <= hi:
            probe = lo if weak > hi else hi  # every element is on the probe's side
            x, y = (weak, probe) if flipped else (probe, weak)
            return full(strong_value.shape, _COMPARE[op](x, y), DType.BOOL)
    return None


def _as_bool(x: Operand) -> Operand:
    if isinstance(x, Value) and not x.dtype.is_bool:
        return ne(x, 0)
    return x if isinstance(x, Value) else np.asarray(x).astype(bool)


def where(cond: Operand, a: Operand, b: Operand) -> Value:
    c = _as_bool(cond)
    dtype = result_dtype(a, b)
    c_value = to_value(c)
    x, y = (to_value(a, dtype), to_value(b, dtype))
    shape = broadcast_shapes(c_value.shape, x.shape, y.shape)
    return apply(
        Op.WHERE, [broadcast_to(c_value, shape), broadcast_to(x, shape), broadcast_to(y, shape)]
    )


def neg(x: Operand) -> Value:
    return unary(Op.NEG, x)


def exp(x: Operand) -> Value:
    return unary(Op.EXP, x)


def log(x: Operand) -> Value:
    return unary(Op.LOG, x)


def sqrt(x: Operand) -> Value:
    return unary(Op.SQRT, x)


def add(a: Operand, b: Operand) -> Value:
    return binary(Op.ADD, a, b)


def sub(a: Operand, b: Operand) -> Value:
    return binary(Op.SUB, a, b)


def mul(a: Operand, b: Operand) -> Value:
    return binary(Op.MUL, a, b)


def div(a: Operand, b: Operand) -> Value:
    return binary(Op.DIV, a, b)


def pow(a: Operand, b: Operand) -> Value:  # noqa: A001
    return binary(Op.POW, a, b)


def maximum(a: Operand, b: Operand) -> Value:
    return binary(Op.MAXIMUM, a, b)


def minimum(a: Operand, b: Operand) -> Value:
    return binary(Op.MINIMUM, a, b)


def eq(a: Operand, b: Operand) -> Value:
    return binary(Op.EQ, a, b)


def ne(a: Operand, b: Operand) -> Value:
    return binary(Op.NE, a, b)


def lt(a: Operand, b: Operand) -> Value:
    return binary(Op.LT, a, b)


def gt(a: Operand, b: Operand) -> Value:
    return binary(Op.GT, a, b)


def zeros_like(x: Value, dtype: DType | None = None) -> Value:
    return full(x.shape, 0, dtype or x.dtype)


def ones_like(x: Value, dtype: DType | None = None) -> Value:
    return full(x.shape, 1, dtype or x.dtype)


def full(shape: Shape, fill: bool | int | float, dtype: DType) -> Value:
    """A broadcast scalar constant: cheap for any shape, symbolic dims included."""
    return broadcast_to(const(np.asarray(fill, dtype=dtype.numpy)), tuple(shape))
