"""Canonical forms: one spelling per expression, so the other rule sets need one pattern each.

Every rule here is bit-exact (NaN payloads aside): canonicalization runs at every optimization
level. Conventions: constants on the left of ``+`` and ``*`` (Theano's ``2.0 * x``); ``x - c``
becomes ``(-c) + x``; negations move outwards through ``*`` and ``/``; a uniform constant is a
broadcast 0-d constant; broadcasts move outwards past elementwise ops (less work, and constant
subexpressions become scalar so folding stays cheap); chains of movement ops collapse.
"""

from __future__ import annotations

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import ELEMENTWISE
from tracegrad.ir.rewrite import C, Captures, P, Pat, Rule, X, splat
from tracegrad.ir.rules.common import full_like, is_const, is_neg_zero, not_const, scalar
from tracegrad.ir.value import Value


def _const_left(c: Captures, root: Value) -> Value:
    k, x = c["c"], c["x"]
    if k.type is root.type is x.type or k.type == x.type == root.type:
        # swapped operands of one type: the type rule would give root's type again; skip its
        # cost (it dominates canonicalizing long chains), keep what build.apply records
        loc = b.location_hook() if b.location_hook is not None else None
        return Value.make(root.op, root.type, (k, x), (), loc)
    return b.apply(root.op, [k, x])


def _sub_const(c: Captures, root: Value) -> Value:
    return b.add(full_like(root, np.negative(scalar(c["c"]))), c["x"])


def _is_uniform_noncanonical(v: Value) -> bool:
    """A uniform constant not yet spelled as a 0-d constant (broadcast if need be)."""
    if splat(v) is None:
        return False
    if v.op is Op.CONST:
        return v.ndim > 0
    return not (v.op is Op.BROADCAST and v.operands[0].op is Op.CONST and v.operands[0].ndim == 0)


def _uniform(c: Captures, root: Value) -> Value:
    return full_like(root, scalar(root))


def _same_source_broadcasts(v: Value) -> bool:
    if not v.operands or any(o.op is not Op.BROADCAST for o in v.operands):
        return False
    return len({o.operands[0].shape for o in v.operands}) == 1


def _hoist_broadcast(c: Captures, root: Value) -> Value:
    inner = b.apply(root.op, [o.operands[0] for o in root.operands], **dict(root.attrs))
    return b.broadcast_to(inner, root.shape)


def _broadcast_broadcast(c: Captures, root: Value) -> Value:
    return b.apply(Op.BROADCAST, [c["x"]], shape=root.shape)


def _identity_movement(v: Value) -> bool:
    if v.op is Op.TRANSPOSE:
        return v.attr("perm") == tuple(range(v.ndim))
    return v.shape == v.operands[0].shape


def _reshape_reshape(c: Captures, root: Value) -> Value:
    return bs.reshape(c["x"], root.shape)


def _transpose_transpose(c: Captures, root: Value) -> Value:
    inner, outer = c["t"].attr("perm"), root.attr("perm")
    return bs.transpose(c["x"], [inner[p] for p in outer])


def _logic_absorb(c: Captures, root: Value) -> Value | None:
    """a & False = False and a | True = True; a & True = a | False = a."""
    value = bool(scalar(c["c"]))
    absorbing = value is (root.op is Op.LOGICAL_OR)
    if absorbing:
        return full_like(root, value)
    other = root.operands[1] if root.operands[0] is c["c"] else root.operands[0]
    return other


def _where_select(c: Captures, root: Value) -> Value:
    return c["a"] if bool(scalar(c["c"])) else c["b"]


_ELEMENTWISE = frozenset(ELEMENTWISE)
_ARITH = (Op.ADD, Op.MUL)

