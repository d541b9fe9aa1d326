"""Rows of the elementwise primitives. Operands have equal shapes (broadcasting is the
explicit BROADCAST op) and equal dtypes (promotion inserts CAST); the builder does both.

Adding an elementwise primitive is one ``_row`` call here (with its VJP rule in
``elementwise_vjp`` and, for a math function, its routine in ``tracegrad/llvm/mathlib/``)
plus a test entry in ``tracegrad/testing/prim_cases.py``; see docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import ShapeError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import elementwise_vjp as vj
from tracegrad.ir.prims.table import (
    ALL,
    FLOATS,
    NONDIFF,
    NUMERIC,
    Emitter,
    Lowering,
    MathRoutine,
    Prim,
    Promotion,
    Scalar,
    TypeRule,
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


@dataclass(frozen=True)
class _Typed:
    """A type rule with its operand count (what ``_row`` registers)."""

    rule: TypeRule
    arity: int


def _unary(op: Op, allowed: tuple[DType, ...]) -> _Typed:
    def rule(types: tuple[TensorType, ...], attrs: dict[str, Any]) -> TensorType:
        require_dtype(op, types[0], allowed)
        return types[0]

    return _Typed(rule, 1)


def _binary(op: Op, allowed: tuple[DType, ...], result: DType | None = None) -> _Typed:
    def rule(types: tuple[TensorType, ...], attrs: dict[str, Any]) -> TensorType:
        dtype = _same_dtype(op, types)
        require_dtype(op, types[0], allowed)
        return TensorType(result or dtype, merged_shape(op, types))

    return _Typed(rule, 2)


def _cast_rule(types: tuple[TensorType, ...], attrs: dict[str, Any]) -> TensorType:
    return types[0].with_dtype(attrs["dtype"])


def _where_rule(types: tuple[TensorType, ...], attrs: dict[str, Any]) -> TensorType:
    require(types[0].dtype is DType.BOOL, "where: the condition must be bool")
    dtype = _same_dtype(Op.WHERE, types[1:])
    return TensorType(dtype, merged_shape(Op.WHERE, types))


def _floordiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.floor_divide(a, b)


def _fmod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):  # numpy warns, then gives 0 / NaN
        return np.fmod(a, b)


def _cast(a: np.ndarray, *, dtype: DType) -> np.ndarray:
    return a.astype(dtype.numpy)


def _row(
    op: Op,
    typed: _Typed,
    impl: Any,
    vjp: Any,
    promotion: Promotion,
    scalar: Scalar,
    names: tuple[str, ...] = (),
    doc: str = "",
    infix: str | None = None,
) -> None:
    """Register an elementwise row."""
    register(
        Prim(op, typed.arity, typed.rule, impl, Lowering.ELEMENTWISE, vjp, promotion=promotion,
             scalar=scalar, infix=infix, numpy_names=names, doc=doc)
    )  # fmt: skip


def _math(name: str, ulp_f64: float = 2.5) -> Scalar:
    return Scalar(Emitter.MATH, routine=MathRoutine(name, ulp_f64))


_F, _S = Promotion.FLOAT, Promotion.SAME
_EXP_DOC = "Elementwise e**x.\n\n>>> import tracegrad.numpy as tnp\n>>> float(tnp.exp(0.0))\n1.0"

# ---- unary ----------------------------------------------------------------------------------
# fmt: off
_row(Op.EXP, _unary(Op.EXP, FLOATS), np.exp, vj.vjp_exp, _F, _math("exp", 1.0), ("exp",), _EXP_DOC)
_row(Op.LOG, _unary(Op.LOG, FLOATS), np.log, vj.vjp_log, _F, _math("log", 1.0), ("log",),
     "Natural logarithm.")
_row(Op.LOG1P, _unary(Op.LOG1P, FLOATS), np.log1p, vj.vjp_log1p, _F, _math("log1p"), ("log1p",),
     "log(1 + x), accurate near 0.")
_row(Op.EXPM1, _unary(Op.EXPM1, FLOATS), np.expm1, vj.vjp_expm1, _F, _math("expm1"), ("expm1",),
     "exp(x) - 1, accurate near 0.")
_row(Op.SIN, _unary(Op.SIN, FLOATS), np.sin, vj.vjp_sin, _F, _math("sin"), ("sin",), "Sine.")
_row(Op.COS, _unary(Op.COS, FLOATS), np.cos, vj.vjp_cos, _F, _math("cos"), ("cos",), "Cosine.")
_row(Op.TAN, _unary(Op.TAN, FLOATS), np.tan, vj.vjp_tan, _F, _math("tan"), ("tan",), "Tangent.")
_row(Op.TANH, _unary(Op.TANH, FLOATS), np.tanh, vj.vjp_tanh, _F, _math("tanh"), ("tanh",),
     "Hyperbolic tangent.")
_row(Op.ATAN, _unary(Op.ATAN, FLOATS), np.arctan, vj.vjp_atan, _F, _math("atan", 1.0),
     ("arctan",), "Elementwise arc tangent.")
_row(Op.SQRT, _unary(Op.SQRT, FLOATS), np.sqrt, vj.vjp_sqrt, _F, Scalar(Emitter.SQRT), ("sqrt",),
     "Square root.")
_row(Op.NEG, _unary(Op.NEG, NUMERIC), np.negative, vj.vjp_neg, _S, Scalar(Emitter.NEG),
     ("negative",), "Elementwise -x.", infix="-")
_row(Op.ABS, _unary(Op.ABS, NUMERIC), np.abs, vj.vjp_abs, Promotion.BOOL_IDENTITY,
     Scalar(Emitter.ABS), ("abs", "absolute"), "Absolute value.")
_row(Op.SIGN, _unary(Op.SIGN, NUMERIC), np.sign, NONDIFF, _S, Scalar(Emitter.SIGN), ("sign",),
     "Sign (-1, 0, 1; NaN stays NaN).")
_row(Op.FLOOR, _unary(Op.FLOOR, NUMERIC), np.floor, NONDIFF, Promotion.BOOL_IDENTITY,
     Scalar(Emitter.FLOOR), ("floor",), "Round down.")
_row(Op.TRUNC, _unary(Op.TRUNC, NUMERIC), np.trunc, NONDIFF, Promotion.BOOL_IDENTITY,
     Scalar(Emitter.INTRINSIC, ("trunc",)), ("trunc",), "Round toward zero.")
_row(Op.RINT, _unary(Op.RINT, FLOATS), np.rint, NONDIFF, _F, Scalar(Emitter.INTRINSIC, ("rint",)),
     ("rint",), "Round to the nearest integer, halves to even.")
_row(Op.LOGICAL_NOT, _unary(Op.LOGICAL_NOT, (DType.BOOL,)), np.logical_not, NONDIFF,
     Promotion.TRUTH, Scalar(Emitter.NOT), ("logical_not",), "Elementwise not.", infix="~")
register(
    Prim(Op.CAST, 1, _cast_rule, _cast, Lowering.ELEMENTWISE, vj.vjp_cast, attrs=("dtype",),
         scalar=Scalar(Emitter.CAST))
)

# ---- binary ---------------------------------------------------------------------------------
_row(Op.ADD, _binary(Op.ADD, ALL), np.add, vj.vjp_add, _S,
     Scalar(Emitter.ARITH, ("fadd", "add", "or")), ("add",), "Elementwise x + y.", "+")
_row(Op.SUB, _binary(Op.SUB, NUMERIC), np.subtract, vj.vjp_sub, Promotion.NO_BOOL,
     Scalar(Emitter.ARITH, ("fsub", "sub", "xor")), ("subtract",), "Elementwise x - y.", "-")
_row(Op.MUL, _binary(Op.MUL, ALL), np.multiply, vj.vjp_mul, _S,
     Scalar(Emitter.ARITH, ("fmul", "mul", "and")), ("multiply",), "Elementwise x * y.", "*")
_row(Op.DIV, _binary(Op.DIV, FLOATS), np.true_divide, vj.vjp_div, Promotion.TRUE_DIVIDE,
     Scalar(Emitter.DIV),
     ("divide", "true_divide"), "Elementwise true division x / y.", "/")
_row(Op.FLOORDIV, _binary(Op.FLOORDIV, NUMERIC), _floordiv, NONDIFF, Promotion.BOOL_TO_INT,
     Scalar(Emitter.DIVMOD), ("floor_divide",), "x // y with numpy's rounding.", "//")
_row(Op.MOD, _binary(Op.MOD, NUMERIC), np.remainder, vj.vjp_mod, Promotion.BOOL_TO_INT,
     Scalar(Emitter.DIVMOD), ("remainder", "mod"), "x % y with the sign of y (numpy's).", "%")
_row(Op.POW, _binary(Op.POW, NUMERIC), np.power, vj.vjp_pow, Promotion.BOOL_TO_INT,
     _math("pow"), ("power",), "x ** y.", "**")
_row(Op.ATAN2, _binary(Op.ATAN2, FLOATS), np.arctan2, vj.vjp_atan2, _F, _math("atan2", 1.0),
     ("arctan2",), "Elementwise arc tangent of y/x in the quadrant of (x, y).")
_row(Op.COPYSIGN, _binary(Op.COPYSIGN, FLOATS), np.copysign, vj.vjp_copysign, _F,
     Scalar(Emitter.INTRINSIC, ("copysign",)), ("copysign",), "|x| with the sign bit of y.")
_row(Op.FMOD, _binary(Op.FMOD, NUMERIC), _fmod, vj.vjp_fmod, Promotion.BOOL_TO_INT,
     Scalar(Emitter.FMOD), ("fmod",), "C's remainder: x - trunc(x / y) * y, the sign of x.")
_row(Op.MAXIMUM, _binary(Op.MAXIMUM, ALL), np.maximum, vj.vjp_maximum, _S, Scalar(Emitter.MINMAX),
     ("maximum",), "Elementwise maximum; NaN propagates.")
_row(Op.MINIMUM, _binary(Op.MINIMUM, ALL), np.minimum, vj.vjp_minimum, _S, Scalar(Emitter.MINMAX),
     ("minimum",), "Elementwise minimum; NaN propagates.")
for _op, _fn, _name, _infix in [
    (Op.EQ, np.equal, "equal", "=="), (Op.NE, np.not_equal, "not_equal", "!="),
    (Op.LT, np.less, "less", "<"), (Op.LE, np.less_equal, "less_equal", "<="),
    (Op.GT, np.greater, "greater", ">"), (Op.GE, np.greater_equal, "greater_equal", ">="),
]:
    _row(_op, _binary(_op, ALL, DType.BOOL), _fn, NONDIFF, _S, Scalar(Emitter.COMPARE), (_name,),
         f"x {_infix} y.", _infix)
_row(Op.LOGICAL_AND, _binary(Op.LOGICAL_AND, (DType.BOOL,)), np.logical_and, NONDIFF,
     Promotion.TRUTH, Scalar(Emitter.LOGICAL), ("logical_and",),
     "Elementwise and (of truth values).", "&")
_row(Op.LOGICAL_OR, _binary(Op.LOGICAL_OR, (DType.BOOL,)), np.logical_or, NONDIFF,
     Promotion.TRUTH, Scalar(Emitter.LOGICAL), ("logical_or",),
     "Elementwise or (of truth values).", "|")

# ---- ternary: build.where promotes its branches itself ---------------------------------------
_row(Op.WHERE, _Typed(_where_rule, 3), np.where, vj.vjp_where, Promotion.NONE,
     Scalar(Emitter.WHERE))
# fmt: on
