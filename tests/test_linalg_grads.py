"""Gradients of numpy.linalg (issue #15 item 1): every function against finite differences up
to second order (reverse and forward mode), on single matrices and stacks; the closed forms
of Giles ("An extended collection of matrix derivative results") and Murray (Cholesky);
degenerate eigenvalues and singular values as JAX documents them; the one gradient that is
not implemented raises a clear error."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tracegrad
import tracegrad.numpy as tnp
from tracegrad.errors import UnsupportedError
from tracegrad.testing import check_grads

RNG = np.random.default_rng(1515)
SQUARE = RNG.standard_normal((4, 4))
SPD = SQUARE @ SQUARE.T + 4 * np.eye(4)
STACK = RNG.standard_normal((2, 3, 3))
SPD_STACK = STACK @ np.swapaxes(STACK, -1, -2) + 3 * np.eye(3)
TALL = RNG.standard_normal((5, 3))
WIDE = RNG.standard_normal((3, 5))
RHS = RNG.standard_normal(4)
WEIGHTS = RNG.standard_normal((5, 5))


def sym(a: np.ndarray) -> np.ndarray:
    """cholesky and eigh read one triangle: differentiate functions of a symmetric matrix."""
    return (a + np.swapaxes(a, -1, -2)) / 2


def weigh(x: np.ndarray) -> np.ndarray:
    """A scalar that depends on every entry differently (catches transposed gradients)."""
    m, n = x.shape[-2:]
    return np.sum(np.sin(x) * WEIGHTS[:m, :n])


def _svd_loss(full: bool) -> Callable:
    def f(a: np.ndarray) -> np.ndarray:
        u, s, vh = np.linalg.svd(a, full_matrices=full)
        return weigh(u * u) + np.sum(s**3) + weigh(vh * vh)  # u, vh up to sign

    return f


def _eigh_loss(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(sym(a))
    return weigh(v * v) + np.sum(w**3)  # v up to sign


def _qr_loss(a: np.ndarray) -> np.ndarray:
    q, r = np.linalg.qr(a)
    return weigh(q) + weigh(r)


CASES: dict[str, tuple[Callable, tuple]] = {
    "cholesky": (lambda a: weigh(np.linalg.cholesky(sym(a))), (SPD,)),
    "cholesky_upper": (lambda a: weigh(np.linalg.cholesky(sym(a), upper=True)), (SPD,)),
    "cholesky_stack": (lambda a: weigh(np.linalg.cholesky(sym(a))), (SPD_STACK,)),
    "solve": (lambda a, y: weigh(np.linalg.solve(a, y)[:, None]), (SQUARE, RHS)),
    "solve_stack": (lambda a, y: weigh(np.linalg.solve(a, y)), (STACK, STACK[0])),
    "solve_triangular": (
        lambda a, y: weigh(tnp.linalg.solve_triangular(a, y, lower=True)),
        (SPD, SQUARE[:, :2]),
    ),
    "inv": (lambda a: weigh(np.linalg.inv(a)), (SQUARE,)),
    "det": (lambda a: np.sum(np.linalg.det(a)), (STACK,)),
    "slogdet": (lambda a: np.sum(np.linalg.slogdet(a)[1]), (STACK,)),
    "eigh": (_eigh_loss, (SPD,)),
    "eigh_stack": (lambda a: weigh(np.linalg.eigh(sym(a))[1] ** 2), (SPD_STACK,)),
    "eigvalsh": (lambda a: np.sum(np.sin(np.linalg.eigvalsh(sym(a)))), (SQUARE,)),
    "svd_tall": (_svd_loss(False), (TALL,)),
    "svd_wide": (_svd_loss(False), (WIDE,)),
    "svd_square_full": (_svd_loss(True), (SQUARE,)),
    "svd_stack": (_svd_loss(False), (STACK,)),
    "svd_values": (lambda a: np.sum(np.linalg.svd(a, compute_uv=False) ** 3), (TALL,)),
    "qr_tall": (_qr_loss, (TALL,)),
    "qr_wide": (_qr_loss, (WIDE,)),
    "qr_stack": (_qr_loss, (STACK,)),
    "pinv": (lambda a: weigh(np.linalg.pinv(a)), (TALL,)),
    "lstsq": (lambda a, y: weigh(np.linalg.lstsq(a, y)[0][:, None]), (TALL, TALL[:, 0] + 1)),
    "matrix_power": (lambda a: weigh(np.linalg.matrix_power(a, 5)), (SQUARE / 3,)),
    "matrix_power_neg": (lambda a: weigh(np.linalg.matrix_power(a, -2)), (SQUARE,)),
    "multi_dot": (lambda a, b: weigh(np.linalg.multi_dot([a, b, a, b])), (TALL, WIDE)),
    "norm_2": (lambda a: np.linalg.norm(a, 2), (TALL,)),
    "norm_nuc": (lambda a: np.linalg.norm(a, "nuc"), (TALL,)),
    "cond": (lambda a: np.linalg.cond(a), (SQUARE,)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_gradients_match_finite_differences(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the reference interpreter: second-order graphs are large and LLVM would compile each
    # one for a handful of calls (the LLVM backend runs the rows in the other tests)
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")
    f, args = CASES[name]
    check_grads(f, args, order=2)


def test_logdet_gradient_is_inverse_transpose() -> None:
    """Giles 2.2.4: d log|det A| = tr(A^-1 dA), so the gradient is A^-T; det's is det A^-T."""
    g = tracegrad.grad(lambda a: np.linalg.slogdet(a)[1])(SQUARE)
    np.testing.assert_allclose(g, np.linalg.inv(SQUARE).T, rtol=1e-12, atol=1e-12)
    g = tracegrad.grad(np.linalg.det)(SQUARE)
    expected = np.linalg.det(SQUARE) * np.linalg.inv(SQUARE).T
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-12)


