"""Sorting and order statistics: ``sort``, ``argsort``, ``partition``, ``argpartition``,
``median``, ``quantile``, ``percentile`` (the nan* versions are in ``_nanorder``).

All are built on the ``sort``/``argsort`` rows (``tracegrad/ir/prims/sorting.py``), so a
gradient reaches exactly the selected elements: the median's goes to the one or two middle
elements, a quantile's to the two neighbours it interpolates. NaNs sort last, as in numpy; a
slice holding a NaN has a NaN median and quantiles (the nan* versions skip NaNs).

>>> import numpy as np, tracegrad
>>> x = np.array([3.0, 1.0, 4.0, 1.5])
>>> tracegrad.jit(np.median)(x), np.median(x)
(array(2.25), np.float64(2.25))
>>> tracegrad.grad(np.median)(x)
array([0.5, 0. , 0. , 0.5])
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import ConcretizationError, UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.types import format_shape, normalize_axes
from tracegrad.ir.value import Value
from tracegrad.numpy._core import traced
from tracegrad.numpy._quantiles import quantile_points
from tracegrad.numpy.notes import Grad, note

__all__ = ["argpartition", "argsort", "median", "partition", "percentile", "quantile", "sort"]


def axis_last(v: Value, axis: Any) -> tuple[Value, tuple, tuple]:
    """``v`` with the reduced axes moved to the end and merged into one; the result shape
    without them, and the keepdims shape."""
    if axis is None:
        return bs.reshape(v, (-1,)), (), (1,) * v.ndim
    axes = normalize_axes(axis, v.ndim)
    rest = [i for i in range(v.ndim) if i not in axes]
    moved = bs.transpose(v, rest + list(axes))
    out_shape = tuple(v.shape[i] for i in rest)
    n = math.prod(v.shape[i] for i in axes)
    kept = tuple(1 if i in axes else d for i, d in enumerate(v.shape))
    return bs.reshape(moved, out_shape + (n,)), out_shape, kept


def _order(op: Op, a: Any, axis: Any) -> Value:
    v = b.to_value(a)
    if axis is None:
        v, axis = bs.reshape(v, (-1,)), 0
    (axis,) = normalize_axes(axis, v.ndim)
    return b.apply(op, [v], axis=axis)


@traced
def sort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, stable: Any = None) -> Any:
    """numpy.sort: ascending along ``axis`` (flattened when None), NaNs last. Differentiable:
    each output position's cotangent goes back to the element sorted there.

    >>> import numpy as np, tracegrad
    >>> tracegrad.jit(np.sort)(np.array([2.0, np.nan, -1.0])).tolist()
    [-1.0, 2.0, nan]
    """
    if order is not None:
        raise UnsupportedError("numpy.sort with order= (structured arrays)")
    return _order(Op.SORT, a, axis)


@traced
def argsort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, stable: Any = None) -> Any:
    """numpy.argsort, always the stable order (numpy's ``kind='stable'``): equal elements keep
    their order, so the result may differ from numpy's default quicksort only between ties.
    Integer output, no gradient.

    >>> import numpy as np, tracegrad
    >>> tracegrad.jit(np.argsort)(np.array([2.0, 1.0, 2.0])).tolist()
    [1, 0, 2]
    """
    if order is not None:
        raise UnsupportedError("numpy.argsort with order= (structured arrays)")
    if b.to_value(a).ndim == 0:  # numpy's legacy: a 0-d array sorts as a 1-d one of one item
        if axis is not None:
            normalize_axes(axis, 1)
        return b.full((1,), 0, DType.INT64)
    return _order(Op.ARGSORT, a, axis)


def _check_kth(v: Value, kth: Any, axis: Any) -> None:
    if not isinstance(kth, (int, np.integer, list, tuple, np.ndarray)):
        raise ConcretizationError("partition: kth must be static integers, not traced values")
    n = static_size(v, "partition") if axis is None else v.shape[normalize_axes(axis, v.ndim)[0]]
    for k in np.ravel(kth):
        if not -n <= int(k) < n:
            raise ValueError(f"kth(={int(k)}) out of bounds ({n})")


@traced
def partition(a: Any, kth: Any, axis: Any = -1, kind: str = "introselect", order: Any = None):
    """numpy.partition: returns the fully sorted array, which is one valid partition (numpy
    guarantees only that element ``kth`` is in place, smaller ones before, larger after)."""
    v = b.to_value(a)
    _check_kth(v, kth, axis)
    return sort.builder(v, axis)


@traced
def argpartition(a: Any, kth: Any, axis: Any = -1, kind: str = "introselect", order: Any = None):
    """numpy.argpartition: the stable sorting permutation (a valid partition for every kth)."""
    v = b.to_value(a)
    _check_kth(v, kth, axis)
    return argsort.builder(v, axis)


def _float(v: Value) -> Value:
    return v if v.dtype.is_float else b.cast(v, DType.FLOAT64)


def static_size(v: Value, name: str) -> int:
    """The number of elements, which an order statistic's positions depend on."""
    if not v.type.is_concrete:
        raise UnsupportedError(
            f"{name} of symbolic shape {format_shape(v.shape)}: needs a static size"
        )
    return v.type.size


def on_empty(fn: Any, v: Value) -> Value:
    """A size-0 input: numpy's own result (NaNs, an empty array) or its error, as a constant."""
    return b.to_value(np.asarray(fn(np.zeros(v.shape, v.dtype.numpy))))


def _take_last(s: Value, i: int) -> Value:
    n = s.shape[-1]
    slices = tuple((0, d, 1) for d in s.shape[:-1]) + ((i, i + 1, 1),)
    return bs.reshape(b.apply(Op.SLICE, [s], slices=slices), s.shape[:-1]) if n else s


def _nan_last(s: Value, result: Value) -> Value:
    """NaN where the sorted slice ends in a NaN (numpy's check after partitioning)."""
    if not s.dtype.is_float:
        return result
    last = b.cast(_take_last(s, s.shape[-1] - 1), result.dtype)
    return b.where(b.ne(last, last), last, result)


@traced
def median(a: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
           keepdims: bool = False) -> Any:  # fmt: skip
    """numpy.median: the middle element, or the mean of the two middle ones; NaN when the
    slice holds a NaN. The gradient goes to those one or two elements."""
    if out is not None:
        raise UnsupportedError("numpy.median with out=")
    v = b.to_value(a)
    if static_size(v, "median") == 0:
        return on_empty(lambda x: np.median(x, axis=axis, keepdims=keepdims), v)
    flat, out_shape, kept = axis_last(_float(v), axis)
    s = b.apply(Op.SORT, [flat], axis=flat.ndim - 1)
    n = s.shape[-1]
    mid = _take_last(s, n // 2)
    if n % 2 == 0:  # numpy's mean of the two: (lo + hi) / 2
        mid = b.div(b.add(_take_last(s, n // 2 - 1), mid), 2.0)
    result = _nan_last(s, mid)
    return bs.reshape(result, kept) if keepdims else result


def quantile_of(v: Value, q: Any, axis: Any, method: str, keepdims: bool, reference: Any) -> Value:
    """``reference(x)`` is numpy's call on ``x``: it validates ``q`` and ``method`` and gives
    the result dtype (on a one-element stand-in), or the whole result for a size-0 input."""
    if static_size(v, "quantile") == 0:
        return on_empty(lambda x: reference(x, axis=axis, keepdims=keepdims), v)
    dtype = DType.from_numpy(np.asarray(reference(np.zeros(1, v.dtype.numpy))).dtype)
    flat, out_shape, kept = axis_last(v, axis)
    s = b.apply(Op.SORT, [flat], axis=flat.ndim - 1)
    results = []
    for point in quantile_points(s.shape[-1], np.ravel(q), method):
        lo = _take_last(s, point.lo)
        if point.gamma is None:  # a discrete method: the element itself
            results.append(_nan_last(s, b.cast(lo, dtype)))
            continue
        hi = _take_last(s, point.hi)
        diff = b.cast(b.sub(hi, lo), dtype)  # numpy's _lerp subtracts in the input's dtype
        lo, hi = b.cast(lo, dtype), b.cast(hi, dtype)
        if point.gamma >= 0.5:  # numpy's _lerp: from the upper end when t >= 0.5
            value = b.sub(hi, b.mul(diff, b.full((), 1.0 - point.gamma, dtype)))
        else:
            value = b.add(lo, b.mul(diff, b.full((), point.gamma, dtype)))
        results.append(_nan_last(s, value))
    shape = kept if keepdims else out_shape
    return bs.reshape(bs.stack(results, 0), np.shape(q) + shape)


def static_q(q: Any) -> tuple[Any, bool]:
    """``q`` as numpy takes it, and whether it is weak (a Python int or float: the result
    keeps the array's float dtype)."""
    if isinstance(q, Value) or any(isinstance(i, Value) for i in np.ravel(np.asarray(q, object))):
        raise ConcretizationError("quantile/percentile: q must be static numbers, not traced")
    return (q if type(q) in (int, float) else np.asanyarray(q)), type(q) in (int, float)


def check_args(name: str, out: Any, weights: Any, interpolation: Any) -> None:
    if out is not None or weights is not None or interpolation is not None:
        raise UnsupportedError(f"numpy.{name} with out=, weights= or interpolation=")


@traced
def quantile(a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
             method: str = "linear", keepdims: bool = False, *, weights: Any = None,
             interpolation: Any = None) -> Any:  # fmt: skip
    """numpy.quantile with every ``method`` of numpy (not ``weights=``); ``q`` static. The
    gradient goes to the (at most two) order statistics each quantile interpolates."""
    check_args("quantile", out, weights, interpolation)
    q, weak = static_q(q)

    def reference(x: np.ndarray, **kw: Any) -> Any:
        return np.quantile(x, q, method=method, **kw)

    return quantile_of(b.to_value(a), np.asanyarray(q), axis, method, keepdims, reference)


@traced
def percentile(a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
               method: str = "linear", keepdims: bool = False, *, weights: Any = None,
               interpolation: Any = None) -> Any:  # fmt: skip
    """numpy.percentile: ``quantile`` of ``q / 100`` (divided as numpy divides it)."""
    check_args("percentile", out, weights, interpolation)
    q, weak = static_q(q)

    def reference(x: np.ndarray, **kw: Any) -> Any:
        return np.percentile(x, q, method=method, **kw)

    fraction = np.true_divide(q, 100)
    return quantile_of(b.to_value(a), fraction, axis, method, keepdims, reference)


note("sort", arguments="order= (structured arrays)")
note("argsort", grad=Grad.NO, arguments="order= (structured arrays)",
     deviation="always the stable order (kind='stable'): among equal elements the indices may "
     "differ from those of numpy's default quicksort")  # fmt: skip
note("partition", deviation="returns the fully sorted array (one valid partition)")
note("argpartition", grad=Grad.NO,
     deviation="returns the stable sorting permutation (one valid partition)")  # fmt: skip
note("median", arguments="out=")
note("quantile", "percentile", arguments="out=, weights=, interpolation=, a traced q")
