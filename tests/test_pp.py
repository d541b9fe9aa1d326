"""Theano-style infix printing: golden strings, sharing with let-bindings, huge graphs."""

from __future__ import annotations

import numpy as np
import pytest

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.indexing import getitem
from tracegrad.ir.ops import Op
from tracegrad.ir.pp import pp
from tracegrad.ir.types import Dim, TensorType
from tracegrad.ir.value import Function, Value, const, param

N = Dim("n")
X = param(0, TensorType(DType.FLOAT64, ()), "x")
V = param(1, TensorType(DType.FLOAT64, (N, 3)), "v")
A = param(2, TensorType(DType.FLOAT32, (4, 5)), "a")
K = param(3, TensorType(DType.INT64, (3,)), "k")
U = param(4, TensorType(DType.FLOAT64, (3,)))


def test_theano_reference() -> None:
    assert pp(b.mul(const(2.0), X)) == "(2.0 * x)"
    assert pp(Function("f", (X,), (b.mul(2.0, X),))) == "(2.0 * x)"


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: b.pow(X, 2), "(x ** 2.0)"),
        (lambda: b.pow(K, 2), "(k ** 2)"),
        (lambda: b.mul(V, 2.0), "(v * 2.0)"),
        (lambda: b.exp(b.neg(X)), "exp((-x))"),
        (lambda: bs.sum(V, 0), "sum(v, axis=0)"),
        (lambda: bs.sum(V), "sum(v)"),
        (lambda: bs.sum(A, (0, 1)), "sum(a)"),
        (lambda: bs.reduce(Op.REDUCE_MAX, A, 1), "max(a, axis=1)"),
        (lambda: b.maximum(V, U), "maximum(v, <param4>)"),
        (lambda: b.where(b.gt(V, 0.0), V, U), "where((v > 0.0), v, <param4>)"),
        (lambda: b.cast(V, DType.FLOAT32), "cast(v, float32)"),
        (lambda: b.unary(Op.LOGICAL_NOT, b.lt(K, 1)), "(~(k < 1))"),
        (lambda: b.sub(b.div(X, 3.0), b.mul(-0.5, X)), "((x / 3.0) - (-0.5 * x))"),
        (lambda: b.add(X, float("nan")), "(x + nan)"),
        (lambda: b.add(K, 2), "(k + 2)"),
        (lambda: b.binary(Op.LOGICAL_AND, b.gt(X, 0.0), True), "((x > 0.0) & True)"),
        (lambda: getitem(A, (slice(None, None, -1), slice(1, 4, 2))), "a[::-1, 1:4:2]"),
        (lambda: getitem(A, (slice(3, 0, -2), 2)), "reshape(a[:0:-2, 2:3], (2,))"),
        (lambda: getitem(V, (slice(None), slice(0, 2))), "v[:, :2]"),
        (lambda: getitem(U, slice(2, None, -1)), "<param4>[::-1]"),
        (lambda: getitem(U, slice(1, 3)), "<param4>[1:]"),
        (lambda: getitem(const(np.arange(-3.0, 0.0)), slice(1, 3)), "array([-3.0, -2.0, -1.0])[1:]"),  # noqa: E501
        (lambda: getitem(b.broadcast_to(const(-2.0), (3,)), slice(1, 3)), "(-2.0)[1:]"),
        (lambda: b.broadcast_to(X, (N, 3)), "broadcast(x, (n, 3))"),
        (lambda: b.full((N, 3), 1.0, DType.FLOAT64), "1.0"),
        (lambda: b.full((2,), 2, DType.INT32), "2"),
        (lambda: bs.matmul(A, bs.transpose(A)), "(a @ transpose(a, (1, 0)))"),
        (lambda: bs.take(A, K, 1), "take(a, k, axis=1)"),
        (lambda: bs.take(A, np.array([0, 2]), 0), "take(a, array([0, 2]), axis=0)"),
        (lambda: bs.concatenate([V, V], 1), "concatenate([v, v], axis=1)"),
        (lambda: bs.pad(U, 1), "pad(<param4>, pads=((1, 1),), value=0.0)"),
        (lambda: bs.cumsum(A, 1), "cumsum(a, axis=1)"),
        (lambda: bs.arg_reduce(Op.ARGMAX, A, 0), "argmax(a, axis=0)"),
        (lambda: b.add(U, np.array([1.0, -0.0, np.inf])), "(<param4> + array([1.0, -0.0, inf]))"),
        (lambda: const(np.arange(12).reshape(3, 4)), "array([0, 1, 2, ...], shape=(3, 4))"),
        (lambda: const(np.array([[True], [False]])), "array([[True], [False]])"),
    ],
)  # fmt: skip
def test_golden(build, expected: str) -> None:
    assert pp(build()) == expected


def test_several_outputs_one_per_line() -> None:
    assert pp([b.exp(X), b.neg(X)]) == "exp(x)\n(-x)"
    assert pp(Function("f", (X,), (X, b.exp(X)))) == "x\nexp(x)"


def test_small_shared_subexpressions_repeat() -> None:
    e = b.exp(X)
    assert pp(b.mul(e, e)) == "(exp(x) * exp(x))"


def _long(x: Value) -> Value:
    head = b.exp(b.unary(Op.SIN, b.unary(Op.COS, x)))
    return b.div(b.add(head, b.unary(Op.TANH, b.unary(Op.LOG1P, x))), 7.0)


def test_long_shared_subexpressions_are_bound() -> None:
    long = _long(X)
    assert len(pp(long)) > 40
    text = pp(b.mul(long, b.add(long, 1.0)))
    assert text == "t0 = ((exp(sin(cos(x))) + tanh(log1p(x))) / 7.0)\n(t0 * (t0 + 1.0))"
    assert pp(b.mul(long, long), share_cap=1000) == f"({pp(long)} * {pp(long)})"


def test_binding_names_avoid_param_names() -> None:
    t0 = param(0, TensorType(DType.FLOAT64, ()), "t0")
    long = _long(t0)
    assert pp(b.mul(long, long)).startswith("t1 = ((exp(sin(cos(t0)))")


def test_deep_chain_has_no_recursion_limit() -> None:
    y = X
    for _ in range(100_000):  # Value.make directly: the builders are slower than pp
        y = Value.make(Op.NEG, X.type, (y,))
    text = pp(y)
    assert text == "(-" * 100_000 + "x" + ")" * 100_000


def test_doubling_graph_is_linear() -> None:
    """y = y + y, 10^5 times: without bindings the text would have 2^100000 leaves."""
    y = X
    for _ in range(100_000):
        y = Value.make(Op.ADD, X.type, (y, y))
    lines = pp(y).splitlines()
    assert len(lines) < 100_000 and max(len(line) for line in lines) < 200
    assert lines[-1] == f"(t{len(lines) - 2} + t{len(lines) - 2})"
