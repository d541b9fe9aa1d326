"""Stabilization: rewrites that may change a value only by rounding or by turning an inf/NaN
into the finite true value (never the reverse), and that keep NaN-prone patterns out of
gradients. They run at every optimization level.

Each pattern is recognized in every spelling the canonical forms leave: the library's
``tnp.sigmoid`` (``1 / (1 + exp(-x))``), ``np.reciprocal(1 + np.exp(-x))``,
``(1 + np.exp(-x)) ** -1``, ``np.exp(x) / (1 + np.exp(x))`` and the stable form the
``sigmoid`` rule itself builds (rules fire bottom-up, so ``log(sigmoid(x))`` sees the
operand already rewritten).
"""

from __future__ import annotations

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.ops import Op
from tracegrad.ir.rewrite import C, Captures, P, Pat, Rule, View, X, strip_movement
from tracegrad.ir.rules import common as k
from tracegrad.ir.rules.common import is_splat, negated
from tracegrad.ir.value import Value


def negation_of(v: Value) -> Value:
    """-v, spelled the way the sum was: -(-y) = y, -(-a - b) = a + b, -(-a + -b) = a + b,
    -(p - q) = q - p, else neg(v). (Exact up to the sign of a zero, which only matters to
    value-changing rules' operands of exp, where exp(+0) = exp(-0).)"""
    direct = negated(v)
    if direct is not None:
        return direct
    if v.op in (Op.SUB, Op.ADD):
        p, q = v.operands
        minus_p, minus_q = negated(p), negated(q)
        if v.op is Op.SUB:
            return b.add(minus_p, q) if minus_p is not None else b.sub(q, p)
        if minus_p is not None:
            return b.add(minus_p, minus_q) if minus_q is not None else b.sub(minus_p, q)
        if minus_q is not None:
            return b.sub(minus_q, p)
    return b.neg(v)


def _one_plus_exp(d: Value) -> Value | None:
    """w when d is 1 + exp(w) (either order)."""
    if d.op is not Op.ADD:
        return None
    for one, e in (d.operands, d.operands[::-1]):
        if is_splat(one, 1) and e.op is Op.EXP:
            return e.operands[0]
    return None


def _one_plus_exp_neg(d: Value) -> Value | None:
    """x when d is 1 + exp(-x), for any spelling of -x (1 + exp(w) is 1 + exp(-(-w)))."""
    w = _one_plus_exp(d)
    return None if w is None else negation_of(w)


def _halved(h: Value) -> Value | None:
    """z when h is z / 2 or z * 0.5."""
    if h.op is Op.DIV and is_splat(h.operands[1], 2):
        return h.operands[0]
    if h.op is Op.MUL:
        for half, z in (h.operands, h.operands[::-1]):
            if is_splat(half, 0.5):
                return z
    return None


def _one_plus_tanh_half(u: Value) -> Value | None:
    """z when u is 1 + tanh(z / 2) (either order)."""
    if u.op is not Op.ADD:
        return None
    for one, t in (u.operands, u.operands[::-1]):
        if is_splat(one, 1) and t.op is Op.TANH:
            return _halved(t.operands[0])
    return None


def tanh_sigmoid_arg(v: Value) -> Value | None:
    """z when v is (1 + tanh(z/2)) / 2, 0.5 * (1 + tanh(z/2)) or 0.5 + 0.5 * tanh(z/2)."""
    if v.op is Op.DIV and is_splat(v.operands[1], 2):
        return _one_plus_tanh_half(v.operands[0])
    if v.op is Op.MUL:
        for half, u in (v.operands, v.operands[::-1]):
            if is_splat(half, 0.5):
                return _one_plus_tanh_half(u)
    if v.op is Op.ADD:
        for half, t in (v.operands, v.operands[::-1]):
            h = _halved(t) if is_splat(half, 0.5) else None
            if h is not None and h.op is Op.TANH:
                return _halved(h.operands[0])
    return None


def stable_sigmoid_arg(num: Value, den: Value) -> Value | None:
    """x when num / den is where(x >= 0, 1, z) / (1 + z) with z = exp(-|x|)."""
    if num.op is not Op.WHERE or den.op is not Op.ADD:
        return None
    cond, one, z = num.operands
    if cond.op is not Op.GE or not is_splat(cond.operands[1], 0) or not is_splat(one, 1):
        return None
    x = cond.operands[0]
    if not (is_splat(den.operands[0], 1) and den.operands[1] is z and z.op is Op.EXP):
        return None
    return x if k.is_neg_abs(z.operands[0], x) is not None else None


