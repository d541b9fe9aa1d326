"""numpy's functions that rearrange elements: flipping, rolling, tiling, repeating, splitting,
stacking and the diagonals. Each is a composite of slicing, gathering with constant indices,
concatenation and reshapes, so each is differentiable and needs no primitive of its own. Shapes,
shifts, repeats and split points are static (Python ints), as numpy needs them to be.

>>> import numpy as np, tracegrad
>>> f = tracegrad.jit(lambda x: np.roll(np.flip(x), 1) + np.diff(x, append=0.0))
>>> f(np.arange(4.0))
array([ 1.,  4.,  3., -2.])
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir import indexing
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import ConcretizationError
from tracegrad.ir.types import normalize_axes, normalize_axis
from tracegrad.ir.value import Value
from tracegrad.numpy._core import items_of, traced

__all__ = [
    "add_at", "array_split", "atleast_2d", "atleast_3d", "column_stack", "diag", "diagflat",
    "diagonal", "diff", "dsplit", "dstack", "flip", "fliplr", "flipud", "hsplit", "kron",
    "meshgrid", "repeat", "roll", "rot90", "row_stack", "split", "tile", "trace", "tril",
    "triu", "vsplit",
]  # fmt: skip


def _static(n: Any, what: str) -> int:
    if not isinstance(n, int):
        raise ConcretizationError(f"{what} needs a known length; got a symbolic dim {n}")
    return n


def _along(v: Value, axis: int, item: Any) -> Value:
    """``v[..., item, ...]`` with ``item`` at ``axis``."""
    return indexing.getitem(v, (slice(None),) * axis + (item,))


@traced
def add_at(a: Any, indices: Any, update: Any) -> Any:
    """Functional ``np.add.at``: ``a`` with ``update`` added at ``indices``, repeated indices once
    per listing (``np.add.at(a, i, b)`` on a traced ``a`` rebinds it to this)."""
    return indexing.add_at(b.to_value(a), indices, update)


@traced
def flip(m: Any, axis: Any = None) -> Any:
    v = b.to_value(m)
    out = v
    for a in normalize_axes(axis, v.ndim):
        out = _along(out, a, slice(None, None, -1))
    return out


def fliplr(m: Any) -> Any:
    return flip(m, 1)


def flipud(m: Any) -> Any:
    return flip(m, 0)


def rot90(m: Any, k: int = 1, axes: tuple[int, int] = (0, 1)) -> Any:
    """numpy's rot90: k quarter turns from the first axis towards the second."""
    axes, ndim = tuple(axes), np.ndim(m)
    if len(axes) != 2:  # numpy's checks and messages, before any k
        raise ValueError("len(axes) must be 2.")
    if axes[0] == axes[1] or abs(axes[0] - axes[1]) == ndim:
        raise ValueError("Axes must be different.")
    if not all(-ndim <= axis < ndim for axis in axes):
        raise ValueError(f"Axes={axes} out of range for array of ndim={ndim}.")
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, axes[0]), axes[1])
    perm = list(range(np.ndim(m)))
    perm[axes[0]], perm[axes[1]] = perm[axes[1]], perm[axes[0]]
    from tracegrad.numpy._structural import transpose

    if k == 1:
        return transpose(flip(m, axes[1]), perm)
    return flip(transpose(m, perm), axes[1])


@traced
def roll(a: Any, shift: Any, axis: Any = None) -> Any:
    v = b.to_value(a)
    if axis is None:
        return bs.reshape(roll.builder(bs.reshape(v, (-1,)), shift, 0), v.shape)
    shifts = (shift,) if isinstance(shift, int) else tuple(shift)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if len(axes) == 1 and len(shifts) > 1:
        axes = axes * len(shifts)
    if len(shifts) == 1 and len(axes) > 1:
        shifts = shifts * len(axes)
    for s, ax in zip(shifts, axes, strict=True):
        ax = normalize_axis(ax, v.ndim)
        n = _static(v.shape[ax], "roll")
        s = s % n if n else 0
        if s:
            v = bs.concatenate([_along(v, ax, slice(n - s, n)), _along(v, ax, slice(0, n - s))], ax)
    return v


