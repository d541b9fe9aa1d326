"""Regression tests from the review of 7276ec1 (runtime extents), 39ac7c7 (output pool) and
31c183a/a39485d (composite VJPs)."""

from __future__ import annotations

import types

import numpy as np
import pytest

import tracegrad.tensor as T  # noqa: N812 (Theano's spelling)
from tracegrad import function
from tracegrad.backend import InterpretBackend
from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType
from tracegrad.ir.types import Dim, TensorType
from tracegrad.ir.value import Function, param
from tracegrad.llvm.backend import LLVMBackend
from tracegrad.llvm.runtime import pool

# ---- runtime extents: dims the IR only assumes equal -------------------------------------


def _both(function_: Function, arrays: list[np.ndarray]) -> tuple[object, object]:
    """(LLVM result or exception, interpreter result or exception)."""
    results: list[object] = []
    for backend in (LLVMBackend(), InterpretBackend()):
        exe = backend.compile(function_)
        try:
            for _ in range(4):  # past the tier-up: the ctypes and the fastcall paths
                out = exe(arrays)
            results.append(out)
        except (ValueError, TypeError) as error:
            results.append(error)
    return results[0], results[1]


def test_two_parameter_dims_assumed_equal_are_checked_not_read_out_of_bounds() -> None:
    """x: f64[n] + y: f64[k] is typed f64[n] (the IR assumes k == n); a runtime-extent kernel
    iterated over n and read y past its end (garbage, not numpy's broadcast error)."""
    n, k = Dim("n"), Dim("k")
    x = param(0, TensorType(DType.FLOAT64, (n,)), "x")
    y = param(1, TensorType(DType.FLOAT64, (k,)), "y")
    fn = Function("f", (x, y), (b.add(x, y),))
    got, want = _both(fn, [np.arange(5.0), np.arange(2.0)])
    assert isinstance(want, ValueError)
    assert isinstance(got, ValueError), got
    got, want = _both(fn, [np.arange(3.0), np.arange(3.0)])
    np.testing.assert_array_equal(got[0], want[0])  # type: ignore[index]


def test_a_parameter_dim_assumed_equal_to_a_constant_length_is_not_read_out_of_bounds() -> None:
    """x: f64[n] + a length-3 constant is typed f64[3] (n assumed 3): with n = 1 the kernel
    read x[1], x[2] past the end; numpy (the interpreter) broadcasts."""
    n = Dim("n")
    x = param(0, TensorType(DType.FLOAT64, (n,)), "x")
    fn = Function("f", (x,), (b.add(x, b.to_value(np.array([10.0, 20.0, 30.0]))),))
    got, want = _both(fn, [np.array([1.0])])
    np.testing.assert_array_equal(got[0], want[0])  # type: ignore[index]
    np.testing.assert_array_equal(got[0], [11.0, 21.0, 31.0])  # type: ignore[index]


# ---- runtime extents: max/argmax over an empty extent with an empty result ----------------


@pytest.mark.parametrize(
    ("reduce", "fine"),
    [
        (lambda x: T.max(x, axis=1), (0, 3)),
        (lambda x: T.min(x, axis=0), (3, 0)),
        (lambda x: T.argmax(x, axis=1), (0, 3)),
        (lambda x: T.argmin(x, axis=0), (3, 0)),
    ],
    ids=["max1", "min0", "argmax1", "argmin0"],
)
def test_max_over_an_empty_extent_raises_even_when_the_result_is_empty(reduce, fine) -> None:  # type: ignore[no-untyped-def]
    """numpy raises for an empty reduced extent whatever the kept extents (np.max of a (0, 0)
    array over axis 1 raises); the plan only raised when the result was non-empty."""
    x = T.dmatrix("x")
    expr = reduce(x)
    empty = np.zeros((0, 0))
    with pytest.raises(ValueError):
        function([x], expr, backend="interpret")(empty)
    f = function([x], expr, backend="llvm")
    for _ in range(4):
        with pytest.raises(ValueError):
            f(empty)
        assert f(np.zeros(fine)).shape == (0,)  # an empty kept extent only: numpy allows it


# ---- output pool: the refcount baseline -----------------------------------------------------


