"""tracegrad.numpy.linalg: numpy.linalg for traced code, with gradients.

Under ``jit``/``grad`` the ``numpy.linalg`` functions dispatch here (``np.linalg.solve(x, y)``
with a traced ``x``), and ``tracegrad.numpy.linalg.<name>`` is the same function. Seven
primitive rows do the numerical work by calling LAPACK through numpy on whole stacks
(``tracegrad/ir/prims/linalg.py``: cholesky, triangular_solve, solve, slogdet, eigh, svd,
qr); everything else is a composite of rows. numpy's ``LinAlgError`` (singular matrix, not
positive definite) is raised when the function runs, as numpy raises it. See
``docs/linalg.md`` for the conventions of the gradients.

>>> import numpy as np, tracegrad
>>> a = np.array([[4.0, 1.0], [1.0, 3.0]])
>>> bool(tracegrad.jit(lambda a: np.linalg.slogdet(a)[1])(a) == np.linalg.slogdet(a)[1])
True
>>> np.allclose(tracegrad.grad(lambda a: np.linalg.slogdet(a)[1])(a), np.linalg.inv(a).T)
True
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import linalg_ops as la
from tracegrad.ir.value import Value
from tracegrad.numpy._core import traced
from tracegrad.numpy._linalg_decomp import (
    cond,
    eigh,
    eigvalsh,
    lstsq,
    matrix_rank,
    norm,
    pinv,
    qr,
    svd,
    svdvals,
)
from tracegrad.numpy._linalg_shapes import as_float, common_float, square

LinAlgError = np.linalg.LinAlgError

__all__ = [
    "LinAlgError", "SlogdetResult", "cholesky", "cond", "det", "eigh", "eigvalsh", "inv",
    "lstsq", "matmul", "matrix_power", "matrix_rank", "matrix_transpose", "multi_dot", "norm",
    "pinv", "qr", "slogdet", "solve", "solve_triangular", "svd", "svdvals",
]  # fmt: skip

# the numpy.linalg functions that dispatch here (tracegrad.numpy.dispatch reads this list)
NUMPY_NAMES = tuple(n for n in __all__ if n[0].islower() and n != "solve_triangular")


class SlogdetResult(NamedTuple):
    sign: Any
    logabsdet: Any


@traced
def cholesky(a: Any, /, *, upper: bool = False) -> Any:
    """The Cholesky factor of symmetric positive-definite matrices (stacks too): lower ``L``
    with ``a = L @ L.T`` (``upper=True``: ``U = L.T``). Only one triangle of ``a`` is read, so
    the gradient is the symmetric one. Not positive definite: numpy's ``LinAlgError``.

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> tnp.linalg.cholesky(np.array([[4.0, 2.0], [2.0, 2.0]])).tolist()
    [[2.0, 0.0], [1.0, 1.0]]
    """
    v = square(as_float(a))
    if upper:
        return la.matrix_transpose(b.apply(Op.CHOLESKY, [la.matrix_transpose(v)]))
    return b.apply(Op.CHOLESKY, [v])


def _solve_with(op: Op, a: Any, rhs: Any, **attrs: Any) -> Value:
    """Apply a solve row with numpy's rules: ``rhs`` is a vector when it is 1-d, otherwise a
    stack of matrices; the batch dims broadcast."""
    x, y = common_float(a, rhs)
    x = square(x)
    vector = y.ndim == 1
    y = bs.reshape(y, y.shape + (1,)) if vector else y
    if y.ndim < 2 or y.shape[-2] != x.shape[-1]:
        raise ValueError(
            f"solve: Input operand 1 has a mismatch in its core dimension 0 (shapes "
            f"{tuple(x.shape)} and {tuple(y.shape)})"
        )
    batch = b.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    x, y = b.broadcast_to(x, batch + x.shape[-2:]), b.broadcast_to(y, batch + y.shape[-2:])
    out = b.apply(op, [x, y], **attrs)
    return bs.reshape(out, out.shape[:-1]) if vector else out


@traced
def solve(a: Any, b_: Any) -> Any:
    """x with ``a @ x = b``: ``b`` is a vector when 1-d, otherwise (a stack of) matrices, as
    numpy 2 reads it. Singular ``a``: numpy's ``LinAlgError``.

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> tnp.linalg.solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([2.0, 2.0])).tolist()
    [1.0, 0.5]
    """
    return _solve_with(Op.SOLVE, a, b_)


@traced
def solve_triangular(a: Any, b_: Any, *, lower: bool = False) -> Any:
    """x with ``tril(a) @ x = b`` (``lower=True``) or ``triu(a) @ x = b``; the other triangle
    of ``a`` is not read. Not in numpy (scipy.linalg's name and defaults, left side only);
    the building block of the Cholesky and QR gradients.

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> l = np.array([[2.0, 0.0], [1.0, 1.0]])
    >>> tnp.linalg.solve_triangular(l, np.array([2.0, 3.0]), lower=True).tolist()
    [1.0, 2.0]
    """
    return _solve_with(Op.TRIANGULAR_SOLVE, a, b_, lower=lower)


@traced
def inv(a: Any) -> Any:
    """The inverse, ``solve(a, I)``. Singular ``a``: numpy's ``LinAlgError``.

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> tnp.linalg.inv(np.array([[2.0, 0.0], [0.0, 4.0]])).tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    v = square(as_float(a))
    return b.apply(Op.SOLVE, [v, la.identity_like(v)])


@traced
def _slogdet_parts(a: Any) -> tuple[Value, Value]:
    packed = b.apply(Op.SLOGDET, [square(as_float(a))])
    sign, logabsdet = la.take(packed, -1, 0, 1), la.take(packed, -1, 1, 2)
    return bs.reshape(sign, sign.shape[:-1]), bs.reshape(logabsdet, logabsdet.shape[:-1])


def slogdet(a: Any) -> SlogdetResult:
    """(sign, log|det|) from LAPACK's LU, never overflowing; the gradient of log|det| is
    ``inv(a).T`` (the sign's is 0).

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> sign, logdet = tnp.linalg.slogdet(np.eye(3) * 1e200)
    >>> float(sign), round(float(logdet), 6)
    (1.0, 1381.551056)
    """
    return SlogdetResult(*_slogdet_parts(a))


@traced
def det(a: Any) -> Any:
    """``sign * exp(log|det|)`` from slogdet: equal to numpy's det within a relative error of
    about ``(|log|det|| + n) * eps``.

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> round(float(tnp.linalg.det(np.array([[1.0, 2.0], [3.0, 4.0]]))), 12)
    -2.0
    """
    sign, logabsdet = _slogdet_parts.builder(a)
    return b.mul(sign, b.exp(logabsdet))


@traced
def matrix_transpose(x: Any, /) -> Any:
    """Swap the last two axes (numpy.linalg.matrix_transpose)."""
    v = b.to_value(x)
    if v.ndim < 2:
        raise ValueError("Input array must be at least 2-dimensional")
    return la.matrix_transpose(v)


@traced
def matmul(x1: Any, x2: Any, /) -> Any:
    """numpy.linalg.matmul (numpy.matmul)."""
    return bs.matmul(x1, x2)


@traced
def matrix_power(a: Any, n: int) -> Any:
    """``a`` to the integer power ``n`` by repeated squaring, in numpy's order of products
    (so the values are numpy's); ``n < 0`` inverts first, ``n == 0`` is the identity.

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> tnp.linalg.matrix_power(np.array([[1.0, 1.0], [0.0, 1.0]]), 5).tolist()
    [[1.0, 5.0], [0.0, 1.0]]
    """
    v = square(b.to_value(a))
    n = int(n)
    if n == 0:
        return b.broadcast_to(b.to_value(np.eye(v.shape[-1], dtype=v.dtype.numpy)), v.shape)
    if n < 0:
        v, n = b.apply(Op.SOLVE, [square(as_float(v)), la.identity_like(as_float(v))]), -n
    z = result = None
    while n > 0:
        z = v if z is None else bs.matmul(z, z)
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else bs.matmul(result, z)
    return result


def _chain_order(shapes: list[tuple[int, int]]) -> list[list[int]]:
    """numpy's dynamic program for the cheapest parenthesization (Cormen 15.2)."""
    n = len(shapes)
    dims = [shapes[0][0]] + [s[1] for s in shapes]
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = np.inf  # type: ignore[call-overload]
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def _chain(arrays: list[Value], split: list[list[int]], i: int, j: int) -> Value:
    if i == j:
        return arrays[i]
    k = split[i][j]
    return bs.dot(_chain(arrays, split, i, k), _chain(arrays, split, k + 1, j))


@traced
def multi_dot(arrays: Any, *, out: Any = None) -> Any:
    """The product of a chain of matrices in the cheapest order (numpy's choice): the first
    array may be 1-d (a row vector), the last too (a column vector).

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> tnp.linalg.multi_dot([np.ones(2), np.eye(2), np.ones((2, 3))]).tolist()
    [2.0, 2.0, 2.0]
    """
    if out is not None:
        raise ValueError("multi_dot(..., out=) is not supported on traced values")
    values = [b.to_value(x) for x in arrays]
    if len(values) < 2:
        raise ValueError("Expecting at least two arrays.")
    if len(values) == 2:
        return bs.dot(values[0], values[1])
    first, last = values[0].ndim == 1, values[-1].ndim == 1
    if first:
        values[0] = bs.reshape(values[0], (1, values[0].shape[0]))
    if last:
        values[-1] = bs.reshape(values[-1], (values[-1].shape[0], 1))
    for v in values:
        if v.ndim != 2:  # numpy's error and message
            raise LinAlgError(f"{v.ndim}-dimensional array given. Array must be two-dimensional")
    split = _chain_order([tuple(v.shape) for v in values])  # type: ignore[misc]
    result = _chain(values, split, 0, len(values) - 1)
    if first and last:
        return bs.reshape(result, ())
    if first or last:
        return bs.reshape(result, (result.shape[1],) if first else (result.shape[0],))
    return result