@traced
def diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = None, append: Any = None) -> Any:
    v = b.to_value(a)
    axis = normalize_axis(axis, v.ndim)
    parts = [v]
    for extra, first in ((prepend, True), (append, False)):
        if extra is not None:
            e = b.to_value(extra)
            if e.ndim == 0:
                shape = list(v.shape)
                shape[axis] = 1
                e = b.broadcast_to(e, tuple(shape))
            parts.insert(0 if first else len(parts), e)
    v = bs.concatenate(parts, axis) if len(parts) > 1 else v
    for _ in range(n):
        later, earlier = _along(v, axis, slice(1, None)), _along(v, axis, slice(None, -1))
        v = b.ne(later, earlier) if v.dtype.is_bool else b.sub(later, earlier)
    return v


@traced
def repeat(a: Any, repeats: Any, axis: int | None = None) -> Any:
    v = b.to_value(a)
    if axis is None or v.ndim == 0:  # numpy repeats a 0-d array as a 1-d one, any axis 0/-1
        v = bs.reshape(v, (-1,))
    axis = normalize_axis(0 if axis is None else axis, v.ndim)
    n = _static(v.shape[axis], "repeat")
    index = np.repeat(np.arange(n), repeats)  # numpy's own rule for int and per-item counts
    return _along(v, axis, index)


@traced
def tile(A: Any, reps: Any) -> Any:  # noqa: N803  (numpy's name)
    v = b.to_value(A)
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    ndim = max(v.ndim, len(reps))
    v = bs.reshape(v, (1,) * (ndim - v.ndim) + tuple(v.shape))
    reps = (1,) * (ndim - len(reps)) + reps
    interleaved = bs.reshape(v, tuple(d for n in v.shape for d in (1, n)))
    target = tuple(d for r, n in zip(reps, v.shape, strict=True) for d in (r, n))
    out_shape = tuple(r * _static(n, "tile") for r, n in zip(reps, v.shape, strict=True))
    return bs.reshape(b.broadcast_to(interleaved, target), out_shape)


def _split_points(n: int, sections: Any, even: bool) -> list[int]:
    if isinstance(sections, int):
        if even and n % sections:
            raise ValueError("array split does not result in an equal division")
        size, extra = divmod(n, sections)
        points, start = [], 0
        for i in range(sections):
            start += size + (1 if i < extra else 0)
            points.append(start)
        return points[:-1]
    return [int(p) for p in sections]


@traced
def array_split(ary: Any, indices_or_sections: Any, axis: int = 0, _even: bool = False) -> Any:
    v = b.to_value(ary)
    axis = normalize_axis(axis, v.ndim)
    n = _static(v.shape[axis], "split")
    bounds = [0, *_split_points(n, indices_or_sections, _even), n]
    return [_along(v, axis, slice(lo, max(lo, hi))) for lo, hi in itertools.pairwise(bounds)]


def split(ary: Any, indices_or_sections: Any, axis: int = 0) -> Any:
    return array_split(ary, indices_or_sections, axis, _even=True)


def hsplit(ary: Any, indices_or_sections: Any) -> Any:
    return split(ary, indices_or_sections, 1 if np.ndim(ary) > 1 else 0)


def vsplit(ary: Any, indices_or_sections: Any) -> Any:
    return split(ary, indices_or_sections, 0)


def dsplit(ary: Any, indices_or_sections: Any) -> Any:
    return split(ary, indices_or_sections, 2)


def _at_least(v: Value, ndim: int) -> Value:
    shape = tuple(v.shape)
    if v.ndim >= ndim:
        return v
    if ndim == 2:
        return bs.reshape(v, (1,) * (2 - v.ndim) + shape)
    return bs.reshape(v, {0: (1, 1, 1), 1: (1, *shape, 1), 2: (*shape, 1)}[v.ndim])


@traced
def atleast_2d(*arys: Any) -> Any:
    outs = [_at_least(b.to_value(a), 2) for a in arys]
    return outs[0] if len(outs) == 1 else outs


@traced
def atleast_3d(*arys: Any) -> Any:
    outs = [_at_least(b.to_value(a), 3) for a in arys]
    return outs[0] if len(outs) == 1 else outs


@traced
def column_stack(tup: Sequence[Any]) -> Any:
    cols = items_of(tup)
    cols = [bs.reshape(c, (-1, 1)) if c.ndim < 2 else c for c in cols]
    return bs.concatenate(cols, 1)


@traced
def row_stack(tup: Sequence[Any], dtype: Any = None, casting: str = "same_kind") -> Any:
    out = bs.concatenate([_at_least(t, 2) for t in items_of(tup)], 0)
    return out if dtype is None else b.cast(out, DType.from_numpy(np.dtype(dtype)))


@traced
def dstack(tup: Sequence[Any]) -> Any:
    return bs.concatenate([_at_least(t, 3) for t in items_of(tup)], 2)


