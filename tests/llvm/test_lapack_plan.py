"""The plan's LAPACK steps (issue #15 item 4, tracegrad.llvm.plan.lapack): one LU factorization
per matrix serves solve, slogdet, inv and their gradients (the transposed solves and the
inverse transposed), with numpy's values and errors; transposed matrices are read as views
(getrs and trsm with A^T); lone numpy steps skip the interpreter; a packed cotangent is not
padded and sliced back."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad
import tracegrad.numpy as tnp
from tracegrad.ir.passes import optimize
from tracegrad.llvm.backend import LLVMBackend
from tracegrad.llvm.plan import lapack
from tracegrad.llvm.plan.kernels import describe
from tracegrad.llvm.plan.runs import OpRun
from tracegrad.llvm.runtime import blas

RNG = np.random.default_rng(44)
N = 6
_X = RNG.standard_normal((N, N))
SPD = _X @ _X.T + N * np.eye(N)
SQUARE = RNG.standard_normal((N, N))
R = RNG.standard_normal(N)
LOG_2PI = float(np.log(2 * np.pi))


def loglik(s, r):  # noqa: ANN001, ANN201
    return -0.5 * (r @ np.linalg.solve(s, r) + np.linalg.slogdet(s)[1] + len(r) * LOG_2PI)


def loglik_cholesky(s, r):  # noqa: ANN001, ANN201
    low = np.linalg.cholesky(s)
    z = np.linalg.solve(low, r)
    return -0.5 * (z @ z + 2.0 * np.sum(np.log(np.diagonal(low))) + len(r) * LOG_2PI)


def compiled(f, *args):  # noqa: ANN001, ANN201
    function = optimize(tracegrad.make_ir(f)(*args))
    return function, LLVMBackend().compile(function)


class Counting:
    """Counts the factorizations (gesv and getrf) made by the plan."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        of, solving = blas.LU.of, blas.LU.solving

        def count_of(a):  # noqa: ANN001, ANN202
            self.calls += 1
            return of(a)

        def count_solving(a, b):  # noqa: ANN001, ANN202
            self.calls += 1
            return solving(a, b)

        monkeypatch.setattr(blas.LU, "of", staticmethod(count_of))
        monkeypatch.setattr(blas.LU, "solving", staticmethod(count_solving))


def test_one_factorization_serves_value_and_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    vg = tracegrad.value_and_grad(loglik, argnums=(0, 1))
    function, exe = compiled(vg, SPD, R)
    lines = [line for line in describe(function) if line.startswith("lapack")]
    assert len(lines) == 4 and all("LU of %0" in line for line in lines)  # solve, slogdet, 2 VJPs
    counting = Counting(monkeypatch)
    value, g_s, g_r = exe([SPD, R])
    assert counting.calls == 1
    a = np.linalg.solve(SPD, R)
    np.testing.assert_allclose(value, loglik(SPD, R), rtol=1e-13)
    np.testing.assert_allclose(g_s, 0.5 * (np.outer(a, a) - np.linalg.inv(SPD)), rtol=1e-10)
    np.testing.assert_allclose(g_r, -a, rtol=1e-12)


