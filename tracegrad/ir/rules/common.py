"""Predicates and small builders shared by the rule sets."""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.ops import Op
from tracegrad.ir.rewrite import splat, strip_movement
from tracegrad.ir.value import Value

INF = float("inf")


def is_const(v: Value) -> bool:
    """A constant, possibly broadcast or reshaped."""
    return strip_movement(v).op is Op.CONST


def not_const(v: Value) -> bool:
    return not is_const(v)


def is_float(v: Value) -> bool:
    return v.dtype.is_float


def is_int(v: Value) -> bool:
    return not v.dtype.is_float and not v.dtype.is_bool


def is_neg_zero(s: Any) -> bool:
    """-0.0 for floats (adding it is the identity), 0 for integers."""
    if isinstance(s, np.floating):
        return bool(s == 0) and bool(np.signbit(s))
    return isinstance(s, np.integer) and int(s) == 0


def is_pow2(s: Any) -> bool:
    """A finite float +-2**k (k may be negative)."""
    if not isinstance(s, np.floating) or not np.isfinite(s) or s == 0:
        return False
    return abs(float(np.frexp(s)[0])) == 0.5


def is_pow2_at_least_one(s: Any) -> bool:
    return is_pow2(s) and abs(float(s)) >= 1.0


def full_like(root: Value, fill: Any) -> Value:
    """``fill`` in ``root``'s dtype, broadcast to its shape (a scalar stays a scalar)."""
    scalar: Any = np.asarray(fill).astype(root.dtype.numpy)[()]  # a numpy scalar of dtype
    return b.full(root.shape, scalar, root.dtype)


def scalar(v: Value) -> Any:
    s = splat(v)
    assert s is not None, "captured value is not a uniform constant"
    return s


def negated(v: Value) -> Value | None:
    """``y`` when ``v`` is ``-y`` in a form a user writes: neg(y), -1*y, 0-y (used only by
    value-changing rules, so 0-y, which differs from -y at y=0 in the sign, is fine)."""
    if v.op is Op.NEG:
        return v.operands[0]
    if v.op is Op.MUL:
        for c, y in (v.operands, v.operands[::-1]):
            s = splat(c)
            if s is not None and s == -1:
                return y
    if v.op is Op.SUB:
        s = splat(v.operands[0])
        if s is not None and s == 0:
            return v.operands[1]
    return None


def negate(v: Value) -> Value:
    """-v, cancelling a negation instead of stacking one."""
    return v.operands[0] if v.op is Op.NEG else b.neg(v)


def is_splat(v: Value, value: float) -> bool:
    s = splat(v)
    return s is not None and bool(s == value)


def keep_shape(shape: tuple, axes: tuple[int, ...]) -> tuple:
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def safe_max(y: Value, axes: tuple[int, ...]) -> Value:
    """max of y over axes, replaced by 0 where it is not finite (so y - max is never
    inf - inf); reduced shape."""
    m = b.apply(Op.REDUCE_MAX, [y], axes=axes)
    return b.where(b.lt(b.unary(Op.ABS, m), INF), m, 0.0)


def is_max_shifted(y: Value, axes: tuple[int, ...]) -> bool:
    """y is x - max(x) over axes (any form with a REDUCE_MAX of x behind the subtrahend)."""
    if y.op is not Op.SUB:
        return False
    x, shift = y.operands[0], strip_movement(y.operands[1])
    if shift.op is Op.WHERE:
        shift = strip_movement(shift.operands[1])
    return shift.op is Op.REDUCE_MAX and shift.operands[0] is x and shift.attr("axes") == axes


def logsumexp(y: Value, axes: tuple[int, ...]) -> Value:
    """log(sum(exp(y), axes)) shifted by a safe max, with a double-where log so an all -inf
    slice gives -inf with a finite (zero) gradient and NaN stays NaN."""
    shift = None if is_max_shifted(y, axes) else safe_max(y, axes)
    t = y if shift is None else b.sub(y, bs.reshape(shift, keep_shape(y.shape, axes)))
    total = b.apply(Op.REDUCE_SUM, [b.exp(t)], axes=axes)
    empty = b.eq(total, 0.0)
    logged = b.where(empty, -INF, b.log(b.where(empty, 1.0, total)))
    return logged if shift is None else b.add(logged, shift)


def neg_abs(x: Value) -> Value:
    """-|x| spelled where(x >= 0, -x, x): the same value, but its derivative is -1 at x = 0
    (the x >= 0 branch), where abs's sign(0) = 0 would zero the gradient of every stable form
    at the origin."""
    return b.where(b.binary(Op.GE, x, 0.0), negate(x), x)


def is_neg_abs(t: Value, x: Value | None = None) -> Value | None:
    """y when t is neg_abs(y) (and y is x, if given)."""
    if t.op is not Op.WHERE or t.operands[0].op is not Op.GE:
        return None
    y = t.operands[2]
    cond = t.operands[0]
    if cond.operands[0] is not y or not is_splat(cond.operands[1], 0):
        return None
    if negated(t.operands[1]) is not y and negated(y) is not t.operands[1]:
        return None
    return y if x is None or x is y else None


def softplus(x: Value) -> Value:
    """log(1 + exp(x)) = where(x >= 0, x, 0) + log1p(exp(-|x|)): never overflows."""
    return b.add(b.where(b.binary(Op.GE, x, 0.0), x, 0.0), b.unary(Op.LOG1P, b.exp(neg_abs(x))))


def log_sigmoid(x: Value) -> Value:
    """log(sigmoid(x)) = -softplus(-x) = where(x >= 0, 0, x) - log1p(exp(-|x|))."""
    return b.sub(b.where(b.binary(Op.GE, x, 0.0), 0.0, x), b.unary(Op.LOG1P, b.exp(neg_abs(x))))


def sigmoid(x: Value) -> Value:
    """The stable logistic: with z = exp(-|x|) in (0, 1], where(x >= 0, 1, z) / (1 + z).
    Both branches are finite for every x, so its gradient has no inf*0 (no where trap)."""
    z = b.exp(neg_abs(x))
    return b.div(b.where(b.binary(Op.GE, x, 0.0), 1.0, z), b.add(1.0, z))