def test_pool_does_not_hand_out_a_referenced_buffer_under_borrowed_local_loads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CPython 3.14 loads locals as borrowed references (LOAD_FAST_BORROW, cpython#130708),
    so sys.getrefcount(local) is one lower than on 3.11-3.13. The pool compared against a
    hard-coded 3: on 3.14 a buffer with one outside reference reads 3 and was recycled while
    still in use. Simulated here by a getrefcount one lower than this interpreter's (the
    lambda's own argument adds one more, hence - 2)."""
    real = pool.sys.getrefcount
    fake_sys = types.SimpleNamespace(getrefcount=lambda o: real(o) - 2)
    monkeypatch.setattr(pool, "sys", fake_sys)
    p = pool.OutputPool(budget_bytes=1 << 30)
    n = pool.MIN_BYTES // 8
    a = p.empty((n,), np.float64)
    a[:] = 1.0
    c = p.empty((n,), np.float64)  # a is alive: must be another buffer
    assert not np.shares_memory(a, c)
    c[:] = 2.0
    assert np.all(a == 1.0)
    address = c.ctypes.data
    del c
    d = p.empty((n,), np.float64)  # c was released: recycled
    assert d.ctypes.data == address


# ---- runtime extents: register names of multi-dim extents ------------------------------------


def test_prologue_register_names_never_collide() -> None:
    """The partial products of ``1*x.0*x.1`` were named ``%"e:1*x.0*x.1.0"``, the very name of
    the extent ``1*x.0*x.1.0`` (T names dims ``<var>.<axis>``, so a variable named "x.1"
    has a dim "x.1.0"): LLVM rejects the module (a local value defined twice)."""
    from tracegrad.llvm.codegen import Sym, prologue

    a = Sym(1, (Dim("x.0"), Dim("x.1")))
    c = Sym(1, (Dim("x.0"), Dim("x.1.0")))
    lines = prologue({a.llvm_name: a, c.llvm_name: c}, (Dim("x.0"), Dim("x.1"), Dim("x.1.0")))
    defined = [line.split(" = ")[0].strip() for line in lines]
    assert len(defined) == len(set(defined)), defined


def test_variables_named_like_another_variables_dims_compile() -> None:
    """End to end: variables "rvw" and "rvw.1" (dims rvw.0.. and rvw.1.0) made a kernel whose
    IR defined %"e:1*rvw.0*rvw.1.0" twice (LLVMCompileError at tracegrad.function)."""
    v, u, t = T.dvector("rvw.1"), T.dtensor3("rvw"), T.dtensor3("rvw_t")
    f = function([v, u, t], u.transpose(1, 0, 2) + t.transpose(1, 2, 0) + v, backend="llvm")
    rng = np.random.default_rng(0)
    a, c, w = rng.random(4), rng.random((2, 3, 4)), rng.random((4, 3, 2))
    np.testing.assert_allclose(f(a, c, w), c.transpose(1, 0, 2) + w.transpose(1, 2, 0) + a)


# ---- composite VJPs: checked fine (guards for what the review looked at) ------------------


def test_composites_match_op_by_op_under_masks_in_float32_to_second_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The composite path takes the masked cotangent as a whole (no mask peeling): values
    under a where-mask, float32, the Hessian and a JVP of the gradient (forward over reverse)
    agree with the op-by-op rules wherever those are finite; the composite gradient is
    finite everywhere (op by op, sqrt'(0) under the mask gives a NaN at x = 0)."""
    import tracegrad
    import tracegrad.numpy as tnp
    from tracegrad.autodiff import composites

    def f(x: np.ndarray) -> object:
        s = np.sqrt(np.abs(x))
        inner = tnp.sigmoid(s) * tnp.softplus(-x) + np.log(tnp.sigmoid(2.0 * x))
        return np.sum(np.where(x > 0, inner, 0.0) * x)

    def derivatives(dtype: type) -> list[np.ndarray]:
        x = np.array([0.0, -1.5, 1e-3, 2.5, 40.0, -40.0], dtype)
        v = np.linspace(-1, 1, x.size).astype(dtype)
        g = lambda y: f(y)  # noqa: E731 (a fresh function: grad caches per function)
        with np.errstate(all="ignore"):
            return [
                np.asarray(tracegrad.grad(g)(x)),
                np.asarray(tracegrad.hessian(g)(x)),
                np.asarray(tracegrad.jvp(tracegrad.grad(g), (x,), (v,))[1]),
            ]

    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        whole = derivatives(dtype)
        with monkeypatch.context() as mp:
            mp.setattr(composites, "COMPOSITES", ())
            op_by_op = derivatives(dtype)
        assert np.all(np.isfinite(whole[0]))  # op by op: NaN at x = 0 (sqrt'(0) leaks)
        for got, want in zip(whole, op_by_op, strict=True):
            assert got.dtype == want.dtype == dtype
            finite = np.isfinite(want)  # second order is NaN at x = 0 both ways
            np.testing.assert_allclose(got[finite], want[finite], rtol=tol, atol=tol)


# ---- composite VJPs: the library's own spellings -----------------------------------------


def test_softplus_second_derivative_at_zero() -> None:
    """tnp.softplus is maximum(x, 0) + log1p(exp(-|x|)), a form the composites did not match:
    op by op, maximum's tie and abs'(0) = 0 make the Hessian 0 at x = 0 (it is 1/4)."""
    import tracegrad
    import tracegrad.numpy as tnp

    x = np.array([0.0, -0.0, 1e-8, -2.0, 3.0])
    want = 1 / (2 + 2 * np.cosh(x))  # sigmoid'(x)
    hess = tracegrad.hessian(lambda y: np.sum(tnp.softplus(y)))(x)
    np.testing.assert_allclose(np.diag(hess), want, rtol=1e-12)
    v = T.dvector("sp_v")
    h = function([v], T.hessian(T.sum(tnp.softplus(v)), v))(x)
    np.testing.assert_allclose(np.diag(h), want, rtol=1e-12)


def test_theano_style_gradient_of_the_logistic_is_finite_at_large_margins() -> None:
    """T.grad differentiates the graph as written (no stabilization first), so the raw
    logistic 1 / (1 + exp(-x)) gave -0 * -inf = NaN at x = -800 (the gradient is 0)."""
    import tracegrad.numpy as tnp

    v = T.dvector("lg_v")
    g = function([v], T.grad(T.sum(tnp.sigmoid(v) * 3.0), v))
    x = np.array([-800.0, -40.0, 0.0, 2.0, 800.0])
    want = 3 * np.exp(-abs(x)) / (1 + np.exp(-abs(x))) ** 2
    np.testing.assert_allclose(g(x), want, rtol=1e-14, atol=0)
