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
    NONDIFF,
    NUMERIC,
    Lowering,
    Prim,
    lazy_build,
    register,
    require,
    require_dtype,
    set_vjp,
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


# ---- VJP rules: vjp(ct, out, attrs) -> one cotangent (or None) per operand ------------------
# Rules build ordinary IR (so gradients can be printed, optimized and differentiated again).
# ``build`` imports this table, so it is imported lazily. Gradient conventions (documented in
# docs/autodiff.md): abs'(0) = 0, maximum/minimum ties give 0.5 to each side, sqrt'(0) = inf,
# d/dx x**0 = 0 and d/dy x**y = 0 at x = 0, and masks are selects, never products with a mask.


_b = lazy_build


def _vjp_neg(ct: Any, out: Any, attrs: dict) -> tuple:
    return (_b().neg(ct),)


def _vjp_exp(ct: Any, out: Any, attrs: dict) -> tuple:
    return (_b().mul(ct, out),)


def _vjp_log(ct: Any, out: Any, attrs: dict) -> tuple:
    return (_b().div(ct, out.operands[0]),)


def _vjp_log1p(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    return (b.div(ct, b.add(out.operands[0], 1.0)),)


def _vjp_expm1(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    return (b.mul(ct, b.add(out, 1.0)),)


def _vjp_sin(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    return (b.mul(ct, b.unary(Op.COS, out.operands[0])),)


def _vjp_cos(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    return (b.neg(b.mul(ct, b.unary(Op.SIN, out.operands[0]))),)


def _vjp_tan(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    return (b.mul(ct, b.add(b.mul(out, out), 1.0)),)


def _vjp_tanh(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    return (b.mul(ct, b.sub(1.0, b.mul(out, out))),)


def _vjp_sqrt(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()  # sqrt'(0) = +inf, as calculus says; where-masks keep it out of gradients
    return (b.div(ct, b.mul(out, 2.0)),)


def _vjp_abs(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()  # sign(0) = 0: abs'(0) = 0, which agrees with a central difference
    return (b.mul(ct, b.unary(Op.SIGN, out.operands[0])),)


def _vjp_cast(ct: Any, out: Any, attrs: dict) -> tuple:
    x = out.operands[0]
    return (_b().cast(ct, x.dtype) if x.dtype.is_float else None,)


def _vjp_add(ct: Any, out: Any, attrs: dict) -> tuple:
    return (ct, ct)


def _vjp_sub(ct: Any, out: Any, attrs: dict) -> tuple:
    return (ct, _b().neg(ct))


def _vjp_mul(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    x, y = out.operands
    return (b.mul(ct, y), b.mul(ct, x))


def _vjp_div(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    _, y = out.operands
    return (b.div(ct, y), b.neg(b.div(b.mul(ct, out), y)))


def _vjp_mod(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()  # x mod y = x - floor(x / y) * y (numpy's sign convention)
    x, y = out.operands
    return (ct, b.neg(b.mul(ct, b.unary(Op.FLOOR, b.div(x, y)))))


def _vjp_pow(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    x, y = out.operands
    x_zero = b.eq(x, 0.0)
    # d/dx = y * x**(y-1), but exactly 0 at x == y == 0 (x**0 is constant; 0 * inf there).
    # Only that point is selected, so d/dy of this rule stays right at y == 0 for x != 0.
    dx = b.mul(ct, b.mul(y, b.pow(x, b.sub(y, 1.0))))
    dx = b.where(b.binary(Op.LOGICAL_AND, x_zero, b.eq(y, 0.0)), 0.0, dx)
    # d/dy = log(x) * x**y, taken as 0 at x == 0 (JAX's convention; avoids 0 * -inf)
    dy = b.where(x_zero, 0.0, b.mul(ct, b.mul(b.log(x), out)))
    return (dx, dy)


def _chooser_vjp(strict: Op) -> Any:
    """maximum/minimum: the winner gets ct, ties give ct/2 to each side (JAX's choice)."""

    def rule(ct: Any, out: Any, attrs: dict) -> tuple:
        b = _b()
        x, y = out.operands
        half = b.where(b.eq(x, y), b.mul(ct, 0.5), 0.0)
        return (
            b.where(b.binary(strict, x, y), ct, half),
            b.where(b.binary(strict, y, x), ct, half),
        )

    return rule


def _vjp_where(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()  # selects, never ct * mask: the untaken branch gets an exact 0 even if it is inf
    cond = out.operands[0]
    return (None, b.where(cond, ct, 0.0), b.where(cond, 0.0, ct))


_VJPS: dict[Op, Any] = {
    Op.NEG: _vjp_neg, Op.EXP: _vjp_exp, Op.LOG: _vjp_log, Op.LOG1P: _vjp_log1p,
    Op.EXPM1: _vjp_expm1, Op.SIN: _vjp_sin, Op.COS: _vjp_cos, Op.TAN: _vjp_tan,
    Op.TANH: _vjp_tanh, Op.SQRT: _vjp_sqrt, Op.ABS: _vjp_abs, Op.CAST: _vjp_cast,
    Op.ADD: _vjp_add, Op.SUB: _vjp_sub, Op.MUL: _vjp_mul, Op.DIV: _vjp_div, Op.MOD: _vjp_mod,
    Op.POW: _vjp_pow, Op.MAXIMUM: _chooser_vjp(Op.GT), Op.MINIMUM: _chooser_vjp(Op.LT),
    Op.WHERE: _vjp_where,
    # piecewise constant or boolean: no gradient
    Op.SIGN: NONDIFF, Op.FLOOR: NONDIFF, Op.FLOORDIV: NONDIFF, Op.LOGICAL_NOT: NONDIFF,
    Op.EQ: NONDIFF, Op.NE: NONDIFF, Op.LT: NONDIFF, Op.LE: NONDIFF, Op.GT: NONDIFF,
    Op.GE: NONDIFF, Op.LOGICAL_AND: NONDIFF, Op.LOGICAL_OR: NONDIFF,
}  # fmt: skip
for _op, _rule in _VJPS.items():
    set_vjp(_op, _rule)
