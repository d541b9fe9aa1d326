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

import math
from collections.abc import Callable

from tracegrad.ir import build as b
from tracegrad.ir.ops import Op
from tracegrad.ir.rewrite import splat
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


# ---- logaddexp, logaddexp2 and hypot: exact values with kinks, smooth derivatives ---------
# tracegrad.numpy computes numpy's exact value, whose formula has kinks at ties (max, min,
# |x - y|) where the function itself is smooth. Their rules give the smooth function's
# derivatives; built from rows and the root itself, the derivative graph is differentiable
# again, so every order is the smooth function's. Only the derivative graph pays for them.


def _pair(v: Value, op: Op) -> tuple[Value, Value] | None:
    return (v.operands[0], v.operands[1]) if v.op is op else None


def _either(v: Value, op: Op, first: Callable[[Value], bool]) -> Value | None:
    """The other operand of commutative ``v`` (of ``op``) when one operand passes ``first``."""
    pair = _pair(v, op)
    if pair is None:
        return None
    a, c = pair
    return c if first(a) else a if first(c) else None


def _splat_near(v: Value, value: float) -> bool:
    s = splat(v)
    return s is not None and abs(float(s) - value) <= 1e-6 * abs(value)


def _log_add_parts(v: Value) -> tuple[Value, Value, Value, float] | None:
    """(x, y, max(x, y), log of the base) when ``v`` is tracegrad.numpy's logaddexp(2):
    where(x == y, max + tie, max + tail(-|where(x == y, 0, x - y)|))."""
    if v.op is not Op.WHERE or v.operands[0].op is not Op.EQ:
        return None
    cond, on_tie, apart = v.operands
    x, y = cond.operands
    maxima = [o for o in on_tie.operands if o.op is Op.MAXIMUM] if on_tie.op is Op.ADD else []
    m = maxima[0] if maxima else None
    if m is None or {id(o) for o in m.operands} != {id(x), id(y)}:
        return None
    tie = _either(on_tie, Op.ADD, lambda o: o is m)
    tail = _either(apart, Op.ADD, lambda o: o is m)
    if tie is None or tail is None:
        return None
    if _splat_near(tie, _LN2) and tail.op is Op.LOG1P and tail.operands[0].op is Op.EXP:
        u, log_base = tail.operands[0].operands[0], 1.0
    elif _splat_near(tie, 1.0) and (log1p := _either(tail, Op.MUL, _is_log2e)) is not None:
        power = _pair(log1p.operands[0], Op.POW) if log1p.op is Op.LOG1P else None
        if power is None or not k.is_splat(power[0], 2.0):
            return None
        u, log_base = power[1], _LN2
    else:
        return None
    neg_abs = u.op is Op.NEG and u.operands[0].op is Op.ABS
    gap = u.operands[0].operands[0] if neg_abs else k.is_neg_abs(u)
    if gap is None or gap.op is not Op.WHERE or gap.operands[0] is not cond:
        return None
    if not k.is_splat(gap.operands[1], 0.0) or not _is_difference(gap.operands[2], x, y):
        return None
    return x, y, m, log_base


def _is_difference(d: Value, x: Value, y: Value) -> bool:
    """d is x - y or y - x (its absolute value is used), also as x + (-c) for a constant y."""
    if d.op is Op.SUB:
        return {id(o) for o in d.operands} == {id(x), id(y)}
    for var, const in ((x, y), (y, x)):
        c, other = splat(const), _either(d, Op.ADD, lambda o, v=var: o is v)
        if c is not None and other is not None and splat(other) == -c:
            return True
    return False


def _is_log2e(o: Value) -> bool:
    return _splat_near(o, 1.0 / _LN2)


