"""The decompositions of ``tracegrad.numpy.linalg`` (eigh, svd, qr) and what is built on
them (pinv, lstsq, matrix norms, cond, matrix_rank). The rows pack several results into one
array (``tracegrad/ir/prims/linalg.py``); here they are sliced out into numpy's named tuples.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import linalg_ops as la
from tracegrad.ir.prims.linalg import svd_layout
from tracegrad.ir.types import normalize_axes
from tracegrad.ir.value import Value
from tracegrad.numpy._composites import norm as _flat_norm
from tracegrad.numpy._core import has_tracer, traced
from tracegrad.numpy._linalg_shapes import as_float, common_float, matrices, square

_UNSET = object()  # pinv's rtol not given (numpy's own marker is private)


class EighResult(NamedTuple):
    eigenvalues: Any
    eigenvectors: Any


class QRResult(NamedTuple):
    Q: Any
    R: Any


class SVDResult(NamedTuple):
    U: Any
    S: Any
    Vh: Any


@traced
def _eigh_parts(a: Any, UPLO: str = "L") -> tuple[Value, Value]:  # noqa: N803
    if UPLO not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    return la.eigh_parts(b.apply(Op.EIGH, [square(as_float(a))], lower=UPLO == "L"))


def eigh(a: Any, UPLO: str = "L") -> EighResult:  # noqa: N803
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices (stacks too), from the
    ``UPLO`` triangle. The gradient is Giles' ``V (diag(wbar) + F o V^T Vbar) V^T``,
    symmetrized, with ``F_ij = 1 / (w_j - w_i)`` set to 0 for equal eigenvalues (JAX's rule).

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> tnp.linalg.eigh(np.array([[2.0, 1.0], [1.0, 2.0]])).eigenvalues.round(12).tolist()
    [1.0, 3.0]
    """
    return EighResult(*_eigh_parts(a, UPLO))


def eigvalsh(a: Any, UPLO: str = "L") -> Any:  # noqa: N803
    """The eigenvalues of ``eigh`` (computed by the same LAPACK call, so the same bits).

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> tnp.linalg.eigvalsh(np.diag([3.0, 1.0])).tolist()
    [1.0, 3.0]
    """
    return _eigh_parts(a, UPLO)[0]


@traced
def _svd_parts(a: Any, full_matrices: bool = True) -> tuple[Value, Value, Value]:
    v = matrices(as_float(a))
    m, n = v.shape[-2:]
    full = bool(full_matrices) and m != n  # equal for square matrices; this one has a gradient
    cols, _, _ = svd_layout(m, n, full)
    return la.svd_parts(b.apply(Op.SVD, [v], full_matrices=full), m, n, cols)


def svd(
    a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False
) -> Any:
    """``U, S, Vh`` with ``a = U @ (S[..., None] * Vh)`` (stacks too). Gradients for
    ``full_matrices=False`` (or square matrices) and for the singular values alone; the
    ``1 / (s_j**2 - s_i**2)`` terms are 0 for equal singular values. ``hermitian`` is
    accepted and computed by the general SVD (singular vectors may differ in sign from
    numpy's eigh-based ones).

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> tnp.linalg.svd(np.diag([1.0, 3.0]), compute_uv=False).tolist()
    [3.0, 1.0]
    """
    if not compute_uv:
        return _svd_parts(a, False)[1]
    return SVDResult(*_svd_parts(a, full_matrices))


def svdvals(x: Any, /) -> Any:
    """The singular values, descending (numpy.linalg.svdvals)."""
    return svd(x, compute_uv=False)


@traced
def _qr_parts(a: Any) -> tuple[Value, Value]:
    v = matrices(as_float(a))
    m, n = v.shape[-2:]
    return la.qr_parts(b.apply(Op.QR, [v]), m, n)


def qr(a: Any, mode: str = "reduced") -> Any:
    """The reduced QR decomposition (stacks too): ``mode`` 'reduced' gives ``(Q, R)``, 'r'
    gives ``R``; 'complete' only where it equals 'reduced' (m <= n). Differentiable for
    every shape (wide matrices by the square rule on the leading block).

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> q, r = tnp.linalg.qr(np.array([[3.0, 1.0], [4.0, 2.0]]))
    >>> np.allclose(q @ r, [[3.0, 1.0], [4.0, 2.0]])
    True
    """
    shape = np.shape(a) if not hasattr(a, "shape") else a.shape
    if mode == "complete" and len(shape) >= 2 and shape[-2] > shape[-1]:
        raise UnsupportedError("qr(mode='complete') of a tall matrix: use mode='reduced'")
    if mode not in ("reduced", "complete", "r"):
        raise UnsupportedError(f"qr(mode={mode!r}): use 'reduced', 'complete' or 'r'")
    q, r = _qr_parts(a)
    return r if mode == "r" else QRResult(q, r)