CANONICAL: tuple[Rule, ...] = (
    Rule(
        "add_const_left",
        P(Op.ADD, X("x", not_const), X("c", is_const), ordered=True),
        _const_left,
        True,
        "x + c = c + x",
    ),
    Rule(
        "mul_const_left",
        P(Op.MUL, X("x", not_const), X("c", is_const), ordered=True),
        _const_left,
        True,
        "x * c = c * x",
    ),
    Rule(
        "sub_const",
        P(Op.SUB, X("x"), C("c")),
        _sub_const,
        True,
        "x - c = (-c) + x (IEEE subtraction is addition of the negation)",
    ),
    Rule(
        "negzero_sub",
        P(Op.SUB, C(where=is_neg_zero), X("x")),
        lambda c, r: b.neg(c["x"]),
        True,
        "-0.0 - x = -x (0 - x for integers; 0.0 - x is not: 0.0 - 0.0 = +0.0)",
    ),
    Rule("neg_neg", P(Op.NEG, P(Op.NEG, X("x"))), lambda c, r: c["x"], True, "-(-x) = x"),
    Rule(
        "abs_abs",
        P(Op.ABS, P((Op.ABS, Op.NEG), X("x"))),
        lambda c, r: b.unary(Op.ABS, c["x"]),
        True,
        "|(|x|)| = |-x| = |x|",
    ),
    Rule(
        "mul_minus_one",
        P(Op.MUL, C(eq=-1), X("x")),
        lambda c, r: b.neg(c["x"]),
        True,
        "(-1) * x = -x",
    ),
    Rule(
        "add_neg",
        P(Op.ADD, X("x"), P(Op.NEG, X("y"))),
        lambda c, r: b.sub(c["x"], c["y"]),
        True,
        "x + (-y) = x - y",
    ),
    Rule(
        "sub_neg",
        P(Op.SUB, X("x"), P(Op.NEG, X("y"))),
        lambda c, r: b.add(c["x"], c["y"]),
        True,
        "x - (-y) = x + y",
    ),
    Rule(
        "mul_neg",
        P(Op.MUL, P(Op.NEG, X("x")), X("y")),
        lambda c, r: b.neg(b.mul(c["x"], c["y"])),
        True,
        "(-x) * y = -(x * y) (rounding is sign-symmetric)",
    ),
    Rule(
        "div_neg_num",
        P(Op.DIV, P(Op.NEG, X("x")), X("y")),
        lambda c, r: b.neg(b.div(c["x"], c["y"])),
        True,
        "(-x) / y = -(x / y)",
    ),
    Rule(
        "div_neg_den",
        P(Op.DIV, X("x"), P(Op.NEG, X("y"))),
        lambda c, r: b.neg(b.div(c["x"], c["y"])),
        True,
        "x / (-y) = -(x / y)",
    ),
    Rule(
        "uniform_const",
        P((Op.CONST, Op.BROADCAST, Op.RESHAPE, Op.TRANSPOSE), where=_is_uniform_noncanonical),
        _uniform,
        True,
        "[c, c, ..., c] = broadcast(c): a uniform constant is a broadcast scalar",
    ),
    Rule(
        "hoist_broadcast",
        P(_ELEMENTWISE, where=_same_source_broadcasts),
        _hoist_broadcast,
        True,
        "f(broadcast(a), broadcast(b)) = broadcast(f(a, b))",
    ),
    Rule(
        "broadcast_broadcast",
        P(Op.BROADCAST, P(Op.BROADCAST, X("x"))),
        _broadcast_broadcast,
        True,
        "broadcast(broadcast(x, s), t) = broadcast(x, t)",
    ),
    Rule(
        "movement_identity",
        P((Op.BROADCAST, Op.RESHAPE, Op.TRANSPOSE), X("x"), where=_identity_movement),
        lambda c, r: c["x"],
        True,
        "broadcast/reshape/transpose to x's own shape (identity permutation) = x",
    ),
    Rule(
        "reshape_reshape",
        P(Op.RESHAPE, P(Op.RESHAPE, X("x"))),
        _reshape_reshape,
        True,
        "reshape(reshape(x, s), t) = reshape(x, t)",
    ),
    Rule(
        "transpose_transpose",
        P(Op.TRANSPOSE, P(Op.TRANSPOSE, X("x"), name="t")),
        _transpose_transpose,
        True,
        "transpose(transpose(x, p), q) = transpose(x, p[q])",
    ),
    Rule(
        "where_same",
        P(Op.WHERE, X(), X("a"), X("a")),
        lambda c, r: c["a"],
        True,
        "where(c, a, a) = a",
    ),
    Rule(
        "where_nested_false",
        P(Op.WHERE, X("c"), X("a"), P(Op.WHERE, X("c"), X(), X("b"))),
        lambda c, r: b.where(c["c"], c["a"], c["b"]),
        True,
        "where(c, a, where(c, _, b)) = where(c, a, b)",
    ),
    Rule(
        "where_nested_true",
        P(Op.WHERE, X("c"), P(Op.WHERE, X("c"), X("a"), X()), X("b")),
        lambda c, r: b.where(c["c"], c["a"], c["b"]),
        True,
        "where(c, where(c, a, _), b) = where(c, a, b)",
    ),
    Rule(
        "logic_const",
        Pat(frozenset({Op.LOGICAL_AND, Op.LOGICAL_OR}), (X(), C("c")), commute=True),
        _logic_absorb,
        True,
        "a & False = False, a | True = True, a & True = a | False = a",
    ),
    Rule(
        "where_const_cond",
        P(Op.WHERE, C("c"), X("a"), X("b")),
        _where_select,
        True,
        "where(True, a, b) = a; where(False, a, b) = b",
    ),
)
