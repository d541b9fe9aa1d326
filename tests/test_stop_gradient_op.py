"""stop_gradient is a primitive (a row: identity value, zero VJP, lowered to nothing), and the
one graph-rebuild walk (``tracegrad.ir.rebuild``) that the transforms share."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.pp import pp
from tracegrad.ir.prims import PRIMS
from tracegrad.ir.rebuild import rebuild, rebuild_function
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, param

X = param(0, TensorType(DType.FLOAT64, (3,)), "x")
Y = param(1, TensorType(DType.FLOAT64, (3,)), "y")


def test_stop_gradient_is_a_row() -> None:
    row = PRIMS[Op.STOP_GRADIENT]
    data = np.array([1.5, -0.0, np.nan])
    np.testing.assert_array_equal(row.numpy_impl(data), data)
    assert row.vjp is not None and row.vjp(b.to_value(1.0), X, {}) == (None,)
    v = b.apply(Op.STOP_GRADIENT, [X])
    assert v.type == X.type and v.attrs == ()


def test_traced_stop_gradient_is_the_op() -> None:
    function = tg.make_ir(lambda x: x * tg.stop_gradient(np.sin(x)))(np.ones(3))
    assert [v.op for v in function.ops()] == [Op.SIN, Op.STOP_GRADIENT, Op.MUL]
    assert "stop_gradient(sin(arg0))" in pp(function)


@pytest.mark.parametrize("backend", ["llvm", "interpret"])
def test_values_and_gradients(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEGRAD_BACKEND", backend)
    x = np.linspace(-1.0, 2.0, 5)

    def f(v):  # noqa: ANN001, ANN202
        return np.sum(v * tg.stop_gradient(np.exp(v)))

    np.testing.assert_allclose(tg.jit(f)(x), np.sum(x * np.exp(x)), rtol=1e-14)
    np.testing.assert_allclose(tg.grad(f)(x), np.exp(x), rtol=1e-14)  # not (1 + x) e^x
    np.testing.assert_allclose(tg.jit(tg.grad(f))(x), np.exp(x), rtol=1e-14)
    out = tg.jit(lambda v: tg.stop_gradient(v * 2.0))(x)  # the op as an output
    np.testing.assert_array_equal(out, x * 2.0)
    jac = tg.jacobian(lambda v: v * tg.stop_gradient(v))(x)  # batched through the op
    np.testing.assert_allclose(jac, np.diag(x), rtol=1e-14)


def test_rebuild_substitutes_and_reapplies() -> None:
    out = b.add(b.exp(X), b.neg(X))
    (swapped,) = rebuild([out], seed={id(X): Y})
    assert swapped is b.add(b.exp(Y), b.neg(Y))  # interned: the same graph on y
    (unchanged,) = rebuild([out])
    assert unchanged is out
    (dropped,) = rebuild([out], lambda v, ops: ops[0] if v.op is Op.NEG else None)
    assert dropped is b.add(b.exp(X), X)


def test_rebuild_function_keeps_the_object_when_nothing_changes() -> None:
    f = Function("f", (X,), (b.exp(X),))
    assert rebuild_function(f, lambda v, ops: None) is f
    g = rebuild_function(f, lambda v, ops: b.log(ops[0]) if v.op is Op.EXP else None)
    assert g.outputs[0] is b.log(X) and g.params == f.params


def test_rebuild_is_iterative() -> None:
    v = X
    for _ in range(20000):  # deeper than Python's recursion limit
        v = b.neg(v)
    (out,) = rebuild([v], seed={id(X): Y})
    assert out.op is Op.NEG and out.operands[0].op is Op.NEG
