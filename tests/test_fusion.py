"""Fusion: one kernel per elementwise chain (+ broadcasts, + one trailing reduction), CSE
inside kernels, the multi-consumer policy (cut real ops, duplicate broadcasts), and fused
results bitwise equal to unfused ones."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_passes import programs

import tracegrad
from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.fusion import fuse
from tracegrad.ir.interpreter import evaluate
from tracegrad.ir.ops import Op
from tracegrad.ir.passes import count_kernels, optimize
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, param
from tracegrad.ir.verifier import verify

x = param(0, TensorType(DType.FLOAT64, (4, 3)), "x")
s = param(1, TensorType(DType.FLOAT64, (3,)), "s")


def kernels(f: Function) -> list:
    return [v for v in f.order if v.op is Op.FUSED]


def test_chain_with_broadcast_and_trailing_reduction_is_one_kernel() -> None:
    f = fuse(Function("f", (x, s), (bs.sum(b.exp(b.mul(x, s)), 0),)))
    verify(f)
    (k,) = kernels(f)
    assert f.outputs[0] is k and k.operands == (x, s)  # the broadcast of s is inside
    body = k.attr("function")
    assert [v.op for v in body.ops()] == [Op.BROADCAST, Op.MUL, Op.EXP, Op.REDUCE_SUM]


def test_shared_intermediate_is_cut_not_recomputed() -> None:
    e = b.exp(b.neg(x))
    f = fuse(Function("f", (x,), (b.mul(2.0, b.log(e)), b.add(1.0, b.sqrt(e)))))
    verify(f)
    # exp(-x) is used by both outputs: computed once by its own kernel, read by both others
    assert len(kernels(f)) == 3
    assert all(sum(o.op is Op.EXP for o in k.attr("function").order) <= 1 for k in kernels(f))


def test_single_op_is_not_a_kernel() -> None:
    f = Function("f", (x,), (b.exp(x),))
    assert fuse(f) is f


def test_logistic_gradient_is_one_kernel_computing_exp_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")
    raw = tracegrad.make_ir(tracegrad.grad(lambda v: np.sum(1 / (1 + np.exp(-v)))))(np.zeros(5))
    g = optimize(raw, verify=True)
    (k,) = kernels(g)
    assert g.outputs[0] is k and count_kernels(g) == 1
    assert sum(v.op is Op.EXP for v in k.attr("function").order) == 1
    arg = np.array([-800.0, -3.0, 0.0, 2.0, 800.0])
    expected = np.exp(-np.abs(arg)) / (1 + np.exp(-np.abs(arg))) ** 2
    np.testing.assert_allclose(evaluate(g, [arg])[0], expected, rtol=1e-14, atol=1e-300)


@settings(max_examples=40)
@given(f=programs(), data=st.data())
def test_fusion_is_bitwise(f: Function, data: st.DataObject) -> None:
    unfused = optimize(f, 1)
    fused = fuse(unfused)
    verify(fused)
    args = [data.draw(hnp.arrays(np.float64, p.shape)) for p in f.params]
    for a, c in zip(evaluate(unfused, args), evaluate(fused, args), strict=True):
        np.testing.assert_array_equal(a, c)
        assert np.array_equal(np.signbit(a), np.signbit(c))
    assert count_kernels(fused) <= count_kernels(unfused)
