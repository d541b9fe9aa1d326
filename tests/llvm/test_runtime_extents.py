"""Symbolic dims as runtime extents: a symbolic Function compiles once and its kernels read
the extents of each call (tracegrad/llvm/codegen/extents.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegrad.tensor as T  # noqa: N812 (Theano's spelling)
from tracegrad import function
from tracegrad.ir import build as b
from tracegrad.ir import build_shape
from tracegrad.ir.dtypes import DType
from tracegrad.ir.types import Dim, TensorType
from tracegrad.ir.value import Function, param
from tracegrad.llvm import backend as llvm_backend
from tracegrad.llvm.backend import (
    LLVMBackend,
    PlanExecutable,
    SymbolicExecutable,
    build_executable,
)
from tracegrad.llvm.codegen import concretize
from tracegrad.llvm.machine import engine
from tracegrad.llvm.mathlib import library as mathlib
from tracegrad.testing.ulp import assert_ulp_close

ODD_SIZES = (0, 1, 7, 17, 1023)


@pytest.fixture
def count_compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the modules compiled through the engine while the test runs."""
    seen: list[str] = []
    real = engine.compile_module

    def spy(text: str, *args: object, **kwargs: object) -> engine.CompiledModule:
        seen.append(str(kwargs.get("name_hint", "")))
        return real(text, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(llvm_backend.engine, "compile_module", spy)
    return seen


def _logistic_program() -> tuple:
    x, y = T.dmatrix("x"), T.dvector("y")
    p = 1 / (1 + T.exp(-(x + y)))
    cost = T.sum(p, axis=1)
    outputs = [cost, T.grad(T.sum(cost), x), T.max(x, axis=0), T.argmax(x, axis=1)]
    outputs += [T.sum(x), T.sum(x.T * 2.0, axis=1), T.prod(x, axis=0)]
    return function([x, y], outputs, backend="llvm"), (x, y)


def _reference(a: np.ndarray, b: np.ndarray) -> list[np.ndarray]:
    p = 1 / (1 + np.exp(-(a + b)))
    return [p.sum(1), p * (1 - p), a.max(0), a.argmax(1), a.sum(), (2 * a).sum(0), a.prod(0)]


def test_symbolic_function_compiles_once_for_every_shape(count_compiles: list[str]) -> None:
    f, _ = _logistic_program()
    assert isinstance(f.executable, PlanExecutable)
    assert "%ext" in f.executable.source_ir  # kernels read their extents at run time
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (5, 7), (1, 1), (40, 33), (2, 1023), (1023, 2), (300, 1), (1, 300)]
    for shape in shapes * 2:  # the second round runs the tiered-up native wrappers
        a, b = rng.random(shape), rng.random(shape[1])
        got = f(a, b)
        for g, want in zip(got, _reference(a, b), strict=True):
            assert g.shape == np.shape(want)
            np.testing.assert_allclose(g, want, rtol=1e-13, atol=1e-15)
    # one module for the kernels (at function()) and one for the fastcall wrappers
    assert count_compiles == ["f", "f.wrappers"] and f.compile_count == 1


def test_runtime_extent_kernels_match_the_concrete_ones_bitwise() -> None:
    """Elementwise kernels and max/argmax give the bits of the per-shape kernels."""
    x, y = T.dmatrix("x"), T.drow("y")
    outputs = [T.tanh(x) * y + T.exp(-x), T.max(x * y, axis=1), T.argmin(x, axis=0)]
    f = function([x, y], outputs, backend="llvm")
    rng = np.random.default_rng(1)
    for shape in [(1, 1), (7, 17), (17, 7), (3, 1023), (1, 0)]:
        a, b = rng.normal(size=shape), rng.normal(size=(1, shape[1]))
        a[0, :1] = np.nan
        if 0 in shape:
            outputs_ok = [0]  # only the elementwise output is defined on an empty matrix
        else:
            outputs_ok = [0, 1, 2]
        fixed = build_executable(concretize(f.optimized_function, (a.shape, b.shape)))
        want = fixed([a, b]) if 0 not in shape else None
        got = f.executable([a, b]) if 0 not in shape else None
        if got is None:
            with pytest.raises(ValueError):
                f.executable([a, b])
            continue
        for k in outputs_ok:
            assert _bits(got[k]) == _bits(want[k]), (shape, k)  # type: ignore[index]


def _bits(a: np.ndarray) -> tuple[bytes, bytes]:
    """The bits of every non-NaN element and where the NaNs are (a NaN's sign and payload
    depend on the instruction that made it: numpy does not define them either)."""
    nan = np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)
    return np.where(nan, 0, a).tobytes(), nan.tobytes()


@settings(max_examples=25, deadline=None)
@given(
    n=st.sampled_from(ODD_SIZES),
    m=st.sampled_from(ODD_SIZES),
    dtype=st.sampled_from(["float32", "float64", "int32", "int64", "bool"]),
    data=st.data(),
)
def test_reductions_and_broadcasts_on_odd_sizes(n: int, m: int, dtype: str, data) -> None:
    f = _reductions(dtype)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    a = (rng.normal(size=(n, m)) * 4).astype(dtype)
    v = (rng.normal(size=(m,)) * 4).astype(dtype)
    got = f(a, v)
    want = [
        (a * v) if dtype != "bool" else (a & v),
        np.sum(a, axis=0),
        np.sum(a, axis=1),
        np.sum(a),
    ]
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        if dtype.startswith("float"):
            np.testing.assert_allclose(g, w, rtol=2e-5 if dtype == "float32" else 1e-12, atol=1e-4)
        else:
            np.testing.assert_array_equal(g, w)
    if n and m:
        wants = [a.max(0), a.max(1), a.argmax(0), a.argmax(1)]
        for g, w in zip(f.maxes(a), wants, strict=True):
            np.testing.assert_array_equal(g, w)


