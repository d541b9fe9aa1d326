"""The LLVM backend end to end: plans, fallbacks, layouts, the fast path, symbolic dims,
matmul, threads, inspection, and the jit default."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _lowering_util import BACKEND, check, function_of, run_both  # noqa: E402

import tracegrad  # noqa: E402
from tracegrad.backend import get_backend  # noqa: E402
from tracegrad.ir import build as b  # noqa: E402
from tracegrad.ir import build_shape as bs  # noqa: E402
from tracegrad.ir.dtypes import DType  # noqa: E402
from tracegrad.ir.ops import Op  # noqa: E402
from tracegrad.ir.types import Dim, TensorType  # noqa: E402
from tracegrad.ir.value import Function, param  # noqa: E402
from tracegrad.llvm import backend as llvm_backend  # noqa: E402
from tracegrad.llvm.plan import runs as plan_runs  # noqa: E402
from tracegrad.llvm.plan.kernels import count_kinds  # noqa: E402


def test_llvm_is_the_default_backend() -> None:
    assert get_backend().name in ("llvm", "interpret")  # env may force the oracle
    assert get_backend("llvm").name == "llvm"


def test_elementwise_chain_is_one_kernel(rng: np.random.Generator) -> None:
    x, y = rng.standard_normal((8, 5)), rng.standard_normal(5)

    def fn(a, c):
        t = b.mul(b.add(a, c), b.exp(a))
        return b.sub(t, 1.0), b.maximum(t, a)

    exe = BACKEND.compile(function_of(fn, [x, y]))
    assert count_kinds(exe.plan) == {"elementwise": 1}
    check(fn, x, y, ulp=2)


def test_movement_and_indexing_fall_back_per_node(rng: np.random.Generator) -> None:
    x = rng.standard_normal((4, 6))
    idx = np.array([3, 0, 2], dtype=np.int64)

    def fn(a, i):
        r = bs.reshape(b.exp(a), (6, 4))
        t = bs.transpose(r, (1, 0))
        c = bs.concatenate([t, a], axis=1)
        g = bs.take(c, i, axis=1)
        return b.mul(bs.cumsum(g, axis=0), 2.0), bs.sum(b.mul(t, t), axis=1)

    got, want = run_both(fn, x, idx)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-14)
    kinds = count_kinds(BACKEND.compile(function_of(fn, [x, idx])).plan)
    assert kinds["InterpretStep"] >= 3 and kinds["elementwise"] >= 1


def test_transpose_and_slice_read_as_strided_views(rng: np.random.Generator) -> None:
    x = rng.standard_normal((6, 9))

    def fn(a):
        t = bs.transpose(a, (1, 0))
        s = b.apply(Op.SLICE, [a], slices=((5, -1, -2), (1, 9, 3)))
        return b.mul(t, 2.0), b.add(s, 1.0)

    exe = BACKEND.compile(function_of(fn, [x]))
    assert count_kinds(exe.plan) == {"elementwise": 2}
    check(fn, x)


def test_non_contiguous_and_byteswapped_inputs(rng: np.random.Generator) -> None:
    base = rng.standard_normal((9, 14))
    fn = function_of(lambda a: b.mul(b.add(a, 1.0), a), [base[::2, ::-3]])
    exe = BACKEND.compile(fn)
    for view in (base[::2, ::-3], np.asfortranarray(base[::2, ::-3])):
        np.testing.assert_array_equal(exe([view])[0], (view + 1.0) * view)
    swapped = base[::2, ::-3].astype(">f8")
    np.testing.assert_array_equal(exe([swapped])[0], (swapped + 1.0) * swapped)


def test_bad_shape_is_rejected_before_native_code() -> None:
    exe = BACKEND.compile(function_of(lambda a: b.mul(a, a), [np.zeros(4)]))
    with pytest.raises(ValueError):
        exe([np.zeros(5)])
    with pytest.raises(TypeError):
        exe([np.zeros(4), np.zeros(4)])


def test_fast_call_and_tier_up(rng: np.random.Generator) -> None:
    x = rng.standard_normal(33)
    exe = BACKEND.compile(function_of(lambda a: b.mul(a, 3.0), [x]))
    for _ in range(llvm_backend.TIER_UP_CALLS + 1):
        (out,) = exe.fast_call(x)
        np.testing.assert_array_equal(out, x * 3.0)
    assert exe._fast_path() is not None  # the METH_FASTCALL wrapper is in use
    (out,) = exe.fast_call(x[::-1])  # wrong layout: the wrapper refuses, Python converts
    np.testing.assert_array_equal(out, x[::-1] * 3.0)
    (out,) = exe.fast_call(x.astype(np.float32))
    np.testing.assert_array_equal(out, x.astype(np.float32).astype(np.float64) * 3.0)


def test_symbolic_dims_specialize_per_shape(rng: np.random.Generator) -> None:
    n = Dim("n")
    xp = param(0, TensorType(DType.FLOAT64, (n, 3)), "x")
    fn = Function("f", (xp,), (bs.sum(b.mul(xp, xp), axis=0),))
    exe = BACKEND.compile(fn)
    for rows in (0, 1, 5, 17):
        x = rng.standard_normal((rows, 3))
        np.testing.assert_allclose(exe([x])[0], (x * x).sum(0), rtol=1e-14)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matmul_with_fused_elementwise(dtype: str, rng: np.random.Generator) -> None:
    a, w, bias = (rng.standard_normal(s).astype(dtype) for s in [(5, 7), (7, 3), (3,)])
    fn = lambda x, m, c: b.unary(Op.TANH, b.add(bs.matmul(b.mul(x, 2.0), m), c))  # noqa: E731
    exe = BACKEND.compile(function_of(fn, [a, w, bias]))
    assert count_kinds(exe.plan) == {"elementwise": 2, "MatmulStep": 1}
    got, want = run_both(fn, a, w, bias)
    np.testing.assert_array_max_ulp(got[0], want[0], maxulp=4)


def test_threads_are_bitwise_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_runs, "THREAD_MIN_WORK", 1 << 12)
    x = np.random.default_rng(3).standard_normal(100_003)
    fn = function_of(lambda a: b.mul(b.exp(b.neg(b.mul(a, a))), a), [x])
    threaded = llvm_backend.LLVMBackend(threads=True).compile(fn)
    single = llvm_backend.LLVMBackend(threads=False).compile(fn)
    assert threaded.runs[0].threaded
    assert threaded([x])[0].tobytes() == single([x])[0].tobytes()


def test_lowered_inspection() -> None:
    f = tracegrad.jit(lambda x: np.sum(np.exp(x) * 2.0), backend="llvm")
    low = f.lower(np.zeros(1000))
    assert "define" in low.llvm_ir and ".body" in low.asm
    assert float(f(np.zeros(1000))) == 2000.0


def test_jit_grad_runs_on_llvm() -> None:
    g = tracegrad.jit(tracegrad.grad(lambda x: np.sum(1.0 / (1.0 + np.exp(-x)))), backend="llvm")
    x = np.linspace(-3, 3, 1001)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(g(x), s * (1 - s), rtol=1e-12)


def test_all_dtypes_zero_size_and_scalars() -> None:
    for dt in ("float64", "float32", "int32", "int64", "bool"):
        for shape in [(), (0,), (1,), (7,), (17,), (3, 0, 2)]:
            x = np.ones(shape, dt)
            check(lambda a: (b.maximum(a, a), bs.sum(a, axis=None) if a.ndim else a), x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_transposed_matmul_operands_are_views_not_copies(dtype: str) -> None:
    """x.T @ g and g @ w.T (the backward pass of a dense layer): BLAS reads the transposed
    buffers directly; no kernel copies them; results equal the interpreter's."""
    rng = np.random.default_rng(5)
    x, g, w = (rng.standard_normal(s).astype(dtype) for s in [(64, 33), (64, 17), (21, 17)])
    fn = lambda a, c, m: (bs.matmul(bs.transpose(a), c), bs.matmul(c, bs.transpose(m)))  # noqa: E731
    exe = BACKEND.compile(function_of(fn, [x, g, w]))
    assert count_kinds(exe.plan) == {"MatmulStep": 2}
    got, want = run_both(fn, x, g, w)
    for a, e in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, e)
    # a transpose also used elementwise is read inline there and still a view for BLAS
    both = lambda a, c: b.add(bs.matmul(bs.transpose(a), c), bs.sum(bs.transpose(a)))  # noqa: E731
    got, want = run_both(both, x, g)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)


def test_lone_reshapes_are_views(rng: np.random.Generator) -> None:
    a = rng.standard_normal((6, 4))
    fn = lambda x: b.exp(bs.reshape(b.apply(Op.REDUCE_SUM, [x], axes=(1,)), (6, 1)))  # noqa: E731
    exe = BACKEND.compile(function_of(fn, [a]))
    assert any(type(r).__name__ == "ReshapeRun" for r in exe.runs)
    np.testing.assert_allclose(exe([a])[0], np.exp(a.sum(1, keepdims=True)), rtol=1e-14)