def sigmoid_arg(v: Value) -> Value | None:
    """x when v computes the logistic function of x (any of the spellings above)."""
    if v.op is Op.POW and is_splat(v.operands[1], -1):
        return _one_plus_exp_neg(v.operands[0])
    if v.op is not Op.DIV:
        return tanh_sigmoid_arg(v)
    num, den = v.operands
    if is_splat(num, 1):
        return _one_plus_exp_neg(den)
    if num.op is Op.EXP and _one_plus_exp(den) is num.operands[0]:
        return num.operands[0]  # exp(z) / (1 + exp(z))
    stable = stable_sigmoid_arg(num, den)
    return stable if stable is not None else tanh_sigmoid_arg(v)


def _raw_sigmoid(v: Value) -> dict[str, Value] | None:
    x = sigmoid_arg(v)
    if x is None or stable_sigmoid_arg(*v.operands) is not None:
        return None
    if x.op is Op.ABS:
        return None  # 1 / (1 + exp(-|y|)) never overflows: already stable
    return {"x": x}


def _any_sigmoid(v: Value) -> dict[str, Value] | None:
    x = sigmoid_arg(v)
    return None if x is None else {"x": x}


def softmax_parts(v: Value) -> tuple[Value, tuple[int, ...]] | None:
    """(y, axes) when v is exp(y) / sum(exp(y), axes) (keepdims and broadcast in between)."""
    if v.op is not Op.DIV or v.operands[0].op is not Op.EXP:
        return None
    e, total = v.operands[0], strip_movement(v.operands[1])
    if total.op is not Op.REDUCE_SUM or total.operands[0] is not e:
        return None
    return e.operands[0], total.attr("axes")


def _softmax(v: Value) -> dict[str, Value] | None:
    return None if softmax_parts(v) is None else {"s": v}


def _log_softmax(c: Captures, root: Value) -> Value:
    y, axes = softmax_parts(c["s"])  # type: ignore[misc]
    return b.sub(y, bs.reshape(k.logsumexp(y, axes), k.keep_shape(y.shape, axes)))


def _shift_softmax(c: Captures, root: Value) -> Value | None:
    y, axes = softmax_parts(root)  # type: ignore[misc]
    if k.is_max_shifted(y, axes):
        return None
    shifted = b.exp(b.sub(y, bs.reshape(k.safe_max(y, axes), k.keep_shape(y.shape, axes))))
    total = b.apply(Op.REDUCE_SUM, [shifted], axes=axes)
    return b.div(shifted, bs.reshape(total, k.keep_shape(y.shape, axes)))


def _logsumexp(c: Captures, root: Value) -> Value:
    return k.logsumexp(c["y"], c["s"].attr("axes"))


def _sink(zero_first: bool, op: Op):
    """op(where(c, 0, a), y) = where(c, 0, op(a, y)) (and the mirror): the masked lanes give 0
    even where op(0, y) would be NaN (0 * inf, 0 / 0), the classic where-gradient trap."""

    def build(c: Captures, root: Value) -> Value:
        inner = b.apply(op, [c["a"], c["y"]])
        zero = k.full_like(root, 0.0)
        return b.where(c["c"], zero, inner) if zero_first else b.where(c["c"], inner, zero)

    return build


def _where0(zero_first: bool):  # noqa: ANN202  (pattern helper)
    zero = C(eq=0)
    args = (X("c"), zero, X("a")) if zero_first else (X("c"), X("a"), zero)
    return P(Op.WHERE, *args, where=k.is_float)


def _safe_sqrt(c: Captures, root: Value) -> Value:
    s = c["s"]
    zero = b.eq(s, 0.0)
    return b.where(zero, 0.0, b.sqrt(b.where(zero, 1.0, s)))


def _may_be_large(x: Value) -> bool:
    """False for -|y| (exp of it is in (0, 1]: log1p(exp(-|y|)) is already the stable form)."""
    return not (x.op is Op.NEG and x.operands[0].op is Op.ABS) and k.is_neg_abs(x) is None


_ONE = C(eq=1)
_SIG = View(_any_sigmoid)
_SQUARE = (P(Op.MUL, X("x"), X("x")), P(Op.POW, X("x"), C(eq=2)))