_CACHE: dict[str, object] = {}


def _reductions(dtype: str):  # type: ignore[no-untyped-def]
    """One compiled function per dtype for the hypothesis test (compiled once, reused)."""
    if dtype not in _CACHE:
        x, v = T.matrix("x", dtype), T.vector("v", dtype)
        prod = x & v if dtype == "bool" else x * v
        f = function([x, v], [prod, T.sum(x, axis=0), T.sum(x, axis=1), T.sum(x)])
        y = T.matrix("y", dtype)
        f.maxes = function(  # type: ignore[attr-defined]
            [y], [T.max(y, axis=0), T.max(y, axis=1), T.argmax(y, axis=0), T.argmax(y, axis=1)]
        )
        _CACHE[dtype] = f
    return _CACHE[dtype]


def test_empty_reduced_extent_raises_numpys_error_and_sum_is_zero() -> None:
    x = T.dmatrix("x")
    f = function([x], T.max(x, axis=1))
    g = function([x], T.sum(x, axis=1))
    with pytest.raises(ValueError, match="zero-size array"):
        f(np.zeros((3, 0)))
    assert g(np.zeros((3, 0))).tolist() == [0.0, 0.0, 0.0]
    assert f(np.zeros((0, 4))).shape == (0,)  # empty result: numpy allows it


def test_inconsistent_dims_are_rejected_before_native_code() -> None:
    x, y = T.dvector("x"), T.dvector("y")
    f = function([x], [x + x])
    h = function([x, y], [x * 2.0, y + 1.0])
    assert f(np.ones(5))[0].shape == (5,)
    with pytest.raises(TypeError, match="wrong number of dimensions"):
        function([x], x + x)(np.ones((2, 2)))
    assert [r.shape for r in h(np.ones(2), np.ones(3))] == [(2,), (3,)]
    xy = function([x, y], x * y)
    with pytest.raises(ValueError):
        xy(np.ones(2), np.ones(3))


def test_runtime_extents_and_threads_give_the_same_bits() -> None:
    x = T.dmatrix("x")
    f = function([x], [T.exp(x) / (1 + x * x), T.sum(T.tanh(x), axis=1)])
    a = np.random.default_rng(2).normal(size=(600, 1000))
    threaded = f.executable([a])
    f.executable.use_threads = False
    single = f.executable([a])
    for t, s in zip(threaded, single, strict=True):
        assert t.tobytes() == s.tobytes()


def test_dims_derived_inside_the_function_still_specialize_per_shape() -> None:
    n, m = Dim("n"), Dim("m")
    x = param(0, TensorType(DType.FLOAT64, (n,)), "x")
    y = param(1, TensorType(DType.FLOAT64, (m,)), "y")
    joined = build_shape.concatenate([x, y], 0)  # length n + m: a dim no parameter has
    exe = LLVMBackend().compile(Function("f", (x, y), (b.add(joined, joined),)))
    assert isinstance(exe, SymbolicExecutable)
    np.testing.assert_array_equal(exe([np.ones(2), np.zeros(3)])[0], [2, 2, 0, 0, 0])
    np.testing.assert_array_equal(exe([np.ones(1), np.zeros(1)])[0], [2, 0])


def test_function_calls_skip_the_plan_once_hot(monkeypatch: pytest.MonkeyPatch) -> None:
    """After tier-up, tracegrad.function hands exact arrays straight to the kernel
    (hot.symbolic); anything unusual still takes the plan's path with its checks."""
    x, y = T.dmatrix("x"), T.dvector("y")
    f = function([x, y], [T.exp(x) * y, x + 1.0])
    a, v = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 3.0])
    for _ in range(4):
        f(a, v)
    assert f.executable.hot.symbolic is not None
    calls: list[int] = []
    real = PlanExecutable.__call__
    monkeypatch.setattr(
        PlanExecutable, "__call__", lambda self, arrays: calls.append(1) or real(self, arrays)
    )
    for shape in [(2, 3), (5, 3), (1, 3), (4, 0)]:
        a = np.random.default_rng(0).normal(size=shape)
        v = np.random.default_rng(1).normal(size=shape[1])
        got = f(a, v)
        # exp is a math-library call: compared with a correctly rounded reference (numpy's
        # own exp differs per CPU); the product adds one rounding, in a binade of its own
        bound = 2 * mathlib.MAX_ULP["double"]["exp"] + 1
        assert_ulp_close(got[0], lambda p, q: np.exp(p) * q, a, v, max_ulp=bound)
        np.testing.assert_array_equal(got[1], a + 1.0)
    assert calls == []  # all four shapes ran without the plan
    np.testing.assert_array_equal(f(a.T.copy().T, v)[1], a + 1.0)  # same layout: fast
    strided = np.arange(12.0).reshape(2, 6)[:, ::2]  # not C-contiguous: the plan copies it
    np.testing.assert_array_equal(f(strided, np.ones(3))[1], strided + 1.0)
    with pytest.raises(ValueError, match="must be equal"):
        f(np.ones((2, 3)), np.ones(4))  # declined natively, explained by the front end
    assert len(calls) == 1