def test_inverse_and_solve_closed_forms() -> None:
    """Giles 2.2.3 and 2.3.1: C = A^-1 gives Abar = -A^-T Cbar A^-T; x = A^-1 b gives
    bbar = A^-T xbar and Abar = -bbar x^T."""
    c_bar = WEIGHTS[:4, :4]
    inv = np.linalg.inv(SQUARE)
    g = tracegrad.grad(lambda a: np.sum(np.linalg.inv(a) * c_bar))(SQUARE)
    np.testing.assert_allclose(g, -inv.T @ c_bar @ inv.T, rtol=1e-10, atol=1e-12)
    x_bar = WEIGHTS[0, :4]
    ga, gb = tracegrad.grad(lambda a, y: np.linalg.solve(a, y) @ x_bar, argnums=(0, 1))(SQUARE, RHS)
    b_bar = np.linalg.solve(SQUARE.T, x_bar)
    np.testing.assert_allclose(gb, b_bar, rtol=1e-12)
    np.testing.assert_allclose(ga, -np.outer(b_bar, np.linalg.solve(SQUARE, RHS)), rtol=1e-10)


def test_cholesky_gradient_is_murrays_rule() -> None:
    """Murray (2016), symmetric form: Abar = L^-T Phi(L^T Lbar) L^-1 symmetrized, with Phi the
    lower triangle and half the diagonal. And for log det A = 2 sum log diag L: A^-1."""
    l_bar = np.tril(WEIGHTS[:4, :4])
    low = np.linalg.cholesky(SPD)
    phi = np.tril(low.T @ l_bar)
    phi -= np.diag(np.diag(phi)) / 2
    inner = np.linalg.solve(low.T, np.linalg.solve(low.T, phi.T).T)  # L^-T Phi L^-1
    expected = (inner + inner.T) / 2
    g = tracegrad.grad(lambda a: np.sum(np.linalg.cholesky(a) * l_bar))(SPD)
    np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-12)
    logdet = tracegrad.grad(lambda a: 2 * np.sum(np.log(np.diagonal(np.linalg.cholesky(a)))))
    np.testing.assert_allclose(logdet(SPD), np.linalg.inv(SPD), rtol=1e-10, atol=1e-12)


def test_eigenvalue_gradient_is_the_outer_product_of_its_eigenvector() -> None:
    """Giles 3.1: d w_k = v_k^T dA v_k."""
    _, v = np.linalg.eigh(SPD)
    for k in range(4):
        g = tracegrad.grad(lambda a, k=k: np.linalg.eigvalsh(a)[k])(SPD)
        np.testing.assert_allclose(g, np.outer(v[:, k], v[:, k]), rtol=1e-10, atol=1e-12)


DEGENERATE = np.diag([1.0, 1.0, 2.0])  # LAPACK returns the repeated eigenvalue exactly twice


