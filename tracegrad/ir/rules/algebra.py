"""Constant folding and algebraic identities, split by exactness.

``FOLD`` evaluates an op whose operands are all constants with the reference interpreter (so
the folded bits are the interpreter's bits) when the result is small. ``EXACT`` holds the
identities that are bit-exact for every input, inf, NaN and -0.0 included (each is checked
bitwise with hypothesis in tests/test_rewrite_rules.py). ``INEXACT`` holds the rest: they
round differently or lose inf/NaN/-0.0 behaviour, and run only at opt_level 3.
"""

from __future__ import annotations

import math

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.ops import Op
from tracegrad.ir.rewrite import C, Captures, P, Rule, X
from tracegrad.ir.rules.common import (
    full_like,
    is_float,
    is_int,
    is_pow2,
    is_pow2_at_least_one,
    scalar,
)
from tracegrad.ir.types import Dim
from tracegrad.ir.value import Function, Value, const

FOLD_LIMIT = 64  # fold only results with at most this many elements (keep big broadcasts)
# loops and branches are never run by the optimizer: a constant while loop may not terminate
# (the control-flow pass folds constant predicates and trip counts instead)
_NEVER_FOLD = frozenset({Op.CONST, Op.PARAM, Op.BROADCAST, Op.COND, Op.WHILE, Op.SCAN})


def _foldable(v: Value) -> bool:
    if v.op in _NEVER_FOLD or not v.operands:
        return False
    if any(o.op is not Op.CONST for o in v.operands) or not v.type.is_concrete:
        return False
    return v.type.size <= FOLD_LIMIT


def _fold(c: Captures, root: Value) -> Value | None:
    from tracegrad.ir.interpreter import evaluate

    try:
        (out,) = evaluate(Function("fold", (), (root,)), [])
    except Exception:  # noqa: BLE001  (numpy refuses, e.g. int ** negative: leave it to run time)
        return None
    return const(np.asarray(out, dtype=root.dtype.numpy))


FOLD = Rule("fold_constants", P(set(Op) - _NEVER_FOLD, where=_foldable), _fold, True,
            "op(c1, c2, ...) = the interpreter's value, when it has <= 64 elements")  # fmt: skip


# ---- reductions of broadcasts ----------------------------------------------------------


def _reduced_broadcast(root: Value) -> tuple[Value, int | None] | None:
    """For reduce(broadcast(x), axes) whose axes all come from the broadcast: x with those
    axes removed, broadcast to the result shape, and the element count per result element
    (None if symbolic); None when some reduced axis is a real axis of x."""
    bcast = root.operands[0]
    if bcast.op is not Op.BROADCAST:
        return None
    x, axes = bcast.operands[0], root.attr("axes")
    lead = bcast.ndim - x.ndim
    if any(a >= lead and x.shape[a - lead] != 1 for a in axes):
        return None
    kept = tuple(d for j, d in enumerate(x.shape) if j + lead not in axes)
    dims = [bcast.shape[a] for a in axes]
    count = None if any(isinstance(d, Dim) for d in dims) else math.prod(dims)
    return b.broadcast_to(bs.reshape(x, kept), root.shape), count


def _max_broadcast(c: Captures, root: Value) -> Value | None:
    found = _reduced_broadcast(root)
    return None if found is None else found[0]


def _sum_broadcast(c: Captures, root: Value) -> Value | None:
    found = _reduced_broadcast(root)
    if found is None:
        return None
    y, count = found
    if count is None:
        return None
    return y if count == 1 and not root.dtype.is_float else b.mul(count, y)


def _sum_is_exact(v: Value) -> bool:
    return is_int(v)  # integer sums wrap like count * x; float sums round at each step


# ---- powers ------------------------------------------------------------------------------


def _small_int(lo: int, hi: int):
    def check(s: object) -> bool:
        return float(s) == int(float(s)) and lo <= float(s) <= hi  # type: ignore[arg-type]

    return check


def _square_multiply(x: Value, n: int) -> Value:
    """x**n by repeated squaring: x**13 = x**8 * x**4 * x."""
    result, square = None, x
    while n:
        if n & 1:
            result = square if result is None else b.mul(result, square)
        n >>= 1
        if n:
            square = b.mul(square, square)
    assert result is not None
    return result


def _power(c: Captures, root: Value) -> Value:
    return _square_multiply(c["x"], int(float(scalar(c["k"]))))


def _div_pow2(c: Captures, root: Value) -> Value:
    return b.mul(full_like(root, 1.0 / float(scalar(c["c"]))), c["x"])


def _const_product(c: Captures, root: Value) -> Value | None:
    product = np.multiply(scalar(c["c1"]), scalar(c["c2"]))
    if not np.isfinite(product):
        return None
    return b.mul(full_like(root, product), c["x"])


def _const_sum(c: Captures, root: Value) -> Value:
    return b.add(full_like(root, np.add(scalar(c["c1"]), scalar(c["c2"]))), c["x"])


def _mul_of(c1, c2):  # noqa: ANN001, ANN202  (pattern helper)
    return P(Op.MUL, C("c1", where=c1), P(Op.MUL, C("c2", where=c2), X("x")))


_ANY = None
_FLOAT_ROOT = is_float

