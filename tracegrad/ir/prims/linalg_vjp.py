"""VJP rules of the linear-algebra rows (``linalg``), in the closed forms of Giles, "An
extended collection of matrix derivative results" (2008), Murray, "Differentiation of the
Cholesky decomposition" (2016), and the SVD/QR rules JAX and PyTorch use.

Each rule is ``vjp(ct, out, attrs) -> one cotangent per operand`` and builds IR from rows
(triangular solves, solves, matmuls, selects), so second derivatives work. Packed rows
receive the packed cotangent and take it apart with the same helpers that take the value
apart. Conventions:

- cholesky and eigh read one triangle of a matrix assumed symmetric; their gradient is the
  symmetric one (as JAX and PyTorch): ``sym(G) = (G + G.T) / 2``. Finite differences agree
  for functions of a symmetric argument, ``f((a + a.T) / 2)``.
- eigh and svd: the terms ``1 / (w_j - w_i)`` (``1 / (s_j**2 - s_i**2)``) are 0 where the two
  eigenvalues (singular values) are exactly equal, as JAX documents: the gradient is then
  right for functions that do not depend on the choice of basis inside a degenerate
  eigenspace (any function of the eigenvalues, projectors onto whole eigenspaces).
"""

from __future__ import annotations

from typing import Any

from tracegrad.ir.errors import UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import linalg_ops as la
from tracegrad.ir.prims.table import lazy_build

_b = lazy_build


def _vjp_cholesky(ct: Any, out: Any, attrs: dict) -> tuple:
    """a = L L^T: abar = L^-T Phi L^-1 with Phi = sym(tril(L^T Lbar)) halved on the diagonal
    (PyTorch's form of Murray's rule; symmetric by construction)."""
    b = _b()
    lt = la.matrix_transpose(out)
    g = la.triangle(la.matmul(lt, ct), lower=True)
    phi = b.mul(b.add(g, la.matrix_transpose(la.triangle(g, lower=True, k=-1))), 0.5)
    left = la.solve_triangular(lt, phi, lower=False)  # L^-T Phi
    return (la.matrix_transpose(la.solve_triangular(lt, la.matrix_transpose(left), False)),)


def _vjp_triangular_solve(ct: Any, out: Any, attrs: dict) -> tuple:
    """x = T^-1 b: bbar = T^-T xbar; abar = -bbar x^T on the triangle that was read."""
    a, _ = out.operands
    lower = attrs["lower"]
    rhs_bar = la.solve_triangular(la.matrix_transpose(a), ct, lower=not lower)
    a_bar = la.triangle(la.matmul(rhs_bar, la.matrix_transpose(out)), lower)
    return (_b().neg(a_bar), rhs_bar)


def _vjp_solve(ct: Any, out: Any, attrs: dict) -> tuple:
    """x = a^-1 b: bbar = a^-T xbar; abar = -bbar x^T (Giles 2.3.1)."""
    a, _ = out.operands
    rhs_bar = la.solve(la.matrix_transpose(a), ct)
    return (_b().neg(la.matmul(rhs_bar, la.matrix_transpose(out))), rhs_bar)


def _vjp_slogdet(ct: Any, out: Any, attrs: dict) -> tuple:
    """d log|det a| = tr(a^-1 da): abar = g a^-T (Giles 2.2.4); the sign is constant."""
    (a,) = out.operands
    g = la.take(ct, -1, 1, 2)  # (..., 1): the cotangent of log|det|
    inv_t = la.solve(la.matrix_transpose(a), la.identity_like(a))
    return (_b().mul(la.column_vector(g), inv_t),)


def _degenerate_safe_inverse(diff: Any) -> Any:
    """1 / diff off the diagonal, 0 where diff == 0 (equal eigenvalues and the diagonal)."""
    return la.safe_reciprocal(diff)


def _vjp_eigh(ct: Any, out: Any, attrs: dict) -> tuple:
    """a = V diag(w) V^T: abar = V (diag(wbar) + F o (V^T Vbar)) V^T with
    F_ij = 1 / (w_j - w_i) (Giles 3.1), 0 for equal eigenvalues; then symmetrized."""
    b = _b()
    w, v = la.eigh_parts(out)
    w_bar, v_bar = la.eigh_parts(ct)
    f = _degenerate_safe_inverse(b.sub(la.row_vector(w), la.column_vector(w)))
    inner = b.add(la.diag_embed(w_bar), b.mul(f, la.matmul(la.matrix_transpose(v), v_bar)))
    return (la.symmetrize(la.matmul(la.matmul(v, inner), la.matrix_transpose(v))),)


