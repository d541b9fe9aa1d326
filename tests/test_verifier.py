"""The verifier accepts well-formed IR and names each kind of corruption, marking its line."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tracegrad.errors import VerifyError
from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.indexing import getitem, setitem
from tracegrad.ir.ops import Op
from tracegrad.ir.types import Dim, TensorType
from tracegrad.ir.value import ConstData, Function, Value, param
from tracegrad.ir.verifier import verify

N = Dim("n")
F64, F32 = DType.FLOAT64, DType.FLOAT32
T3 = TensorType(F64, (3,))
X = param(0, T3, "x")


def _chain(bad: Value) -> Function:
    """``bad`` in the middle of a chain, so the report has context on both sides."""
    out = bad
    for op in (Op.EXP, Op.TANH, Op.ABS, Op.SIN):
        out = Value.make(op, bad.type, (out,))
    return Function("f", (X,), (out,))


def _pre() -> Value:
    return b.unary(Op.SIN, b.exp(b.unary(Op.COS, X)))


def _marked(message: str) -> str:
    (line,) = [ln for ln in message.splitlines() if ln.startswith("  >")]
    return line


def _expect(f: Function, pattern: str, marked: str | None) -> str:
    with pytest.raises(VerifyError, match=pattern) as info:
        verify(f)
    message = str(info.value)
    if marked is not None:
        assert re.search(marked, _marked(message)), message
    return message


def test_valid_graphs_pass() -> None:
    v, a = param(0, TensorType(F64, (N, 3)), "v"), param(1, TensorType(F32, (4, 5)), "a")
    i = param(2, TensorType(DType.INT64, (3,)), "i")
    outs = [
        bs.sum(b.mul(v, 2.0), 0), bs.matmul(a, bs.transpose(a)), bs.take(a, i, 1),
        getitem(a, (slice(None, None, -1), 1)), setitem(a, (0, slice(1, 3)), 2.0),
        bs.pad(v, ((0, 0), (1, 2))), bs.concatenate([v, v], 1), bs.cumsum(a, 0),
        bs.arg_reduce(Op.ARGMAX, a, 1), b.where(b.gt(v, 0.0), v, 1.0), b.cast(a, DType.INT32),
    ]  # fmt: skip
    verify(Function("ok", (v, a, i), tuple(outs)))


def test_context_window_and_marker() -> None:
    bad = Value.make(Op.MUL, TensorType(F32, (3,)), (_pre(), X))
    message = _expect(_chain(bad), r"%4 mul: stored type f32\[3\] differs .* f64\[3\]", "mul")
    lines = message.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.startswith("  >"))
    assert lines[at - 3].strip() == "%1 = cos %0 : f64[3]"
    assert lines[at] == "  >   %4 = mul %3, %0 : f32[3]"
    assert [ln.split()[1] for ln in lines[at + 1 : at + 4]] == ["=", "=", "="]
    assert len(lines) == at + 4  # 3 lines after, nothing more


def test_stray_param() -> None:
    y = param(0, T3, "y", 77)
    _expect(Function("f", (X,), (b.add(X, y),)), "'y' .*which is not a parameter", "param")


def test_param_that_is_not_a_param() -> None:
    with pytest.raises(VerifyError, match="parameter 0 of @f is a exp, not a param"):
        verify(Function("f", (b.exp(X),), (X,)))


@pytest.mark.parametrize("indices", [(0, 0), (1, 2), (0, 2)])
def test_param_indices(indices: tuple[int, int]) -> None:
    ps = [param(i, T3, f"p{k}") for k, i in enumerate(indices)]
    f = Function("f", tuple(ps), (b.add(ps[0], ps[1]),))
    _expect(f, r"parameter indices of @f are \[", r"func @f\(")


def test_wrong_shape() -> None:
    bad = Value.make(Op.NEG, TensorType(F64, (4,)), (X,))
    _expect(Function("f", (X,), (bad,)), r"neg: stored type f64\[4\] differs", "neg")


def test_type_rule_rejects_operands() -> None:
    y = param(1, TensorType(F32, (3,)), "y")
    bad = Value.make(Op.ADD, T3, (X, y))
    _expect(Function("f", (X, y), (bad,)), "the type rule rejects .*dtypes differ", "add")


@pytest.mark.parametrize(
    ("op", "operands", "pattern"),
    [
        (Op.MUL, 3, "mul takes 2 operands, got 3"),
        (Op.NEG, 2, "neg takes 1 operands, got 2"),
        (Op.WHERE, 2, "where takes 3 operands"),
        (Op.CONCATENATE, 0, "concatenate takes one or more operands, got 0"),
    ],
)
def test_operand_counts(op: Op, operands: int, pattern: str) -> None:
    attrs = (("axis", 0),) if op is Op.CONCATENATE else ()
    bad = Value.make(op, T3, (X,) * operands, attrs)
    _expect(Function("f", (X,), (bad,)), pattern, op.value)


@pytest.mark.parametrize(
    ("attrs", "pattern"),
    [
        ((), r"needs attributes \('axes',\)"),
        ((("axes", (0,)), ("keepdims", True)), "got \\('axes', 'keepdims'\\)"),
        ((("axes", (3,)),), "bad axes"),
    ],
)
def test_attributes(attrs: tuple, pattern: str) -> None:
    bad = Value.make(Op.REDUCE_SUM, TensorType(F64, ()), (X,), attrs)
    _expect(Function("f", (X,), (bad,)), pattern, "reduce_sum")


def test_unsorted_attributes() -> None:
    bad = Value.make(Op.PAD, TensorType(F64, (5,)), (X,), (("value", 0.0), ("pads", ((1, 1),))))
    _expect(Function("f", (X,), (bad,)), r"\('pads', 'value'\) in this order", "pad")


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (np.zeros(3, np.float32), "constant data of dtype float32 in a value of type f64"),
        (np.zeros(4), r"constant data of shape \(4,\)"),
    ],
)
def test_constant_data(data: np.ndarray, pattern: str) -> None:
    bad = Value.make(Op.CONST, T3, (), (("data", ConstData(data)),))
    _expect(Function("f", (X,), (b.add(X, bad),)), pattern, "const")


def test_bad_dim() -> None:
    bad = Value.make(Op.NEG, TensorType(F64, (-1,)), (X,))
    _expect(Function("f", (X,), (bad,)), "bad dim -1", "neg")


def test_cycle() -> None:
    a = b.unary(Op.NEG, X)
    c = b.exp(a)
    object.__setattr__(a, "operands", (c,))  # only a bug (or this test) can make a cycle
    try:
        _expect(Function("f", (X,), (c,)), "does not precede its user", "neg")
    finally:
        object.__setattr__(a, "operands", (X,))
    verify(Function("f", (X,), (c,)))


def test_loop_bodies_are_verified() -> None:
    from tracegrad.ir.prims.control import build_control

    f64 = TensorType(DType.FLOAT64, ())
    c = param(0, f64, "c")
    stray = param(5, f64, "stray")  # reached by the body but not one of its params
    body = Function("body", (c,), (b.add(c, stray),))
    x = param(0, f64, "x")
    (out,) = build_control(Op.SCAN, [x], body=body, length=2, num_consts=0, num_carry=1,
                           reverse=False)  # fmt: skip
    with pytest.raises(VerifyError, match="in @body, a sub-Function of @f"):
        verify(Function("f", (x,), (out,)))
