"""Triangular solves in the plan go through BLAS trsm (TriangularSolveRun): values equal numpy's
solve of the triangle, stacks and float32 work, a zero on the diagonal is numpy's LinAlgError,
and gradients through cholesky (whose VJP solves triangles) match finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad
import tracegrad.numpy as tnp
from tracegrad.ir.passes import optimize
from tracegrad.llvm.backend import LLVMBackend
from tracegrad.llvm.plan.lapack import TriangularSolveRun


def solve_tri(a, b, lower):
    return tnp.linalg.solve_triangular(a, b, lower=lower)


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_values_stacks_and_dtypes(lower: bool, dtype) -> None:
    rng = np.random.default_rng(3)
    a = (rng.normal(size=(4, 6, 6)) + 4 * np.eye(6)).astype(dtype)
    b = rng.normal(size=(4, 6, 3)).astype(dtype)
    function = optimize(tracegrad.make_ir(lambda a, b: solve_tri(a, b, lower))(a, b))
    exe = LLVMBackend().compile(function)
    assert any(isinstance(r, TriangularSolveRun) for r in exe.runs)
    (x,) = exe([a, b])
    expected = np.linalg.solve(np.tril(a) if lower else np.triu(a), b)
    rtol = 1e-12 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(x, expected, rtol=rtol, atol=rtol)
    assert x.dtype == dtype


def test_a_zero_on_the_diagonal_is_numpys_error() -> None:
    a = np.tril(np.ones((3, 3)))
    a[1, 1] = 0.0
    with pytest.raises(np.linalg.LinAlgError, match="Singular matrix"):
        tracegrad.jit(lambda a, b: solve_tri(a, b, True))(a, np.ones((3, 2)))


def test_gradient_through_cholesky_matches_finite_differences() -> None:
    rng = np.random.default_rng(5)
    m = rng.normal(size=(5, 5))
    spd = m @ m.T + 5 * np.eye(5)
    y = rng.normal(size=5)

    def nll(k):
        ell = np.linalg.cholesky(k)
        z = tnp.linalg.solve_triangular(ell, y[:, None], lower=True)
        return 0.5 * (z**2).sum() + np.log(np.diagonal(ell)).sum()

    g = tracegrad.jit(tracegrad.grad(nll))(spd)
    eps, fd = 1e-6, np.zeros_like(spd)
    for i in range(5):
        for j in range(5):
            e = np.zeros_like(spd)
            e[i, j] = eps
            fd[i, j] = (nll(spd + e) - nll(spd - e)) / (2 * eps)
    sym = (g + g.T) / 2  # the cholesky gradient is taken on the symmetric part
    np.testing.assert_allclose(sym, (fd + fd.T) / 2, rtol=1e-5, atol=1e-8)
