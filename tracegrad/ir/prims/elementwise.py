"""Rows of the elementwise primitives. Operands have equal shapes (broadcasting is the
explicit BROADCAST op) and equal dtypes (promotion inserts CAST); the builder does both.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.errors import ShapeError
from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.prims.table import (
    ALL,
    FLOATS,
    NUMERIC,
    Lowering,
    Prim,
    register,
    require,
    require_dtype,
)
from tracegrad.ir.types import Dim, TensorType, format_shape, shapes_compatible


def merged_shape(op: Op, types: tuple[TensorType, ...]) -> tuple:
    """The common shape of elementwise operands (a concrete dim wins over a symbolic one)."""
    first = types[0].shape
    for t in types[1:]:
        if not shapes_compatible(first, t.shape):
            listed = ", ".join(format_shape(x.shape) for x in types)
            raise ShapeError(f"{op.value}: operand shapes differ: {listed}")
    return tuple(
        next((d for d in dims if not isinstance(d, Dim)), dims[0])
        for dims in zip(*(t.shape for t in types), strict=True)
    )


def _same_dtype(op: Op, types: tuple[TensorType, ...]) -> DType:
    dtypes = {t.dtype for t in types}
    require(
        len(dtypes) == 1, f"{op.value}: operand dtypes differ: {sorted(d.value for d in dtypes)}"
    )
    return types[0].dtype


def _unary(op: Op, allowed: tuple[DType, ...]):
    def rule(types: tuple[TensorType, ...], attrs: dict[str, Any]) -> TensorType:
        require_dtype(op, types[0], allowed)
        return types[0]

    return rule


def _binary(op: Op, allowed: tuple[DType, ...], result: DType | None = None):
    def rule(types: tuple[TensorType, ...], attrs: dict[str, Any]) -> TensorType:
        dtype = _same_dtype(op, types)
        require_dtype(op, types[0], allowed)
        return TensorType(result or dtype, merged_shape(op, types))

    return rule


def _cast_rule(types: tuple[TensorType, ...], attrs: dict[str, Any]) -> TensorType:
    return types[0].with_dtype(attrs["dtype"])


def _where_rule(types: tuple[TensorType, ...], attrs: dict[str, Any]) -> TensorType:
    require(types[0].dtype is DType.BOOL, "where: the condition must be bool")
    dtype = _same_dtype(Op.WHERE, types[1:])
    return TensorType(dtype, merged_shape(Op.WHERE, types))


def _floordiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.floor_divide(a, b)


def _cast(a: np.ndarray, *, dtype: DType) -> np.ndarray:
    return a.astype(dtype.numpy)


_UNARY_FLOAT = {
    Op.EXP: np.exp,
    Op.LOG: np.log,
    Op.LOG1P: np.log1p,
    Op.EXPM1: np.expm1,
    Op.SIN: np.sin,
    Op.COS: np.cos,
    Op.TAN: np.tan,
    Op.TANH: np.tanh,
    Op.SQRT: np.sqrt,
}
for _op, _fn in _UNARY_FLOAT.items():
    register(Prim(_op, _unary(_op, FLOATS), _fn, Lowering.ELEMENTWISE))

register(Prim(Op.NEG, _unary(Op.NEG, NUMERIC), np.negative, Lowering.ELEMENTWISE, infix="-"))
register(Prim(Op.ABS, _unary(Op.ABS, NUMERIC), np.abs, Lowering.ELEMENTWISE))
register(Prim(Op.SIGN, _unary(Op.SIGN, NUMERIC), np.sign, Lowering.ELEMENTWISE))
register(Prim(Op.FLOOR, _unary(Op.FLOOR, NUMERIC), np.floor, Lowering.ELEMENTWISE))
register(
    Prim(
        Op.LOGICAL_NOT,
        _unary(Op.LOGICAL_NOT, (DType.BOOL,)),
        np.logical_not,
        Lowering.ELEMENTWISE,
        infix="~",
    )
)
register(Prim(Op.CAST, _cast_rule, _cast, Lowering.ELEMENTWISE))

_BINARY: list[tuple[Op, Any, tuple[DType, ...], DType | None, str | None]] = [
    (Op.ADD, np.add, ALL, None, "+"),
    (Op.SUB, np.subtract, NUMERIC, None, "-"),
    (Op.MUL, np.multiply, ALL, None, "*"),
    (Op.DIV, np.true_divide, FLOATS, None, "/"),
    (Op.FLOORDIV, _floordiv, NUMERIC, None, "//"),
    (Op.MOD, np.remainder, NUMERIC, None, "%"),
    (Op.POW, np.power, NUMERIC, None, "**"),
    (Op.MAXIMUM, np.maximum, ALL, None, None),
    (Op.MINIMUM, np.minimum, ALL, None, None),
    (Op.EQ, np.equal, ALL, DType.BOOL, "=="),
    (Op.NE, np.not_equal, ALL, DType.BOOL, "!="),
    (Op.LT, np.less, ALL, DType.BOOL, "<"),
    (Op.LE, np.less_equal, ALL, DType.BOOL, "<="),
    (Op.GT, np.greater, ALL, DType.BOOL, ">"),
    (Op.GE, np.greater_equal, ALL, DType.BOOL, ">="),
    (Op.LOGICAL_AND, np.logical_and, (DType.BOOL,), None, "&"),
    (Op.LOGICAL_OR, np.logical_or, (DType.BOOL,), None, "|"),
]
for _op, _fn, _allowed, _result, _infix in _BINARY:
    register(Prim(_op, _binary(_op, _allowed, _result), _fn, Lowering.ELEMENTWISE, infix=_infix))

register(Prim(Op.WHERE, _where_rule, np.where, Lowering.ELEMENTWISE))
