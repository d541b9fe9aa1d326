"""Rows of the linear-algebra primitives: LAPACK through ``numpy.linalg``.

Each row's numpy reference is the ``numpy.linalg`` call itself, so the interpreter, constant
folding and the LLVM backend's execution plan (which runs rows without a kernel lowering as
numpy steps, ``Lowering.LAPACK``) all call LAPACK on whole stacks: never a Python loop over
elements. numpy's errors (``LinAlgError`` for a singular or non-positive-definite matrix) are
raised when the step runs, as numpy raises them.

The IR has one output per Value, so decompositions with several results pack them into one
array of the input's dtype; ``tracegrad.numpy.linalg`` slices them out and the VJP rule of
the row receives the packed cotangent (zeros where a result is unused):

=========  ==========================  ===============================================
op         packed shape                layout
=========  ==========================  ===============================================
slogdet    (..., 2)                    [..., 0] sign, [..., 1] log|det|
eigh       (..., n+1, n)               row 0 eigenvalues (ascending), rows 1: eigenvectors
qr         (..., m+k, n), k=min(m,n)   rows :m, cols :k q; rows m: r
svd        (..., m+1+p, w)             rows :m, cols :c u; row m, cols :k s; rows m+1: vh
=========  ==========================  ===============================================

For svd, ``full_matrices`` gives c = p = ... as numpy: c = m, p = n (full) or c = p = k
(reduced), and w = max(c, n). Every op works on stacks (leading batch dims, equal between the
operands: the builders broadcast) and on float32/float64 only (builders cast integers to
float64, as numpy.linalg does).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir.errors import ShapeError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims.linalg_vjp import VJPS
from tracegrad.ir.prims.table import (
    FLOATS,
    NONDIFF,
    Lowering,
    NumpyImpl,
    Prim,
    TypeRule,
    register,
    require_dtype,
)
from tracegrad.ir.types import TensorType, dims_compatible, format_shape, shapes_compatible

Attrs = dict[str, Any]


def _matrix(op: Op, t: TensorType, square: bool = True) -> None:
    require_dtype(op, t, FLOATS)
    if t.ndim < 2:
        raise ShapeError(f"{op.value}: {t.ndim}-dimensional array given; at least 2 needed")
    if square and not dims_compatible(t.shape[-1], t.shape[-2]):
        raise ShapeError(f"{op.value}: last 2 dimensions must be square, got {t}")


def _static(op: Op, t: TensorType) -> tuple[int, int]:
    m, n = t.shape[-2:]
    if not (isinstance(m, int) and isinstance(n, int)):
        raise ShapeError(f"{op.value}: the matrix dims must be static, got {t}")
    return m, n


def _same_rule(op: Op) -> Any:
    def rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
        _matrix(op, types[0])
        return types[0]

    return rule


def _solve_rule(op: Op) -> Any:
    def rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
        a, b = types
        _matrix(op, a)
        _matrix(op, b, square=False)
        ok = (
            a.dtype is b.dtype
            and a.ndim == b.ndim
            and shapes_compatible(a.shape[:-2], b.shape[:-2])
            and dims_compatible(a.shape[-1], b.shape[-2])
        )
        if not ok:
            raise ShapeError(
                f"{op.value}: shapes {format_shape(a.shape)} and {format_shape(b.shape)} "
                "do not align (builders broadcast the batch dims and cast the dtypes)"
            )
        return b

    return rule


def _slogdet_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    (t,) = types
    _matrix(Op.SLOGDET, t)
    return t.with_shape(t.shape[:-2] + (2,))


def _eigh_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    (t,) = types
    _matrix(Op.EIGH, t)
    n, _ = _static(Op.EIGH, t)
    return t.with_shape(t.shape[:-2] + (n + 1, n))


def _qr_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    (t,) = types
    _matrix(Op.QR, t, square=False)
    m, n = _static(Op.QR, t)
    return t.with_shape(t.shape[:-2] + (m + min(m, n), n))


def svd_layout(m: int, n: int, full: bool) -> tuple[int, int, int]:
    """(columns of u, rows of vh, width of the packed array) for an m x n input."""
    k = min(m, n)
    cols, rows = (m, n) if full else (k, k)
    return cols, rows, max(cols, n)


def _svd_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    (t,) = types
    _matrix(Op.SVD, t, square=False)
    m, n = _static(Op.SVD, t)
    _, rows, width = svd_layout(m, n, attrs["full_matrices"])
    return t.with_shape(t.shape[:-2] + (m + 1 + rows, width))


# ---- numpy references (LAPACK) --------------------------------------------------------------


def _triangular_solve(a: np.ndarray, b: np.ndarray, *, lower: bool) -> np.ndarray:
    # numpy has no triangular solver: the LU of a triangular matrix is itself (no pivoting
    # happens unless a diagonal entry is 0, where numpy reports a singular matrix)
    return np.linalg.solve(np.tril(a) if lower else np.triu(a), b)


def _slogdet(a: np.ndarray) -> np.ndarray:
    sign, logabsdet = np.linalg.slogdet(a)
    return np.stack([sign, logabsdet], axis=-1)


def _eigh(a: np.ndarray, *, lower: bool) -> np.ndarray:
    w, v = np.linalg.eigh(a, UPLO="L" if lower else "U")
    return np.concatenate([w[..., None, :], v], axis=-2)


def _qr(a: np.ndarray) -> np.ndarray:
    q, r = np.linalg.qr(a, mode="reduced")
    m, n = a.shape[-2:]
    out = np.zeros(a.shape[:-2] + (m + min(m, n), n), a.dtype)
    out[..., :m, : q.shape[-1]] = q
    out[..., m:, :] = r
    return out


def _svd(a: np.ndarray, *, full_matrices: bool) -> np.ndarray:
    m, n = a.shape[-2:]
    cols, rows, width = svd_layout(m, n, full_matrices)
    out = np.zeros(a.shape[:-2] + (m + 1 + rows, width), a.dtype)
    if a.size == 0 and min(m, n) > 0:  # numpy's gesdd refuses empty stacks of matrices
        return out
    u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
    out[..., :m, :cols] = u
    out[..., m, : s.shape[-1]] = s
    out[..., m + 1 :, :n] = vh
    return out


_ROWS: list[tuple[Op, int, tuple[str, ...], TypeRule, NumpyImpl, str]] = [
    (Op.CHOLESKY, 1, (), _same_rule(Op.CHOLESKY), np.linalg.cholesky,
     "Cholesky factor L (lower) of a symmetric positive-definite matrix: a = L @ L.T"),
    (Op.TRIANGULAR_SOLVE, 2, ("lower",), _solve_rule(Op.TRIANGULAR_SOLVE), _triangular_solve,
     "x with tril(a) @ x = b (lower) or triu(a) @ x = b; the other triangle is not read"),
    (Op.SOLVE, 2, (), _solve_rule(Op.SOLVE), np.linalg.solve, "x with a @ x = b (b: matrices)"),
    (Op.SLOGDET, 1, (), _slogdet_rule, _slogdet, "[sign, log|det|] of square matrices"),
    (Op.EIGH, 1, ("lower",), _eigh_rule, _eigh,
     "eigenvalues (row 0) and eigenvectors of a symmetric matrix (one triangle is read)"),
    (Op.QR, 1, (), _qr_rule, _qr, "reduced QR: q (rows :m) and r (rows m:) packed"),
    (Op.SVD, 1, ("full_matrices",), _svd_rule, _svd, "u, s, vh packed (see the module docs)"),
]  # fmt: skip

for _op, _arity, _attrs, _rule, _impl, _doc in _ROWS:
    register(
        Prim(_op, _arity, _rule, _impl, Lowering.LAPACK, VJPS.get(_op, NONDIFF), attrs=_attrs,
             doc=_doc)
    )  # fmt: skip