def _log_add(v: Value, ct: Value) -> list[tuple[Value, Value]] | None:
    """d logaddexp(x, y)/dx = b**(x - m) / (b**(x - m) + b**(y - m)) for any m (the max,
    held); 0 where the result is not finite (an infinite or NaN operand)."""
    parts = _log_add_parts(v)
    if parts is None:
        return None
    x, y, m, log_base = parts
    # the value is finite exactly where max(x, y) is (NaN propagates through both): asking
    # m, not v, spares a gradient-only graph the value's exp and log1p
    finite = b.lt(b.unary(Op.ABS, m), _INF)
    held = b.apply(Op.STOP_GRADIENT, [m])
    ex, ey = (b.exp(b.mul(b.where(finite, b.sub(o, held), 0.0), log_base)) for o in (x, y))
    total = b.add(ex, ey)  # >= 1: one of the two is b**0
    return [(o, b.where(finite, b.mul(ct, b.div(e, total)), 0.0)) for o, e in ((x, ex), (y, ey))]


def _hypot_operands(v: Value) -> list[Value] | None:
    """The operands x, y (those not folded to constants) when ``v`` is the finite part of
    tracegrad.numpy's hypot, where(m == 0, 0, m' sqrt(1 + r * r)) with r = n / m',
    m' = where(m == 0, 1, m) and m, n = max, min of |x|, |y|. (Its infinite part, a select
    around it, is differentiated as a select: the optimizer removes it when neither
    operand can be infinite.)"""
    if v.op is not Op.WHERE or not k.is_splat(v.operands[1], 0.0):
        return None
    zero, scaled = v.operands[0], v.operands[2]
    m = _either(zero, Op.EQ, lambda o: k.is_splat(o, 0.0)) if zero.op is Op.EQ else None
    if m is None or m.op is not Op.MAXIMUM:
        return None
    safe_m = next((o for o in scaled.operands if o.op is Op.WHERE), None)
    if safe_m is None or safe_m.operands != (zero, safe_m.operands[1], m):
        return None
    root = _either(scaled, Op.MUL, lambda o: o is safe_m)
    one_plus = root.operands[0] if root is not None and root.op is Op.SQRT else None
    square = None if one_plus is None else _either(one_plus, Op.ADD, _is_one)
    if square is None or square.op is not Op.MUL or square.operands[0] is not square.operands[1]:
        return None
    r = square.operands[0]
    n = r.operands[0] if r.op is Op.DIV and r.operands[1] is safe_m else None
    if n is None or n.op is not Op.MINIMUM:
        return None
    if {id(o) for o in n.operands} != {id(o) for o in m.operands}:
        return None
    # a constant operand is folded (abs of a constant array, or a splat): no derivative
    if not all(o.op in (Op.ABS, Op.CONST) or splat(o) is not None for o in m.operands):
        return None
    return [o.operands[0] for o in m.operands if o.op is Op.ABS]


def _is_one(o: Value) -> bool:
    return k.is_splat(o, 1.0)


def _hypot(v: Value, ct: Value) -> list[tuple[Value, Value]] | None:
    """d hypot(x, y)/dx = x / hypot(x, y); 0 at (0, 0) and where the result is infinite."""
    operands = _hypot_operands(v)
    if not operands:
        return None
    regular = b.binary(Op.LOGICAL_AND, b.gt(v, 0.0), b.lt(v, _INF))  # NaN: neither
    h = b.where(regular, v, 1.0)
    return [(o, b.where(regular, b.mul(ct, b.div(o, h)), 0.0)) for o in operands]


_LN2 = math.log(2.0)
_INF = float("inf")

COMPOSITES: tuple[Composite, ...] = (_sigmoid, _softplus, _log_sigmoid, _log_add, _hypot)


def composite_vjp(v: Value, ct: Value) -> list[tuple[Value, Value]] | None:
    """(input, cotangent) pairs when ``v`` roots a known composite (float only), else None."""
    if not v.dtype.is_float or v.op not in (Op.DIV, Op.POW, Op.ADD, Op.SUB, Op.WHERE):
        return None
    for rule in COMPOSITES:
        found = rule(v, ct)
        if found is not None:
            return found
    return None
