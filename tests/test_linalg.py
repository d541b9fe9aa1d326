"""numpy.linalg under jit (issue #15 item 1, linear algebra): values against numpy on single
matrices, stacks, float32, integer inputs and size-0 arrays; numpy's errors (LinAlgError at
call time) and NaN where numpy gives them; dispatch of every ``np.linalg`` name."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tracegrad
import tracegrad.numpy as tnp
from tracegrad.errors import UnsupportedError
from tracegrad.numpy import dispatch

RNG = np.random.default_rng(15)
SQUARE = RNG.standard_normal((4, 4))
SPD = SQUARE @ SQUARE.T + 4 * np.eye(4)
STACK = RNG.standard_normal((2, 3, 4, 4))
SPD_STACK = STACK @ np.swapaxes(STACK, -1, -2) + 4 * np.eye(4)
TALL = RNG.standard_normal((5, 3))
RHS = RNG.standard_normal(4)
RHS_MATRIX = RNG.standard_normal((4, 2))


def _first(f: Callable) -> Callable:
    return lambda *a: f(*a)[0]


def _second(f: Callable) -> Callable:
    return lambda *a: f(*a)[1]


def _third(f: Callable) -> Callable:
    return lambda *a: f(*a)[2]


# name -> (function, arguments, exact): exact when the row is numpy's own LAPACK call
CASES: dict[str, tuple[Callable, tuple, bool]] = {
    "cholesky": (np.linalg.cholesky, (SPD,), True),
    "cholesky_stack": (np.linalg.cholesky, (SPD_STACK,), True),
    "cholesky_upper": (lambda a: np.linalg.cholesky(a, upper=True), (SPD,), False),
    "solve_vector": (np.linalg.solve, (SQUARE, RHS), True),
    "solve_matrix": (np.linalg.solve, (SQUARE, RHS_MATRIX), True),
    "solve_stack_broadcast": (np.linalg.solve, (STACK, RHS_MATRIX), True),
    "inv": (np.linalg.inv, (SQUARE,), True),
    "inv_stack": (np.linalg.inv, (STACK,), True),
    "det": (np.linalg.det, (SQUARE,), False),
    "det_stack": (np.linalg.det, (STACK,), False),
    "slogdet_sign": (_first(np.linalg.slogdet), (STACK,), True),
    "slogdet_logdet": (_second(np.linalg.slogdet), (STACK,), True),
    "eigh_values": (_first(np.linalg.eigh), (SPD_STACK,), True),
    "eigh_vectors": (_second(np.linalg.eigh), (SPD_STACK,), True),
    "eigh_upper": (lambda a: np.linalg.eigh(a, UPLO="U")[1], (SQUARE,), True),
    "eigvalsh": (np.linalg.eigvalsh, (SPD_STACK,), False),
    "qr_q": (_first(np.linalg.qr), (TALL,), True),
    "qr_r": (_second(np.linalg.qr), (TALL,), True),
    "qr_wide_q": (_first(np.linalg.qr), (TALL.T,), True),
    "qr_wide_r": (lambda a: np.linalg.qr(a, mode="r"), (TALL.T,), True),
    "qr_stack": (_second(np.linalg.qr), (STACK,), True),
    "svd_u": (lambda a: np.linalg.svd(a, full_matrices=False)[0], (TALL,), True),
    "svd_s": (lambda a: np.linalg.svd(a, full_matrices=False)[1], (TALL,), True),
    "svd_vh": (lambda a: np.linalg.svd(a, full_matrices=False)[2], (TALL.T,), True),
    "svd_full_u": (_first(np.linalg.svd), (TALL,), True),
    "svd_full_vh": (_third(np.linalg.svd), (TALL.T,), True),
    "svd_stack": (_first(np.linalg.svd), (STACK,), True),
    "svd_values_only": (lambda a: np.linalg.svd(a, compute_uv=False), (STACK,), False),
    "svdvals": (np.linalg.svdvals, (TALL,), False),
    "pinv": (np.linalg.pinv, (TALL,), True),
    "pinv_stack": (np.linalg.pinv, (STACK,), True),
    "pinv_rtol": (lambda a: np.linalg.pinv(a, rtol=0.5), (TALL,), True),
    "lstsq_x": (lambda a, y: np.linalg.lstsq(a, y)[0], (TALL, RHS[:5].repeat(2)[:5]), False),
    "lstsq_residuals": (lambda a, y: np.linalg.lstsq(a, y)[1], (TALL, TALL[:, :2]), False),
    "lstsq_rank": (lambda a, y: np.linalg.lstsq(a, y)[2], (TALL, TALL[:, 0]), True),
    "lstsq_s": (lambda a, y: np.linalg.lstsq(a, y)[3], (TALL, TALL[:, 0]), False),
    "matrix_power_5": (lambda a: np.linalg.matrix_power(a, 5), (STACK,), True),
    "matrix_power_0": (lambda a: np.linalg.matrix_power(a, 0), (STACK,), True),
    "matrix_power_neg": (lambda a: np.linalg.matrix_power(a, -3), (SQUARE,), False),
    "multi_dot": (lambda a, b: np.linalg.multi_dot([a, b, b.T, a.T]), (TALL.T, TALL), True),
    "multi_dot_vectors": (
        lambda a, b: np.linalg.multi_dot([b[:, 0], b, a, b[:, 1]]), (TALL.T, TALL), True
    ),
    "norm_2": (lambda a: np.linalg.norm(a, 2), (TALL,), False),
    "norm_nuc": (lambda a: np.linalg.norm(a, "nuc"), (TALL,), False),
    "norm_-2_axis": (lambda a: np.linalg.norm(a, -2, axis=(1, 2)), (STACK[0],), False),
    "norm_1_matrix": (lambda a: np.linalg.norm(a, 1), (TALL,), True),
    "norm_inf_matrix": (lambda a: np.linalg.norm(a, np.inf, keepdims=True), (TALL,), True),
    "norm_fro": (lambda a: np.linalg.norm(a, "fro", axis=(0, 1)), (TALL,), False),
    "norm_3_vector": (lambda a: np.linalg.norm(a, 3, axis=0), (TALL,), False),
    "norm_-inf_vector": (lambda a: np.linalg.norm(a, -np.inf), (RHS,), True),
    "cond": (np.linalg.cond, (STACK,), False),
    "cond_1": (lambda a: np.linalg.cond(a, 1), (SQUARE,), False),
    "matrix_rank": (np.linalg.matrix_rank, (np.outer(RHS, RHS),), True),
    "matrix_transpose": (np.linalg.matrix_transpose, (STACK,), True),
}  # fmt: skip


def _check(got: object, expected: object, exact: bool, rtol: float = 1e-12) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    if exact:
        np.testing.assert_array_equal(got, expected)
    else:
        scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("name", list(CASES))
def test_values_under_jit_equal_numpy(name: str) -> None:
    f, args, exact = CASES[name]
    _check(tracegrad.jit(f)(*args), f(*args), exact)


@pytest.mark.parametrize("name", ["cholesky", "solve_matrix", "eigh_vectors", "svd_u", "det"])
def test_values_with_the_interpreter_backend(name: str) -> None:
    f, args, exact = CASES[name]
    _check(tracegrad.jit(f, backend="interpret")(*args), f(*args), exact)


@pytest.mark.parametrize(
    "name", ["cholesky", "solve_vector", "inv", "slogdet_logdet", "eigh_vectors", "qr_r", "pinv"]
)
def test_float32_stays_float32(name: str) -> None:
    f, args, _ = CASES[name]
    args32 = tuple(a.astype(np.float32) for a in args)
    got, expected = tracegrad.jit(f)(*args32), f(*args32)
    assert got.dtype == expected.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5)


def test_integer_matrices_compute_in_float64() -> None:
    a = np.array([[2, 1], [1, 3]])
    for f in (np.linalg.inv, np.linalg.det, np.linalg.cholesky, np.linalg.eigvalsh):
        _check(tracegrad.jit(f)(a), f(a), exact=False)
    _check(
        tracegrad.jit(lambda a: np.linalg.matrix_power(a, 3))(a), np.linalg.matrix_power(a, 3), True
    )


def test_eager_namespace_calls_equal_numpy() -> None:
    la = tnp.linalg
    _check(la.cholesky(SPD), np.linalg.cholesky(SPD), True)
    _check(la.solve(SQUARE, RHS), np.linalg.solve(SQUARE, RHS), True)
    _check(la.slogdet(STACK).logabsdet, np.linalg.slogdet(STACK).logabsdet, True)
    _check(la.eigh(SPD).eigenvectors, np.linalg.eigh(SPD).eigenvectors, True)
    _check(la.svd(TALL).Vh, np.linalg.svd(TALL).Vh, True)
    _check(la.qr(TALL).Q, np.linalg.qr(TALL).Q, True)
    _check(la.lstsq(TALL, TALL[:, 0])[1], np.linalg.lstsq(TALL, TALL[:, 0])[1], True)


@pytest.mark.parametrize("shape", [(0, 3, 3), (2, 0, 0), (0, 0)])
@pytest.mark.parametrize(
    "name", ["cholesky", "inv", "det", "slogdet_logdet", "eigvalsh", "qr_q", "svd_u", "pinv"]
)
def test_size_zero(name: str, shape: tuple[int, ...]) -> None:
    f = CASES[name][0]
    z = np.zeros(shape)
    _check(tracegrad.jit(f)(z), f(z), exact=False)


def test_slogdet_never_overflows() -> None:
    for scale in (1e200, 1e-200):
        a = STACK * scale
        sign, logdet = tracegrad.jit(lambda a: tuple(np.linalg.slogdet(a)))(a)
        expected = np.linalg.slogdet(a)
        assert np.all(np.isfinite(logdet)) and abs(float(logdet[0, 0])) > 1000
        np.testing.assert_array_equal(sign, expected.sign)
        np.testing.assert_array_equal(logdet, expected.logabsdet)
    with np.errstate(over="ignore"):
        big = np.eye(3) * 1e200
        assert tracegrad.jit(np.linalg.det)(big) == np.linalg.det(big) == np.inf


def test_not_positive_definite_raises_linalgerror_at_call_time() -> None:
    f = tracegrad.jit(np.linalg.cholesky)
    assert np.allclose(f(SPD), np.linalg.cholesky(SPD))
    for bad in (-SPD, np.array([[1.0, 2.0], [2.0, 1.0]])):
        with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
            f(bad)
    g = tracegrad.grad(lambda a: np.sum(np.linalg.cholesky(a)))
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        g(-SPD)


def test_singular_raises_linalgerror_and_nan_stays_nan() -> None:
    singular = np.ones((3, 3))
    for f in (np.linalg.inv, lambda a: np.linalg.solve(a, np.ones(3))):
        with pytest.raises(np.linalg.LinAlgError, match="Singular matrix"):
            f(singular)  # numpy
        with pytest.raises(np.linalg.LinAlgError, match="Singular matrix"):
            tracegrad.jit(f)(singular)
    nan = np.full((2, 2), np.nan)
    _check(tracegrad.jit(np.linalg.solve)(nan, nan), np.linalg.solve(nan, nan), exact=True)
    _check(tracegrad.jit(np.linalg.det)(singular), np.linalg.det(singular), exact=False)
    _check(tracegrad.jit(lambda a: np.linalg.slogdet(a)[1])(singular), -np.inf, exact=True)


def test_shape_errors_are_numpy_errors() -> None:
    with pytest.raises(np.linalg.LinAlgError, match="must be square"):
        tracegrad.jit(np.linalg.inv)(TALL)
    with pytest.raises(np.linalg.LinAlgError, match="at least two-dimensional"):
        tracegrad.jit(np.linalg.cholesky)(RHS)
    with pytest.raises(ValueError, match="mismatch"):
        tracegrad.jit(np.linalg.solve)(SQUARE, np.ones(3))
    with pytest.raises(ValueError, match="UPLO"):
        tracegrad.jit(lambda a: np.linalg.eigh(a, UPLO="X")[0])(SPD)
    with pytest.raises(UnsupportedError, match="complete"):
        tracegrad.jit(lambda a: np.linalg.qr(a, mode="complete")[0])(TALL)


def test_every_linalg_name_dispatches() -> None:
    for name in tnp.linalg.NUMPY_NAMES:
        assert dispatch.FUNCTIONS[getattr(np.linalg, name)] is getattr(tnp.linalg, name), name
    assert tnp.linalg.norm is not None and tnp.linalg.solve_triangular is not None


def test_solve_triangular_reads_one_triangle() -> None:
    noisy = np.tril(SPD) + np.triu(np.full((4, 4), 7.0), 1)
    lower = tracegrad.jit(lambda a, y: tnp.linalg.solve_triangular(a, y, lower=True))
    _check(lower(noisy, RHS_MATRIX), np.linalg.solve(np.tril(SPD), RHS_MATRIX), exact=False)
    upper = tracegrad.jit(lambda a, y: tnp.linalg.solve_triangular(a, y))
    _check(upper(noisy.T, RHS), np.linalg.solve(np.tril(SPD).T, RHS), exact=False)


def test_named_results() -> None:
    out = tracegrad.jit(lambda a: np.linalg.eigh(a).eigenvalues)(SPD)
    _check(out, np.linalg.eigh(SPD).eigenvalues, exact=True)
    out = tracegrad.jit(lambda a: np.linalg.svd(a).S)(TALL)
    _check(out, np.linalg.svd(TALL).S, exact=True)
    out = tracegrad.jit(lambda a: np.linalg.qr(a).R)(TALL)
    _check(out, np.linalg.qr(TALL).R, exact=True)
    out = tracegrad.jit(lambda a: np.linalg.slogdet(a).logabsdet)(SQUARE)
    _check(out, np.linalg.slogdet(SQUARE).logabsdet, exact=True)