def test_degenerate_eigenvalues_give_finite_correct_gradients() -> None:
    """JAX's convention: 1/(w_j - w_i) is 0 for equal eigenvalues, so functions of the
    eigenvalues and of projectors onto whole eigenspaces differentiate correctly."""
    w = np.linalg.eigvalsh(DEGENERATE)
    assert w[0] == w[1]
    g = tracegrad.grad(lambda a: np.sum(np.linalg.eigvalsh(a) ** 3))(DEGENERATE)
    np.testing.assert_allclose(g, 3 * DEGENERATE @ DEGENERATE, atol=1e-12)
    c = WEIGHTS[:3, :3]

    def projector(a: np.ndarray) -> np.ndarray:
        v = np.linalg.eigh(sym(a))[1][:, :2]  # the two-dimensional eigenspace of 1
        return np.sum((v @ v.T) * c)

    g = tracegrad.grad(projector)(DEGENERATE)
    assert np.all(np.isfinite(g))
    check_grads(projector, (DEGENERATE,), order=1)
    check_grads(lambda a: np.sum(np.linalg.eigvalsh(sym(a)) ** 3), (DEGENERATE,), order=1)


def test_degenerate_singular_values_give_finite_correct_gradients() -> None:
    q = np.linalg.qr(SQUARE)[0]  # orthogonal: every singular value is 1
    g = tracegrad.grad(lambda a: np.linalg.norm(a, "nuc"))(q)
    np.testing.assert_allclose(g, q, atol=1e-10)  # d sum(s) = U V^T
    g = tracegrad.grad(lambda a: np.sum(np.linalg.svd(a)[1] ** 2))(q)
    np.testing.assert_allclose(g, 2 * q, atol=1e-10)  # d |A|_F^2 = 2A


def test_grad_of_grad_of_logdet_is_the_inverse_derivative() -> None:
    """The gradient of <grad log|det A|, C> = <A^-T, C> is -A^-T C^T A^-T (the VJPs are
    built of rows, so they differentiate again)."""
    c = WEIGHTS[:4, :4]
    inner = tracegrad.grad(lambda a: np.linalg.slogdet(a)[1])
    outer = tracegrad.grad(lambda a: np.sum(inner(a) * c))
    inv = np.linalg.inv(SQUARE)
    expected = -(inv @ c @ inv).T  # d <A^-T, C> = <dA, -A^-T C^T A^-T>
    np.testing.assert_allclose(outer(SQUARE), expected, rtol=1e-9, atol=1e-12)


def test_full_matrices_gradient_of_a_rectangular_svd_is_a_clear_error() -> None:
    f = tracegrad.grad(lambda a: np.sum(np.linalg.svd(a)[0]))  # full_matrices=True (numpy)
    with pytest.raises(UnsupportedError, match="full_matrices=False"):
        f(TALL)
    values = tracegrad.jit(lambda a: np.linalg.svd(a)[0])(TALL)  # the values work
    np.testing.assert_array_equal(values, np.linalg.svd(TALL)[0])


def test_jit_of_grad_equals_grad() -> None:
    f = CASES["cholesky_stack"][0]
    np.testing.assert_allclose(
        tracegrad.jit(tracegrad.grad(f))(SPD_STACK), tracegrad.grad(f)(SPD_STACK), rtol=1e-12
    )


def test_jacobian_and_hessian_batch_the_rows() -> None:
    """jacobian/hessian run the rows on a leading batch of cotangents (the batching
    transform): d inv(A) = -A^-1 dA A^-1 and d^2 log|det A| = -A^-T (x) A^-1."""
    a = STACK[0] + 3 * np.eye(3)
    inv = np.linalg.inv(a)
    jac = tracegrad.jacobian(np.linalg.inv)(a)
    np.testing.assert_allclose(jac, -np.einsum("ik,lj->ijkl", inv, inv), atol=1e-12)
    hess = tracegrad.hessian(lambda a: np.linalg.slogdet(a)[1])(a)
    np.testing.assert_allclose(hess, -np.einsum("li,jk->ijkl", inv, inv), atol=1e-12)
    w, v = np.linalg.eigh(SPD)
    jac = tracegrad.jacobian(np.linalg.eigvalsh)(SPD)
    np.testing.assert_allclose(jac, np.einsum("ik,jk->kij", v, v), atol=1e-12)


def test_float32_gradients() -> None:
    a = SPD.astype(np.float32)
    g = tracegrad.grad(lambda a: np.linalg.slogdet(a)[1])(a)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, np.linalg.inv(SPD).T, rtol=1e-4, atol=1e-6)
    g = tracegrad.grad(lambda a: np.sum(np.linalg.cholesky(a)))(a)
    expected = tracegrad.grad(lambda a: np.sum(np.linalg.cholesky(a)))(SPD)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-5)
