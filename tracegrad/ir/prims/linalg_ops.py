"""Matrix helpers over Values, shared by the linear-algebra VJP rules (``linalg_vjp``) and
``tracegrad.numpy.linalg``: transposes of the last two dims, triangles, diagonals, the packed
results of the linear-algebra rows taken apart, and the rows applied. Every helper builds
ordinary IR, so rules written with them can be differentiated again.

``build`` imports the primitive table, hence the lazy builders (as in ``structural_vjp``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir.ops import Op
from tracegrad.ir.prims.table import lazy_build

_b = lazy_build


def _bs() -> Any:
    from tracegrad.ir import build_shape

    return build_shape


def matrix_transpose(x: Any) -> Any:
    """Swap the last two dims."""
    perm = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return _bs().transpose(x, perm)


def matmul(x: Any, y: Any) -> Any:
    return _bs().matmul(x, y)


def take(x: Any, axis: int, start: int, stop: int) -> Any:
    """``x[..., start:stop, :]`` (axis -2) or ``x[..., start:stop]`` (axis -1). Taking back
    exactly what a zero pad surrounds (a packed cotangent: the VJP of slicing a packed
    result pads) gives the padded value itself, without a pad and a slice in the plan."""
    slices = [(0, d, 1) for d in x.shape]
    slices[axis] = (start, stop, 1)
    if all(s == (0, d, 1) for s, d in zip(slices, x.shape, strict=True)):
        return x
    static = all(isinstance(d, int) for d in x.shape)
    if static and x.op is Op.PAD and x.attr("value") == 0.0:
        inner = x.operands[0]
        spans = [(lo, lo + d, 1) for (lo, _), d in zip(x.attr("pads"), inner.shape, strict=True)]
        if spans == slices:
            return inner
    return _b().apply(Op.SLICE, [x], slices=tuple(slices))


def concatenate_columns(xs: list[Any]) -> Any:
    return _bs().concatenate(xs, axis=-1)


def row(x: Any, i: int) -> Any:
    """``x[..., i, :]``."""
    part = take(x, -2, i, i + 1)
    return _bs().reshape(part, part.shape[:-2] + part.shape[-1:])


def column_vector(v: Any) -> Any:
    """``v[..., :, None]``."""
    return _bs().reshape(v, v.shape + (1,))


def row_vector(v: Any) -> Any:
    """``v[..., None, :]``."""
    return _bs().reshape(v, v.shape[:-1] + (1,) + v.shape[-1:])


def triangle(x: Any, lower: bool, k: int = 0) -> Any:
    """numpy's ``tril(x, k)`` (lower) or ``triu(x, k)`` of the last two dims."""
    m, n = x.shape[-2:]
    mask = np.tri(m, n, k, dtype=bool) if lower else ~np.tri(m, n, k - 1, dtype=bool)
    return _b().where(mask, x, 0)


def eye_mask(n: int) -> np.ndarray:
    return np.eye(n, dtype=bool)


def identity_like(a: Any) -> Any:
    """The identity of ``a``'s last dim, broadcast to ``a``'s shape."""
    n = a.shape[-1]
    return _b().broadcast_to(_b().to_value(np.eye(n, dtype=a.dtype.numpy)), a.shape)


def diagonal(x: Any) -> Any:
    """The main diagonal of square matrices: ``(..., n, n) -> (..., n)``."""
    return _bs().sum(_b().where(eye_mask(x.shape[-1]), x, 0), -1)


def diag_embed(v: Any) -> Any:
    """Square matrices with ``v`` on the diagonal: ``(..., n) -> (..., n, n)``."""
    n = v.shape[-1]
    full = _b().broadcast_to(row_vector(v), v.shape[:-1] + (n, n))
    return _b().where(eye_mask(n), full, 0)


def symmetrize(x: Any) -> Any:
    return _b().mul(_b().add(x, matrix_transpose(x)), 0.5)


def safe_reciprocal(x: Any) -> Any:
    """1 / x, and 0 where x == 0 (the inner select keeps 1/0 out of second derivatives)."""
    b = _b()
    zero = b.eq(x, 0)
    return b.where(zero, 0, b.div(1, b.where(zero, 1, x)))


def solve_triangular(a: Any, rhs: Any, lower: bool) -> Any:
    """x with tril(a) @ x = rhs (lower) or triu(a) @ x = rhs; batch dims already equal."""
    return _b().apply(Op.TRIANGULAR_SOLVE, [a, rhs], lower=lower)


def solve(a: Any, rhs: Any) -> Any:
    return _b().apply(Op.SOLVE, [a, rhs])


# ---- the packed results of the rows (layouts: tracegrad.ir.prims.linalg) ---------------------


def eigh_parts(packed: Any) -> tuple[Any, Any]:
    """(eigenvalues, eigenvectors)."""
    return row(packed, 0), take(packed, -2, 1, packed.shape[-2])


def qr_parts(packed: Any, m: int, n: int) -> tuple[Any, Any]:
    """(q, r) of an m x n input."""
    q = take(take(packed, -2, 0, m), -1, 0, min(m, n))
    return q, take(packed, -2, m, packed.shape[-2])


def svd_parts(packed: Any, m: int, n: int, cols: int) -> tuple[Any, Any, Any]:
    """(u, s, vh) of an m x n input; ``cols``: columns of u (min(m, n), or m when full)."""
    u = take(take(packed, -2, 0, m), -1, 0, cols)
    s = take(row(packed, m), -1, 0, min(m, n))
    vh = take(take(packed, -2, m + 1, packed.shape[-2]), -1, 0, n)
    return u, s, vh