def _inverse_above(s: Value, cutoff: Value) -> Value:
    """1 / s where s > cutoff, else 0 (numpy's pinv and lstsq cut small singular values)."""
    large = b.gt(s, cutoff)
    return b.where(large, b.div(1, b.where(large, s, 1)), 0)


def _rcond_value(rcond: Any, dtype: DType) -> Value:
    v = b.to_value(rcond, dtype) if not isinstance(rcond, Value) else rcond
    return la.column_vector(v)


@traced
def pinv(a: Any, rcond: Any = None, hermitian: bool = False, *, rtol: Any = _UNSET) -> Any:
    """The Moore-Penrose pseudo-inverse from the reduced SVD, with numpy's cutoff (``rcond``
    times the largest singular value; ``rtol`` as numpy 2).

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> tnp.linalg.pinv(np.array([[2.0, 0.0], [0.0, 0.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.0]]
    """
    v = matrices(as_float(a))
    m, n = v.shape[-2:]
    if rcond is None:
        rcond = 1e-15 if rtol is _UNSET else rtol
        rcond = max(m, n) * np.finfo(v.dtype.numpy).eps if rcond is None else rcond
    elif rtol is not _UNSET:
        raise ValueError("`rtol` and `rcond` can't be both set.")
    if m == 0 or n == 0:
        return b.to_value(np.zeros(v.shape[:-2] + (n, m), v.dtype.numpy))
    u, s, vh = _svd_parts.builder(v, False)
    cutoff = b.mul(_rcond_value(rcond, v.dtype), bs.reduce(Op.REDUCE_MAX, s, -1, True))
    s_inv = _inverse_above(s, cutoff)
    return bs.matmul(
        la.matrix_transpose(vh), b.mul(la.column_vector(s_inv), la.matrix_transpose(u))
    )


@traced
def _lstsq(a: Any, b_: Any, rcond: Any) -> tuple[Value, Value, Value, Value]:
    x, y = common_float(a, b_)
    vector = y.ndim == 1
    y = bs.reshape(y, y.shape + (1,)) if vector else y
    if x.ndim != 2 or y.ndim != 2:
        raise np.linalg.LinAlgError("lstsq: a must be 2-dimensional and b 1- or 2-dimensional")
    m, n = x.shape
    if y.shape[0] != m:
        raise np.linalg.LinAlgError("Incompatible dimensions")
    rcond = np.finfo(np.float64).eps * max(m, n) if rcond is None else rcond
    u, s, vh = _svd_parts.builder(x, False)
    cutoff = b.mul(rcond, bs.reduce(Op.REDUCE_MAX, s, -1, True)) if s.shape[-1] else 0.0
    s_inv = _inverse_above(s, cutoff)
    projected = b.mul(la.column_vector(s_inv), bs.matmul(la.matrix_transpose(u), y))
    sol = bs.matmul(la.matrix_transpose(vh), projected)
    if m > n:
        error = b.sub(y, bs.matmul(x, sol))
        resid = bs.sum(b.mul(error, error), 0)
    else:
        resid = b.to_value(np.zeros((0,), x.dtype.numpy))
    rank = b.cast(bs.sum(b.cast(b.gt(s, cutoff), DType.INT64), -1), DType.INT32)  # numpy's
    return (bs.reshape(sol, (n,)) if vector else sol), resid, rank, s


def lstsq(a: Any, b: Any, rcond: Any = None) -> tuple[Any, Any, Any, Any]:
    """Least squares ``(x, residuals, rank, s)`` from the reduced SVD, numpy's cutoff. On
    traced values ``residuals`` has shape (K,) whenever m > n, even when ``a`` is rank
    deficient (numpy then returns an empty array: its shape would depend on the values);
    on concrete arrays this is ``numpy.linalg.lstsq`` itself.

    >>> import numpy as np, tracegrad
    >>> a, y = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]), np.array([1.0, 2.0, 3.0])
    >>> tracegrad.jit(lambda a, y: np.linalg.lstsq(a, y)[0])(a, y).round(12).tolist()
    [1.0, 1.0]
    """
    if not has_tracer((a, b, rcond)):
        return np.linalg.lstsq(a, b, rcond=rcond)
    return tuple(_lstsq(a, b, rcond))  # type: ignore[return-value]


# ---- norms, condition number, rank ----------------------------------------------------------