def _vjp_svd(ct: Any, out: Any, attrs: dict) -> tuple:
    """a = U diag(s) Vh (reduced), PyTorch's svd_backward for real matrices:
    abar = U [(skew(U^T Ubar) / E) S + S (skew(V^T Vbar) / E) + diag(sbar)] Vh
           + (I - U U^T) Ubar S^-1 Vh + U S^-1 Vbar^T (I - V V^T),
    E_jk = s_k^2 - s_j^2 (its zeros, diagonal and equal values, give 0)."""
    if attrs["full_matrices"]:
        raise UnsupportedError(
            "the gradient of svd(full_matrices=True) of a non-square matrix is not "
            "implemented (the extra singular vectors are not unique): use full_matrices=False"
        )
    b = _b()
    m, n = out.operands[0].shape[-2:]
    k = min(m, n)
    u, s, vh = la.svd_parts(out, m, n, k)
    u_bar, s_bar, vh_bar = la.svd_parts(ct, m, n, k)
    mt = la.matrix_transpose
    s2 = b.mul(s, s)
    f = _degenerate_safe_inverse(b.sub(la.row_vector(s2), la.column_vector(s2)))
    utg = la.matmul(mt(u), u_bar)  # k x k
    vtg = la.matmul(vh, mt(vh_bar))  # V^T Vbar, k x k
    j = b.mul(f, b.sub(utg, mt(utg)))
    kk = b.mul(f, b.sub(vtg, mt(vtg)))
    inner = b.add(b.mul(j, la.row_vector(s)), b.mul(la.column_vector(s), kk))
    a_bar = la.matmul(la.matmul(u, b.add(inner, la.diag_embed(s_bar))), vh)
    s_inv = la.safe_reciprocal(s)
    if m > k:  # (I - U U^T) Ubar S^-1 Vh
        rest = b.sub(u_bar, la.matmul(u, utg))
        a_bar = b.add(a_bar, la.matmul(b.mul(rest, la.row_vector(s_inv)), vh))
    if n > k:  # U S^-1 (Vhbar - (V^T Vbar)^T Vh)
        rest = b.sub(vh_bar, la.matmul(mt(vtg), vh))
        a_bar = b.add(a_bar, la.matmul(u, b.mul(la.column_vector(s_inv), rest)))
    return (a_bar,)


def _qr_square_vjp(q: Any, r: Any, q_bar: Any, r_bar: Any) -> Any:
    """m >= n: abar = (Qbar + Q copyutl(Rbar R^T - Q^T Qbar)) R^-T, where copyutl makes a
    symmetric matrix from the upper triangle (the skew part of Q^T dQ is determined by the
    strictly lower triangle of Q^T da R^-1, the rest by dR)."""
    b = _b()
    mt = la.matrix_transpose
    k = b.sub(la.matmul(r_bar, mt(r)), la.matmul(mt(q), q_bar))
    c = b.add(la.triangle(k, lower=False), mt(la.triangle(k, lower=False, k=1)))
    w = b.add(q_bar, la.matmul(q, c))
    return mt(la.solve_triangular(r, mt(w), lower=False))


def _vjp_qr(ct: Any, out: Any, attrs: dict) -> tuple:
    """Reduced QR. For m < n, a = [x | y] with x = Q R_x square and y = Q R_y: the square
    rule runs on x with Qbar + y R_ybar^T, and ybar = Q R_ybar."""
    (a,) = out.operands
    m, n = a.shape[-2:]
    q, r = la.qr_parts(out, m, n)
    q_bar, r_bar = la.qr_parts(ct, m, n)
    if m >= n:
        return (_qr_square_vjp(q, r, q_bar, r_bar),)
    b = _b()
    y, ry_bar = la.take(a, -1, m, n), la.take(r_bar, -1, m, n)
    q_bar = b.add(q_bar, la.matmul(y, la.matrix_transpose(ry_bar)))
    x_bar = _qr_square_vjp(q, la.take(r, -1, 0, m), q_bar, la.take(r_bar, -1, 0, m))
    return (la.concatenate_columns([x_bar, la.matmul(q, ry_bar)]),)


VJPS: dict[Op, Any] = {
    Op.CHOLESKY: _vjp_cholesky, Op.TRIANGULAR_SOLVE: _vjp_triangular_solve,
    Op.SOLVE: _vjp_solve, Op.SLOGDET: _vjp_slogdet, Op.EIGH: _vjp_eigh, Op.SVD: _vjp_svd,
    Op.QR: _vjp_qr,
}  # fmt: skip