@pytest.mark.parametrize("form", [loglik, loglik_cholesky])
def test_loglik_gradients_match_finite_differences(form) -> None:  # noqa: ANN001
    f = tracegrad.jit(tracegrad.grad(lambda s, r: form((s + s.T) / 2, r), argnums=(0, 1)))
    g_s, g_r = f(SPD, R)
    eps = 1e-6
    for i, j in [(0, 0), (1, 3), (4, 2), (5, 5)]:
        e = np.zeros_like(SPD)
        e[i, j] = eps
        fd = (form((SPD + e + (SPD + e).T) / 2, R) - form((SPD - e + (SPD - e).T) / 2, R)) / (
            2 * eps
        )
        np.testing.assert_allclose(g_s[i, j], fd, rtol=1e-6, atol=1e-9)
    for i in range(N):
        e = np.eye(N)[i] * eps
        fd = (form(SPD, R + e) - form(SPD, R - e)) / (2 * eps)
        np.testing.assert_allclose(g_r[i], fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_values_are_numpys_bits(dtype) -> None:  # noqa: ANN001
    a, b = SQUARE.astype(dtype), RNG.standard_normal((N, 3)).astype(dtype)
    f = tracegrad.jit(lambda a, b: (np.linalg.solve(a, b), np.linalg.inv(a), *np.linalg.slogdet(a)))
    x, inv, sign, logdet = f(a, b)
    np.testing.assert_array_equal(x, np.linalg.solve(a, b))
    np.testing.assert_array_equal(inv, np.linalg.inv(a))
    assert sign == np.linalg.slogdet(a)[0] and logdet == np.linalg.slogdet(a)[1]
    assert x.dtype == inv.dtype == logdet.dtype == dtype


def test_transposed_matrices_are_views_of_one_factorization(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b = RNG.standard_normal((N, 2))

    def f(a, b):  # noqa: ANN001, ANN202
        return np.linalg.solve(a.T, b), np.linalg.solve(a, b), tnp.linalg.solve_triangular(a.T, b)

    function, exe = compiled(f, SQUARE, b)
    assert not any(line.startswith("kernel") for line in describe(function))  # no copies
    counting = Counting(monkeypatch)
    x_t, x, tri = exe([SQUARE, b])
    assert counting.calls == 1
    np.testing.assert_allclose(x_t, np.linalg.solve(SQUARE.T, b), rtol=1e-12)
    np.testing.assert_array_equal(x, np.linalg.solve(SQUARE, b))
    np.testing.assert_allclose(tri, np.linalg.solve(np.triu(SQUARE.T), b), rtol=1e-12)


def test_logdet_gradient_is_the_inverse_transposed_without_padding() -> None:
    f = tracegrad.grad(lambda a: np.linalg.slogdet(a)[1])
    function, exe = compiled(f, SQUARE)
    assert not any(" pad " in line or " slice " in line for line in describe(function))
    np.testing.assert_allclose(exe([SQUARE])[0], np.linalg.inv(SQUARE).T, rtol=1e-12)


def test_singular_matrices_give_numpys_results() -> None:
    singular = np.ones((3, 3))
    sign, logdet = tracegrad.jit(lambda a: tuple(np.linalg.slogdet(a)))(singular)
    assert (sign, logdet) == (0.0, -np.inf)
    with pytest.raises(np.linalg.LinAlgError, match="Singular matrix"):
        tracegrad.jit(lambda a: (np.linalg.slogdet(a)[1], np.linalg.solve(a, np.ones(3))))(singular)
    with pytest.raises(np.linalg.LinAlgError, match="Singular matrix"):
        tracegrad.jit(tracegrad.grad(lambda a: np.linalg.slogdet(a)[1]))(singular)
    nan = SQUARE.copy()
    nan[1, 2] = np.nan
    got = tracegrad.jit(np.linalg.solve)(nan, R)
    np.testing.assert_array_equal(got, np.linalg.solve(nan, R))  # NaN, as numpy


def test_without_lapacke_the_plan_keeps_numpys_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blas.LU, "of", staticmethod(lambda a: None))
    monkeypatch.setattr(blas.LU, "solving", staticmethod(lambda a, b: None))
    f = tracegrad.value_and_grad(loglik, argnums=(0, 1))
    _, exe = compiled(f, SPD, R)
    assert any(isinstance(r, lapack.FactorRun) for r in exe.runs)
    value, g_s, _ = exe([SPD, R])
    a = np.linalg.solve(SPD, R)
    np.testing.assert_allclose(value, loglik(SPD, R), rtol=1e-13)
    np.testing.assert_allclose(g_s, 0.5 * (np.outer(a, a) - np.linalg.inv(SPD)), rtol=1e-10)


def test_stacks_keep_numpys_functions() -> None:
    stack = RNG.standard_normal((2, N, N))
    f = tracegrad.jit(lambda a: (np.linalg.inv(a), np.linalg.slogdet(a)[1]))
    inv, logdet = f(stack)
    np.testing.assert_array_equal(inv, np.linalg.inv(stack))
    np.testing.assert_array_equal(logdet, np.linalg.slogdet(stack)[1])


def test_a_lone_numpy_step_skips_the_interpreter() -> None:
    x = RNG.standard_normal((3, 4))
    f = lambda x: np.pad(np.sort(x, axis=1), 1) * 2.0  # noqa: E731
    _, exe = compiled(f, x)
    assert any(isinstance(r, OpRun) for r in exe.runs)
    np.testing.assert_array_equal(exe([x])[0], f(x))