@traced
def meshgrid(*xi: Any, indexing: str = "xy", sparse: bool = False, copy: bool = True) -> Any:
    vs = [bs.reshape(b.to_value(x), (-1,)) for x in xi]
    shape = [v.shape[0] for v in vs]
    if indexing == "xy" and len(vs) > 1:
        shape[0], shape[1] = shape[1], shape[0]
    outs = []
    for i, v in enumerate(vs):
        axis = {0: 1, 1: 0}.get(i, i) if indexing == "xy" and len(vs) > 1 else i
        grid = [1] * len(vs)
        grid[axis] = v.shape[0]
        out = bs.reshape(v, tuple(grid))
        outs.append(out if sparse else b.broadcast_to(out, tuple(shape)))
    return outs


@traced
def kron(a: Any, b_: Any) -> Any:
    x, y = b.to_value(a), b.to_value(b_)
    ndim = max(x.ndim, y.ndim)
    x = bs.reshape(x, (1,) * (ndim - x.ndim) + tuple(x.shape))
    y = bs.reshape(y, (1,) * (ndim - y.ndim) + tuple(y.shape))
    xs = bs.reshape(x, tuple(d for n in x.shape for d in (n, 1)))
    ys = bs.reshape(y, tuple(d for n in y.shape for d in (1, n)))
    shape = tuple(
        _static(m, "kron") * _static(n, "kron") for m, n in zip(x.shape, y.shape, strict=True)
    )
    return bs.reshape(b.mul(xs, ys), shape)


def _diagonal_index(rows: int, cols: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    start_r, start_c = max(-offset, 0), max(offset, 0)
    length = max(0, min(rows - start_r, cols - start_c))
    i = np.arange(length)
    return i + start_r, i + start_c


@traced
def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    v = b.to_value(a)
    axis1, axis2 = normalize_axis(axis1, v.ndim), normalize_axis(axis2, v.ndim)
    rest = [d for d in range(v.ndim) if d not in (axis1, axis2)]
    moved = bs.transpose(v, (*rest, axis1, axis2))
    rows, cols = (_static(v.shape[d], "diagonal") for d in (axis1, axis2))
    r, c = _diagonal_index(rows, cols, offset)
    if r.size == 0:
        return b.full((*moved.shape[:-2], 0), 0, v.dtype)
    return indexing.getitem(moved, (Ellipsis, r, c))


@traced
def trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None) -> Any:
    d = diagonal.builder(a, offset, axis1, axis2)
    total = bs.sum(d, -1)
    return total if dtype is None else b.cast(total, dtype)


def _tri_mask(shape: tuple, k: int, lower: bool) -> Value:
    """numpy's ``tri(*m.shape[-2:])``: a 1-d ``m`` gets a square mask (the result broadcasts to
    2-d) and a 0-d ``m`` is a TypeError, as in numpy."""
    dims = [_static(n, "tril/triu") for n in shape[-2:]]
    if not dims:
        raise TypeError("np.tril/np.triu need an array of at least 1 dimension, got a 0-d array")
    rows, cols = dims[0], dims[-1]
    mask = np.tri(rows, cols, k, dtype=bool) if lower else ~np.tri(rows, cols, k - 1, dtype=bool)
    return b.to_value(mask)


@traced
def tril(m: Any, k: int = 0) -> Any:
    v = b.to_value(m)
    return b.where(_tri_mask(tuple(v.shape), k, True), v, b.zeros_like(v))


@traced
def triu(m: Any, k: int = 0) -> Any:
    v = b.to_value(m)
    return b.where(_tri_mask(tuple(v.shape), k, False), v, b.zeros_like(v))


@traced
def diag(v: Any, k: int = 0) -> Any:
    x = b.to_value(v)
    if x.ndim == 2:
        return diagonal.builder(x, k)
    if x.ndim != 1:
        raise ValueError("Input must be 1- or 2-d.")
    n = _static(x.shape[0], "diag")
    size = n + abs(k)
    rows, cols = np.indices((size, size))
    on_diagonal = cols - rows == k
    source = np.clip(rows if k >= 0 else cols, 0, max(n - 1, 0))
    if n == 0:
        return b.full((size, size), 0, x.dtype)
    values = bs.take(x, b.to_value(source), axis=0)
    return b.where(b.to_value(on_diagonal), values, b.zeros_like(values))


def diagflat(v: Any, k: int = 0) -> Any:
    from tracegrad.numpy._structural import ravel

    return diag(ravel(v), k)
