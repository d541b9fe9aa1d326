"""numpy's NaN-ignoring reductions and small statistics: ``nansum``, ``nanmean``, ``nanmax``,
``nanmin``, ``nanvar``, ``nanstd``, ``average``, ``ptp``, ``count_nonzero``, ``cov`` and
``corrcoef``, as composites of masked reductions (``isnan`` is ``x != x``). Like numpy, an
all-NaN slice gives NaN (numpy also warns; traced code cannot).

>>> import numpy as np, tracegrad
>>> x = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]])
>>> tracegrad.jit(lambda a: (np.nanmean(a, axis=1), np.nanmax(a, axis=1)))(x)
(array([ 2., nan]), array([ 3., nan]))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import ConcretizationError
from tracegrad.ir.ops import Op
from tracegrad.ir.types import normalize_axes
from tracegrad.ir.value import Value
from tracegrad.numpy._core import traced

__all__ = [
    "average", "corrcoef", "count_nonzero", "cov", "nanmax", "nanmean", "nanmin", "nanstd",
    "nansum", "nanvar", "ptp",
]  # fmt: skip


def _float(a: Any) -> Value:
    v = b.to_value(a)
    return v if v.dtype.is_float else b.cast(v, DType.FLOAT64)


def _isnan(v: Value) -> Value:
    return b.ne(v, v) if v.dtype.is_float else b.zeros_like(v, DType.BOOL)


@traced
def nansum(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    v = b.to_value(a)
    return bs.sum(b.where(_isnan(v), b.zeros_like(v), v), axis, keepdims)


def _nan_count(v: Value, axis: Any, keepdims: bool) -> Value:
    return bs.sum(b.cast(b.eq(v, v), v.dtype), axis, keepdims)  # x == x: not NaN


@traced
def nanmean(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    v = _float(a)
    total = bs.sum(b.where(_isnan(v), b.zeros_like(v), v), axis, keepdims)
    return b.div(total, _nan_count(v, axis, keepdims))  # 0 / 0: NaN for an all-NaN slice


def _nan_extreme(op: Op, a: Any, axis: Any, keepdims: bool) -> Value:
    v = b.to_value(a)
    if not v.dtype.is_float:
        return bs.reduce(op, v, axis, keepdims)
    fill = -np.inf if op is Op.REDUCE_MAX else np.inf
    nan = _isnan(v)
    out = bs.reduce(op, b.where(nan, b.full(v.shape, fill, v.dtype), v), axis, keepdims)
    all_nan = bs.reduce(Op.REDUCE_MIN, b.cast(nan, DType.INT64), axis, keepdims)
    return b.where(b.gt(all_nan, 0), b.full(out.shape, np.nan, v.dtype), out)


@traced
def nanmax(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _nan_extreme(Op.REDUCE_MAX, a, axis, keepdims)


@traced
def nanmin(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _nan_extreme(Op.REDUCE_MIN, a, axis, keepdims)


@traced
def nanvar(a: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
    v = _float(a)
    nan = _isnan(v)
    count = _nan_count(v, axis, True)
    mean = b.div(bs.sum(b.where(nan, b.zeros_like(v), v), axis, True), count)
    centered = b.where(nan, b.zeros_like(v), b.sub(v, mean))
    squares = bs.sum(b.mul(centered, centered), axis, keepdims)
    dof = b.sub(_nan_count(v, axis, keepdims), float(ddof))
    # numpy: a slice with count <= ddof gives NaN (and warns), not a negative variance
    return b.where(b.gt(dof, 0.0), b.div(squares, dof), b.full(squares.shape, np.nan, v.dtype))


@traced
def nanstd(a: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
    variance = nanvar.builder(a, axis, keepdims, ddof)
    return b.where(b.eq(variance, 0.0), 0.0, b.sqrt(variance))  # gradient 0, not NaN, at 0


@traced
def ptp(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    v = b.to_value(a)
    high = bs.reduce(Op.REDUCE_MAX, v, axis, keepdims)
    return b.sub(high, bs.reduce(Op.REDUCE_MIN, v, axis, keepdims))


@traced
def count_nonzero(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    v = b.to_value(a)
    return bs.sum(b.cast(b.ne(v, b.zeros_like(v)), DType.INT64), axis, keepdims)


@traced
def average(a: Any, axis: Any = None, weights: Any = None, returned: bool = False) -> Any:
    v = _float(a)
    if weights is None:
        avg = bs.mean(v, axis)
        count = np.prod([v.shape[i] for i in normalize_axes(axis, v.ndim)])
        scale = b.full(avg.shape, float(count), avg.dtype)
    else:
        w = b.to_value(weights)
        if w.ndim == 1 and v.ndim > 1:
            if axis is None:
                raise TypeError("Axis must be specified when shapes of a and weights differ.")
            (ax,) = normalize_axes(axis, v.ndim)
            w = bs.reshape(w, tuple(w.shape[0] if i == ax else 1 for i in range(v.ndim)))
        scale = bs.sum(b.mul(b.ones_like(v), w), axis)
        avg = b.div(bs.sum(b.mul(v, w), axis), scale)
    return (avg, scale) if returned else avg


def _observations(m: Any, y: Any, rowvar: bool) -> Value:
    """Variables as rows, observations as columns: numpy's ``array(m, ndmin=2)``, transposed
    when ``rowvar`` is False (unless it has one row), with ``y``'s variables appended."""
    x = _float(m)
    x = bs.reshape(x, (1,) * (2 - x.ndim) + tuple(x.shape)) if x.ndim < 2 else x
    if not rowvar and x.shape[0] != 1:
        x = bs.transpose(x)
    return x if y is None else bs.concatenate([x, _observations(y, None, rowvar)], 0)


@traced
def cov(m: Any, y: Any = None, rowvar: bool = True, bias: bool = False, ddof: Any = None) -> Any:
    x = _observations(m, y, rowvar)
    n = x.shape[1]
    if not isinstance(n, int):
        raise ConcretizationError("cov needs a known number of observations")
    ddof = (0 if bias else 1) if ddof is None else ddof
    centered = b.sub(x, bs.mean(x, 1, keepdims=True))
    out = b.div(bs.matmul(centered, bs.transpose(centered)), float(n - ddof))
    return bs.reshape(out, ()) if x.shape[0] == 1 else out


@traced
def corrcoef(x: Any, y: Any = None, rowvar: bool = True) -> Any:
    c = cov.builder(x, y, rowvar)
    if c.ndim == 0:
        return b.div(c, c)
    rows = c.shape[0]
    diagonal = bs.sum(b.where(b.to_value(np.eye(rows, dtype=bool)), c, b.zeros_like(c)), 1)
    std = b.sqrt(diagonal)
    out = b.div(b.div(c, bs.reshape(std, (rows, 1))), bs.reshape(std, (1, rows)))
    return b.minimum(b.maximum(out, -1.0), 1.0)  # numpy clips rounding outside [-1, 1]