def _matrix_norm(v: Value, ord: Any, axes: tuple[int, int], keepdims: bool) -> Value:  # noqa: A002
    row, col = axes
    if ord in (2, -2, "nuc"):
        rest = [i for i in range(v.ndim) if i not in axes]
        s = _svd_parts.builder(bs.transpose(v, (*rest, row, col)), False)[1]
        op = Op.REDUCE_SUM if ord == "nuc" else Op.REDUCE_MAX if ord == 2 else Op.REDUCE_MIN
        out = bs.reduce(op, s, -1)
    elif ord in (None, "fro"):
        out = _flat_norm.builder(v, None, axes)
    elif ord in (1, -1, np.inf, -np.inf):
        summed_axis, other = (row, col) if ord in (1, -1) else (col, row)
        other = other - 1 if other > summed_axis else other
        op = Op.REDUCE_MAX if ord > 0 else Op.REDUCE_MIN
        out = bs.reduce(op, bs.sum(b.unary(Op.ABS, v), summed_axis), other)
    else:
        raise ValueError("Invalid norm order for matrices.")
    return (
        bs.reshape(out, tuple(1 if i in axes else d for i, d in enumerate(v.shape)))
        if keepdims
        else out
    )


def _vector_norm(v: Value, ord: Any, axis: Any, keepdims: bool) -> Value:  # noqa: A002
    if ord in (None, 2, 1, np.inf):
        return _flat_norm.builder(v, ord, axis, keepdims)
    magnitude = b.unary(Op.ABS, v)
    if ord == -np.inf:
        return bs.reduce(Op.REDUCE_MIN, magnitude, axis, keepdims)
    if ord == 0:
        return bs.sum(b.cast(b.ne(v, 0), v.dtype), axis, keepdims)
    return b.pow(bs.sum(b.pow(magnitude, float(ord)), axis, keepdims), 1.0 / float(ord))


@traced
def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """numpy.linalg.norm: vector norms (any ``ord``), matrix norms over two axes ('fro',
    'nuc', 1, -1, 2, -2, inf, -inf; 2, -2 and 'nuc' from the singular values). The 2-norm's
    gradient at 0 is 0 (a subgradient).

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> float(tnp.linalg.norm(np.array([[3.0, 0.0], [0.0, 4.0]]), 2))
    4.0
    """
    v = as_float(x)
    if axis is None:
        if ord is None or v.ndim == 1:  # the 2-norm of everything, or a vector norm
            return _vector_norm(v, ord, None, keepdims)
        if v.ndim != 2:
            raise ValueError("Improper number of dimensions to norm.")
        axis = (0, 1)
    axes = normalize_axes(axis, v.ndim)
    if len(axes) == 1:
        return _vector_norm(v, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(v, ord, axes, keepdims)  # type: ignore[arg-type]
    raise ValueError("Improper number of dimensions to norm.")


@traced
def cond(x: Any, p: Any = None) -> Any:
    """The condition number: ``s_max / s_min`` for ``p`` None, 2 (-2: the inverse), else
    ``norm(x, p) * norm(inv(x), p)``.

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> float(tnp.linalg.cond(np.diag([1.0, 4.0])))
    4.0
    """
    v = matrices(as_float(x))
    if p in (None, 2, -2):
        s = _svd_parts.builder(v, False)[1]
        first, last = la.take(s, -1, 0, 1), la.take(s, -1, s.shape[-1] - 1, s.shape[-1])
        ratio = b.div(first, last) if p != -2 else b.div(last, first)
        return bs.reshape(ratio, ratio.shape[:-1])
    inverse = b.apply(Op.SOLVE, [square(v), la.identity_like(v)])
    axes = (v.ndim - 2, v.ndim - 1)
    return b.mul(_matrix_norm(v, p, axes, False), _matrix_norm(inverse, p, axes, False))


@traced
def matrix_rank(A: Any, tol: Any = None, hermitian: bool = False, *, rtol: Any = None) -> Any:  # noqa: N803
    """The number of singular values above ``tol`` (default numpy's
    ``max(s) * max(m, n) * eps``); an integer, so no gradient.

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> int(tnp.linalg.matrix_rank(np.array([[1.0, 2.0], [2.0, 4.0]])))
    1
    """
    v = as_float(A)
    if v.ndim < 2:  # numpy: 1 unless all zero
        return b.cast(b.gt(bs.sum(b.cast(b.ne(v, 0), DType.INT64)), 0), DType.INT64)
    s = _svd_parts.builder(v, False)[1]
    if tol is None:
        rtol = max(v.shape[-2:]) * np.finfo(v.dtype.numpy).eps if rtol is None else rtol
        tol = b.mul(bs.reduce(Op.REDUCE_MAX, s, -1, True), _rcond_value(rtol, v.dtype))
    else:
        tol = _rcond_value(tol, v.dtype)
    return bs.sum(b.cast(b.gt(s, tol), DType.INT64), -1)