STABILIZE: tuple[Rule, ...] = (
    Rule(
        "log_softmax",
        P(Op.LOG, View(_softmax)),
        _log_softmax,
        False,
        "log(exp(y) / sum(exp(y))) = y - logsumexp(y) (max-shifted)",
    ),
    Rule(
        "logsumexp",
        P(Op.LOG, P(Op.REDUCE_SUM, P(Op.EXP, X("y")), name="s")),
        _logsumexp,
        False,
        "log(sum(exp(y))) = m + log(sum(exp(y - m))), m = max(y) (0 if not finite)",
    ),
    Rule(
        "log_sigmoid",
        P(Op.LOG, _SIG),
        lambda c, r: k.log_sigmoid(c["x"]),
        False,
        "log(sigmoid(x)) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|))",
    ),
    Rule(
        "log_one_minus_sigmoid",
        P(Op.LOG, P(Op.SUB, _ONE, _SIG)),
        lambda c, r: b.neg(k.softplus(c["x"])),
        False,
        "log(1 - sigmoid(x)) = -softplus(x)",
    ),
    Rule(
        "log1p_neg_sigmoid",
        P(Op.LOG1P, P(Op.NEG, _SIG)),
        lambda c, r: b.neg(k.softplus(c["x"])),
        False,
        "log1p(-sigmoid(x)) = -softplus(x)",
    ),
    Rule(
        "softplus",
        P(Op.LOG, P(Op.ADD, _ONE, P(Op.EXP, X("x")))),
        lambda c, r: k.softplus(c["x"]),
        False,
        "log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))",
    ),
    Rule(
        "softplus_log1p",
        P(Op.LOG1P, P(Op.EXP, X("x", _may_be_large))),
        lambda c, r: k.softplus(c["x"]),
        False,
        "log1p(exp(x)) = max(x, 0) + log1p(exp(-|x|))",
    ),
    Rule(
        "log1p",
        P(Op.LOG, P(Op.ADD, _ONE, X("x"))),
        lambda c, r: b.unary(Op.LOG1P, c["x"]),
        False,
        "log(1 + x) = log1p(x)",
    ),
    Rule(
        "log1p_sub",
        P(Op.LOG, P(Op.SUB, _ONE, X("x"))),
        lambda c, r: b.unary(Op.LOG1P, k.negate(c["x"])),
        False,
        "log(1 - x) = log1p(-x)",
    ),
    Rule(
        "log_exp",
        P(Op.LOG, P(Op.EXP, X("x"))),
        lambda c, r: c["x"],
        False,
        "log(exp(x)) = x (exp's overflow/underflow to inf/0 become finite)",
    ),
    Rule(
        "expm1",
        P(Op.ADD, C(eq=-1), P(Op.EXP, X("x"))),
        lambda c, r: b.unary(Op.EXPM1, c["x"]),
        False,
        "exp(x) + (-1) = expm1(x)",
    ),
    Rule(
        "expm1_sub",
        P(Op.SUB, P(Op.EXP, X("x")), _ONE),
        lambda c, r: b.unary(Op.EXPM1, c["x"]),
        False,
        "exp(x) - 1 = expm1(x)",
    ),
    Rule(
        "one_minus_sigmoid",
        P(Op.SUB, _ONE, _SIG),
        lambda c, r: k.sigmoid(k.negate(c["x"])),
        False,
        "1 - sigmoid(x) = sigmoid(-x)",
    ),
    Rule(
        "sigmoid",
        Pat(frozenset({Op.DIV, Op.POW, Op.MUL, Op.ADD}), pred=k.is_float, view=_raw_sigmoid),
        lambda c, r: k.sigmoid(c["x"]),
        False,
        "1 / (1 + exp(-x)) = (1 + tanh(x/2)) / 2 = where(x >= 0, 1, z) / (1 + z), z = exp(-|x|)",
    ),
    Rule(
        "softmax_shift",
        Pat(Op.DIV, view=_softmax),
        _shift_softmax,
        False,
        "exp(y) / sum(exp(y)) = exp(y - m) / sum(exp(y - m)), m = max(y) (0 if not finite)",
    ),
    Rule(
        "sink_mul_where",
        P(Op.MUL, _where0(True), X("y")),
        _sink(True, Op.MUL),
        False,
        "where(c, 0, a) * y = where(c, 0, a * y)",
    ),
    Rule(
        "sink_mul_where_mirror",
        P(Op.MUL, _where0(False), X("y")),
        _sink(False, Op.MUL),
        False,
        "where(c, a, 0) * y = where(c, a * y, 0)",
    ),
    Rule(
        "sink_div_where",
        P(Op.DIV, _where0(True), X("y")),
        _sink(True, Op.DIV),
        False,
        "where(c, 0, a) / y = where(c, 0, a / y)",
    ),
    Rule(
        "sink_div_where_mirror",
        P(Op.DIV, _where0(False), X("y")),
        _sink(False, Op.DIV),
        False,
        "where(c, a, 0) / y = where(c, a / y, 0)",
    ),
    *(
        Rule(
            "safe_norm" + suffix,
            P(Op.SQRT, P(Op.REDUCE_SUM, sq, name="s")),
            _safe_sqrt,
            True,
            "sqrt(sum(x*x)) = where(s == 0, 0, sqrt(where(s == 0, 1, s))): same value, "
            "gradient 0 at 0",
        )
        for suffix, sq in zip(("", "_pow"), _SQUARE, strict=True)
    ),
)
