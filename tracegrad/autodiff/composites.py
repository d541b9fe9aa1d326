"""VJPs of recognized multi-op composites: the stable forms the stabilizer builds.

The forward graph is stabilized before differentiation, so ``sigmoid``, ``softplus`` and
``log_sigmoid`` reach the reverse pass as where/exp/log1p compositions. Differentiated op by
op they give correct but bloated gradients (the logistic: ten ops, three divisions, four
selects); as a whole each has a short, equally stable derivative. A composite is matched at
its root; the walk then sends the root's cotangent straight to the composite's input and
skips the interior (interior values used elsewhere still get their own cotangents).

Every rule here is checked against finite differences and the op-by-op gradient
(tests/test_autodiff_composites.py).

>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.value import param
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> from tracegrad.ir.rules.common import sigmoid
>>> x = param(0, TensorType(DType.FLOAT64, (3,)), "x")
>>> [(target is x, ct.op.value) for target, ct in composite_vjp(sigmoid(x), b.to_value(1.0))]
[(True, 'mul')]
"""

from __future__ import annotations

from collections.abc import Callable

from tracegrad.ir import build as b
from tracegrad.ir.ops import Op
from tracegrad.ir.rules import common as k
from tracegrad.ir.rules.stabilize import sigmoid_arg, stable_sigmoid_arg
from tracegrad.ir.value import Value

Composite = Callable[[Value, Value], list[tuple[Value, Value]] | None]


def _sigmoid(v: Value, ct: Value) -> list[tuple[Value, Value]] | None:
    """d sigmoid(x) = z / (1 + z)**2 with z = exp(-|x|): sigmoid(x) * sigmoid(-x).

    Every spelling ``sigmoid_arg`` knows: graphs differentiated as written (``T.grad``, no
    stabilization first) reach here as 1 / (1 + exp(-x)), whose op-by-op gradient is
    -0 * -inf = NaN at x = -800."""
    x = sigmoid_arg(v)
    if x is None:
        return None
    num, den = v.operands
    if v.op is Op.DIV and stable_sigmoid_arg(num, den) is not None:
        z = den.operands[1]  # the stable form: its own exp(-|x|) and 1 + z
    else:
        z = b.exp(k.neg_abs(x))
        den = b.add(1.0, z)
    return [(x, b.mul(ct, b.div(z, b.mul(den, den))))]


def _relu_part(w: Value, x_first: bool) -> Value | None:
    """x when w is where(x >= 0, x, 0) or maximum(x, 0) (x_first; tnp.softplus's spelling),
    or where(x >= 0, 0, x) or minimum(x, 0)."""
    if w.op is (Op.MAXIMUM if x_first else Op.MINIMUM):
        for x, zero in (w.operands, w.operands[::-1]):
            if k.is_splat(zero, 0) and not k.is_splat(x, 0):
                return x
        return None
    if w.op is not Op.WHERE or w.operands[0].op is not Op.GE:
        return None
    cond, on_true, on_false = w.operands
    x = cond.operands[0]
    if not k.is_splat(cond.operands[1], 0):
        return None
    keep, zero = (on_true, on_false) if x_first else (on_false, on_true)
    return x if keep is x and k.is_splat(zero, 0) else None


def _log1p_exp_neg_abs(t: Value, x: Value) -> bool:
    """t is log1p(exp(-|x|)), -|x| as the stabilizer writes it or as neg(abs(x))."""
    if t.op is not Op.LOG1P or t.operands[0].op is not Op.EXP:
        return False
    u = t.operands[0].operands[0]
    if u.op is Op.NEG and u.operands[0].op is Op.ABS:
        return u.operands[0].operands[0] is x
    return k.is_neg_abs(u, x) is not None


def _softplus_like(v: Value, op: Op, x_first: bool) -> Value | None:
    """x when v is op(where(x >= 0, x, 0) or where(x >= 0, 0, x), log1p(exp(-|x|)))."""
    if v.op is not op:
        return None
    x = _relu_part(v.operands[0], x_first)
    return x if x is not None and _log1p_exp_neg_abs(v.operands[1], x) else None


def _softplus(v: Value, ct: Value) -> list[tuple[Value, Value]] | None:
    """d softplus(x) = sigmoid(x) for where(x >= 0, x, 0) + log1p(exp(-|x|))."""
    x = _softplus_like(v, Op.ADD, x_first=True)
    return None if x is None else [(x, b.mul(ct, k.sigmoid(x)))]


def _log_sigmoid(v: Value, ct: Value) -> list[tuple[Value, Value]] | None:
    """d log_sigmoid(x) = sigmoid(-x) for where(x >= 0, 0, x) - log1p(exp(-|x|))."""
    x = _softplus_like(v, Op.SUB, x_first=False)
    if x is None:
        return None
    z = v.operands[1].operands[0]  # exp(-|x|), shared with the forward graph
    sig_neg = b.div(b.where(b.binary(Op.GE, x, 0.0), z, 1.0), b.add(1.0, z))
    return [(x, b.mul(ct, sig_neg))]


COMPOSITES: tuple[Composite, ...] = (_sigmoid, _softplus, _log_sigmoid)


def composite_vjp(v: Value, ct: Value) -> list[tuple[Value, Value]] | None:
    """(input, cotangent) pairs when ``v`` roots a known composite (float only), else None."""
    if not v.dtype.is_float or v.op not in (Op.DIV, Op.POW, Op.ADD, Op.SUB):
        return None
    for rule in COMPOSITES:
        found = rule(v, ct)
        if found is not None:
            return found
    return None
