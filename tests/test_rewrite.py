"""The rewrite engine: matching, captures, commutativity, fixpoint, loop guard, big graphs."""

from __future__ import annotations

import pytest

from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.rewrite import C, P, RewriteLoopError, Rule, X, match, rewrite, splat
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, const, param

x = param(0, TensorType(DType.FLOAT64, (3,)), "x")
y = param(1, TensorType(DType.FLOAT64, (3,)), "y")


def fn(*outs):  # noqa: ANN001, ANN201
    return Function("f", (x, y), outs)


def test_match_captures_and_commutes() -> None:
    pat = P(Op.MUL, C("c", eq=2), X("a"))
    assert match(pat, b.mul(x, 2.0), {})["a"] is x  # constant on the right still matches
    assert match(P(Op.MUL, C(), X(), ordered=True), b.mul(x, 2.0), {}) is None
    same = P(Op.ADD, X("a"), X("a"))
    assert match(same, b.add(x, x), {}) is not None
    assert match(same, b.add(x, y), {}) is None


def test_uniform_constant_seen_through_broadcasts() -> None:
    assert splat(b.broadcast_to(const(1.5), (4, 3))) == 1.5
    assert splat(const([1.0, 1.0])) == 1.0
    assert splat(const([1.0, 2.0])) is None
    assert splat(const([0.0, -0.0])) is None  # bitwise: -0.0 is not 0.0


def test_rewrite_counts_and_rebuilds_users() -> None:
    rule = Rule("mul_one", P(Op.MUL, C(eq=1), X("x")), lambda c, r: c["x"], True, "1*x = x")
    out, counts = rewrite(fn(b.exp(b.mul(1.0, b.mul(1.0, x)))), [rule])
    assert out.outputs[0] is b.exp(x)
    # the outer product, rebuilt, *is* the inner one (interning): its normal form is memoized
    assert counts["mul_one"] == 1


def test_replacement_is_normalized_before_users_see_it() -> None:
    to_neg = Rule("sub0", P(Op.SUB, C(eq=0), X("x")), lambda c, r: b.neg(c["x"]), False, "")
    negneg = Rule("negneg", P(Op.NEG, P(Op.NEG, X("x"))), lambda c, r: c["x"], True, "")
    out, counts = rewrite(fn(b.sub(0.0, b.neg(x))), [to_neg, negneg])
    assert out.outputs[0] is x and dict(counts) == {"sub0": 1, "negneg": 1}


def test_type_changing_replacement_is_skipped() -> None:
    bad = Rule("bad", P(Op.EXP, X("x")), lambda c, r: b.apply(Op.REDUCE_SUM, [c["x"]], axes=(0,)),
               True, "")  # fmt: skip
    f = fn(b.exp(x))
    assert rewrite(f, [bad])[0] is f


def test_ping_pong_names_the_rules() -> None:
    swap = Rule("swap", P(Op.ADD, X("a"), X("b"), ordered=True),
                lambda c, r: b.add(c["b"], c["a"]), True, "")  # fmt: skip
    with pytest.raises(RewriteLoopError, match="swap"):
        rewrite(fn(b.add(x, y)), [swap])
    there = Rule("there", P(Op.NEG, X("a")), lambda c, r: b.mul(-1.0, c["a"]), True, "")
    back = Rule("back", P(Op.MUL, C(eq=-1), X("a")), lambda c, r: b.neg(c["a"]), True, "")
    with pytest.raises(RewriteLoopError, match="there -> back|back -> there"):
        rewrite(fn(b.neg(x)), [there, back])


def test_growth_without_end_is_stopped() -> None:
    grow = Rule("grow", P(Op.EXP, X("a")), lambda c, r: b.exp(b.add(0.0, c["a"])), False, "")
    with pytest.raises(RewriteLoopError, match="grow"):
        rewrite(fn(b.exp(x)), [grow])


def test_deep_graph_has_no_recursion_limit() -> None:
    v = x
    for _ in range(3000):
        v = b.mul(1.0, b.exp(v))
    rule = Rule("mul_one", P(Op.MUL, C(eq=1), X("x")), lambda c, r: c["x"], True, "")
    out, counts = rewrite(fn(v), [rule])
    # the outer product, rebuilt, *is* the inner one (interning): its normal form is memoized
    assert counts["mul_one"] == 3000 and out.count_ops() == 3000