EXACT: tuple[Rule, ...] = (
    Rule("mul_one", P(Op.MUL, C(eq=1), X("x")), lambda c, r: c["x"], True, "1 * x = x"),
    Rule("div_one", P(Op.DIV, X("x"), C(eq=1)), lambda c, r: c["x"], True, "x / 1 = x"),
    Rule("pow_one", P(Op.POW, X("x"), C(eq=1)), lambda c, r: c["x"], True, "x ** 1 = x"),
    Rule(
        "pow_zero",
        P(Op.POW, X("x"), C(eq=0)),
        lambda c, r: full_like(r, 1),
        True,
        "x ** 0 = 1 (also for NaN and inf, as C's pow)",
    ),
    Rule(
        "pow_two",
        P(Op.POW, X("x"), C(eq=2), where=_FLOAT_ROOT),
        lambda c, r: b.mul(c["x"], c["x"]),
        True,
        "x ** 2 = x * x (pow is correctly rounded)",
    ),
    Rule(
        "pow_minus_one",
        P(Op.POW, X("x"), C(eq=-1), where=_FLOAT_ROOT),
        lambda c, r: b.div(1.0, c["x"]),
        True,
        "x ** -1 = 1 / x (pow is correctly rounded)",
    ),
    Rule(
        "pow_int_ints",
        P(Op.POW, X("x"), C("k", where=_small_int(2, 64)), where=is_int),
        _power,
        True,
        "x ** n = repeated squaring, for integers (wrapping products)",
    ),
    Rule(
        "add_neg_zero",
        P(
            Op.ADD,
            C(
                where=lambda s: (
                    bool(s == 0) and (not isinstance(s, np.floating) or bool(np.signbit(s)))
                )
            ),
            X("x"),
        ),
        lambda c, r: c["x"],
        True,
        "(-0.0) + x = x (and 0 + x for integers)",
    ),  # fmt: skip
    Rule(
        "mul_zero_ints",
        P(Op.MUL, C(eq=0), X("x"), where=lambda v: not v.dtype.is_float),
        lambda c, r: full_like(r, 0),
        True,
        "0 * x = 0 for integers and bools",
    ),
    Rule(
        "div_pow2",
        P(Op.DIV, X("x"), C("c", where=is_pow2), where=_FLOAT_ROOT),
        _div_pow2,
        True,
        "x / 2**k = 2**-k * x (both are one rounding of the same value)",
    ),
    Rule(
        "mul_pow2_chain",
        _mul_of(lambda s: abs(float(s)) >= 1, is_pow2_at_least_one),
        _const_product,
        True,
        "c1 * (2**k * x) = (c1 * 2**k) * x for k >= 0, |c1| >= 1 (inner product exact)",
    ),
    Rule(
        "reduce_max_broadcast",
        P((Op.REDUCE_MAX, Op.REDUCE_MIN), P(Op.BROADCAST)),
        _max_broadcast,
        True,
        "max(broadcast(x)) over broadcast axes = x",
    ),
    Rule(
        "sum_broadcast_ints",
        P(Op.REDUCE_SUM, P(Op.BROADCAST), where=_sum_is_exact),
        _sum_broadcast,
        True,
        "sum(broadcast(x)) over broadcast axes = count * x (integers)",
    ),
)

INEXACT: tuple[Rule, ...] = (
    Rule(
        "add_zero",
        P(Op.ADD, C(eq=0), X("x"), where=_FLOAT_ROOT),
        lambda c, r: c["x"],
        False,
        "0.0 + x = x (not for x = -0.0: -0.0 + 0.0 = +0.0)",
    ),
    Rule(
        "mul_zero",
        P(Op.MUL, C(eq=0), X("x"), where=_FLOAT_ROOT),
        lambda c, r: full_like(r, 0.0),
        False,
        "0 * x = 0 (not for inf, NaN, or x < 0: -0.0)",
    ),
    Rule(
        "pow_int",
        P(Op.POW, X("x"), C("k", where=_small_int(3, 64)), where=_FLOAT_ROOT),
        _power,
        False,
        "x ** n = repeated squaring (several roundings instead of one)",
    ),
    Rule(
        "pow_half",
        P(Op.POW, X("x"), C(eq=0.5), where=_FLOAT_ROOT),
        lambda c, r: b.sqrt(c["x"]),
        False,
        "x ** 0.5 = sqrt(x) (C pow gives +0 at -0.0 and inf at -inf; sqrt -0.0 and NaN)",
    ),
    Rule(
        "mul_const_chain",
        _mul_of(lambda s: True, lambda s: True),
        _const_product,
        False,
        "c1 * (c2 * x) = (c1 * c2) * x (reassociation: one rounding fewer)",
    ),
    Rule(
        "add_const_chain",
        P(Op.ADD, C("c1"), P(Op.ADD, C("c2"), X("x")), where=_FLOAT_ROOT),
        _const_sum,
        False,
        "c1 + (c2 + x) = (c1 + c2) + x (reassociation)",
    ),
    Rule(
        "exp_mul_exp",
        P(Op.MUL, P(Op.EXP, X("x")), P(Op.EXP, X("y"))),
        lambda c, r: b.exp(b.add(c["x"], c["y"])),
        False,
        "exp(x) * exp(y) = exp(x + y) (differs by rounding and in overflow)",
    ),
    Rule(
        "sum_scale",
        P(Op.REDUCE_SUM, P(Op.MUL, C("c"), X("x")), name="s"),
        lambda c, r: b.mul(
            scalar(c["c"]).item(), b.apply(Op.REDUCE_SUM, [c["x"]], axes=r.attr("axes"))
        ),
        False,
        "sum(c * x) = c * sum(x) (distributivity: rounds differently)",
    ),  # fmt: skip
    Rule(
        "sum_broadcast",
        P(Op.REDUCE_SUM, P(Op.BROADCAST), where=_FLOAT_ROOT),
        _sum_broadcast,
        False,
        "sum(broadcast(x)) over broadcast axes = count * x (float sums round)",
    ),
)
