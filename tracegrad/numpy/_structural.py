"""Reductions, shape manipulation, indexing, contraction and creation functions."""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir import indexing
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import ConcretizationError, ShapeError, UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.types import normalize_axis as _normalize_axis  # not a numpy name
from tracegrad.ir.value import Value
from tracegrad.numpy._core import dtype_arg, traced
from tracegrad.numpy._core import items_of as _items_of  # not a numpy name

# ---- reductions -------------------------------------------------------------------------


@traced
def sum(a: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Sum over axes (all by default); ints and bools accumulate in int64 like numpy.

    >>> import tracegrad.numpy as tnp
    >>> int(tnp.sum([[1, 2], [3, 4]]))
    10
    """
    value = b.to_value(a)
    if dtype is not None:
        value = b.cast(value, dtype_arg(dtype))  # type: ignore[arg-type]
    return bs.sum(value, axis, keepdims)


@traced
def prod(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Product over axes."""
    return bs.reduce(Op.REDUCE_PROD, a, axis, keepdims)


@traced
def max(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Maximum over axes; NaN propagates; an empty axis raises ValueError like numpy."""
    return bs.reduce(Op.REDUCE_MAX, a, axis, keepdims)


@traced
def min(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """Minimum over axes; NaN propagates; an empty axis raises ValueError like numpy."""
    return bs.reduce(Op.REDUCE_MIN, a, axis, keepdims)


amax, amin = max, min


@traced
def mean(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Arithmetic mean; integer inputs give float64. The mean of nothing is NaN."""
    return bs.mean(a, axis, keepdims)


@traced
def var(a: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
    """Variance: mean(|x - mean(x)|**2) * n / (n - ddof)."""
    value = b.to_value(a)
    if not value.dtype.is_float:
        value = b.cast(value, DType.FLOAT64)
    centered = b.sub(value, bs.mean(value, axis, keepdims=True))
    squared = bs.mean(b.mul(centered, centered), axis, keepdims)
    if ddof:
        axes = bs.normalize_axes(axis, value.ndim)
        n = float(np.prod([value.shape[i] for i in axes]))
        squared = b.mul(squared, n / (n - ddof))
    return squared


@traced
def std(a: Any, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Any:
    """Standard deviation, sqrt(var)."""
    variance = var.builder(a, axis, keepdims, ddof)
    # same value as sqrt(var); the select keeps the gradient at constant input 0, not NaN
    return b.where(b.eq(variance, 0.0), 0.0, b.sqrt(variance))


@traced
def argmax(a: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    """Index of the first maximum (NaN counts as the maximum, like numpy)."""
    return bs.arg_reduce(Op.ARGMAX, a, axis, keepdims)


@traced
def argmin(a: Any, axis: int | None = None, keepdims: bool = False) -> Any:
    """Index of the first minimum."""
    return bs.arg_reduce(Op.ARGMIN, a, axis, keepdims)


@traced
def cumsum(a: Any, axis: int | None = None) -> Any:
    """Cumulative sum (flattened when axis is None)."""
    return bs.cumsum(a, axis)


@traced
def any(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """True where any element is true."""
    value = b.to_value(a)
    truth = value if value.dtype.is_bool else b.ne(value, 0)
    return bs.reduce(Op.REDUCE_MAX, truth, axis, keepdims) if truth.type.size else False


@traced
def all(a: Any, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A001
    """True where every element is true."""
    value = b.to_value(a)
    truth = value if value.dtype.is_bool else b.ne(value, 0)
    return bs.reduce(Op.REDUCE_MIN, truth, axis, keepdims) if truth.type.size else True


# ---- shape manipulation --------------------------------------------------------------------


@traced
def reshape(a: Any, shape: Any, order: str = "C") -> Any:
    """Reshape (C order); one dim may be -1."""
    if order != "C":
        raise UnsupportedError("reshape with order other than 'C'")
    return bs.reshape(a, shape)


@traced
def transpose(a: Any, axes: Any = None) -> Any:
    """Permute axes (reverse them by default)."""
    return bs.transpose(a, axes)


@traced
def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    value = b.to_value(a)
    axis1, axis2 = (_normalize_axis(axis, value.ndim) for axis in (axis1, axis2))
    perm = list(range(value.ndim))
    perm[axis1], perm[axis2] = perm[axis2], perm[axis1]
    return bs.transpose(value, perm)


@traced
def moveaxis(a: Any, source: int, destination: int) -> Any:
    value = b.to_value(a)
    perm = [i for i in range(value.ndim) if i != source % value.ndim]
    perm.insert(destination % value.ndim, source % value.ndim)
    return bs.transpose(value, perm)


@traced
def expand_dims(a: Any, axis: Any) -> Any:
    return bs.expand_dims(a, axis)


@traced
def squeeze(a: Any, axis: Any = None) -> Any:
    return bs.squeeze(a, axis)


@traced
def ravel(a: Any) -> Any:
    return bs.reshape(a, (-1,))


@traced
def broadcast_to(a: Any, shape: Any) -> Any:
    """Broadcast to a shape (numpy's rules)."""
    value = b.to_value(a)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if len(shape) < value.ndim:
        raise ShapeError(f"cannot broadcast shape {value.shape} to {shape}")
    return b.broadcast_to(value, shape)


def _with_dtype(v: Value, dtype: Any) -> Value:
    return v if dtype is None else b.cast(v, DType.from_numpy(np.dtype(dtype)))


@traced
def concatenate(arrays: Any, axis: int | None = 0, dtype: Any = None) -> Any:
    """Join arrays along an existing axis."""
    return _with_dtype(bs.concatenate(_items_of(arrays), axis), dtype)


@traced
def stack(arrays: Any, axis: int = 0, dtype: Any = None) -> Any:
    """Join arrays along a new axis."""
    return _with_dtype(bs.stack(_items_of(arrays), axis), dtype)


@traced
def hstack(arrays: Any, dtype: Any = None, casting: str = "same_kind") -> Any:
    values = [bs.reshape(v, (1,)) if v.ndim == 0 else v for v in _items_of(arrays)]
    return _with_dtype(bs.concatenate(values, 0 if values[0].ndim == 1 else 1), dtype)


@traced
def vstack(arrays: Any, dtype: Any = None, casting: str = "same_kind") -> Any:
    values = [bs.reshape(v, (1, -1)) if v.ndim < 2 else v for v in _items_of(arrays)]
    return _with_dtype(bs.concatenate(values, 0), dtype)


@traced
def rollaxis(a: Any, axis: int, start: int = 0) -> Any:
    """numpy.rollaxis: ``axis`` moves to before position ``start``."""
    value = b.to_value(a)
    n = value.ndim
    axis, start = axis % n if axis < 0 else axis, start + n if start < 0 else start
    perm = [i for i in range(n) if i != axis]
    perm.insert(start - 1 if start > axis else start, axis)
    return bs.transpose(value, perm)


@traced
def append(arr: Any, values: Any, axis: int | None = None) -> Any:
    """numpy.append: flattened unless ``axis`` is given."""
    a, v = b.to_value(arr), b.to_value(values)
    if axis is None:
        return bs.concatenate([bs.reshape(a, (-1,)), bs.reshape(v, (-1,))], 0)
    return bs.concatenate([a, v], axis)


@traced
def pad(array: Any, pad_width: Any, mode: str = "constant", constant_values: float = 0) -> Any:
    """Constant padding (numpy.pad with mode='constant')."""
    if mode != "constant":
        raise UnsupportedError(f"pad mode {mode!r} (only 'constant')")
    return bs.pad(array, pad_width, constant_values)


@traced
def astype(a: Any, dtype: Any) -> Any:
    return b.cast(b.to_value(a), dtype_arg(dtype))  # type: ignore[arg-type]


# ---- indexing -----------------------------------------------------------------------------


@traced
def getitem(a: Any, index: Any) -> Any:
    return indexing.getitem(b.to_value(a), index)


@traced
def setitem(a: Any, index: Any, update: Any) -> Any:
    """Functional ``a[index] = update`` (returns the new array)."""
    return indexing.setitem(b.to_value(a), index, update)


@traced
def take(a: Any, indices: Any, axis: int | None = None) -> Any:
    """Gather along an axis (numpy.take; out-of-range constant indices raise IndexError)."""
    return bs.take(a, indices, axis)


@traced
def take_along_axis(arr: Any, indices: Any, axis: int) -> Any:
    return bs.take_along_axis(arr, indices, axis)


# ---- contraction --------------------------------------------------------------------------


@traced
def matmul(a: Any, b_: Any) -> Any:
    """numpy.matmul (the @ operator)."""
    return bs.matmul(a, b_)


@traced
def dot(a: Any, b_: Any) -> Any:
    """numpy.dot for scalars, vectors and matrices."""
    return bs.dot(a, b_)


@traced
def outer(a: Any, b_: Any) -> Any:
    """Outer product of two vectors (flattened first, like numpy)."""
    x, y = bs.reshape(a, (-1, 1)), bs.reshape(b_, (1, -1))
    return b.mul(x, y)


@traced
def inner(a: Any, b_: Any) -> Any:
    x, y = b.to_value(a), b.to_value(b_)
    if x.ndim == 0 or y.ndim == 0:
        return b.mul(x, y)
    return bs.matmul(
        x, bs.transpose(y, list(range(y.ndim - 2)) + [y.ndim - 1, y.ndim - 2]) if y.ndim > 1 else y
    )


@traced
def vdot(a: Any, b_: Any) -> Any:
    return bs.sum(b.mul(bs.reshape(a, (-1,)), bs.reshape(b_, (-1,))))


# ---- creation -----------------------------------------------------------------------------


def _shape_of(a: Any) -> tuple:
    return b.to_value(a).shape


@traced
def zeros_like(a: Any, dtype: Any = None) -> Any:
    value = b.to_value(a)
    return b.full(value.shape, 0, dtype_arg(dtype) or value.dtype)


@traced
def ones_like(a: Any, dtype: Any = None) -> Any:
    value = b.to_value(a)
    return b.full(value.shape, 1, dtype_arg(dtype) or value.dtype)


@traced
def full_like(a: Any, fill_value: Any, dtype: Any = None) -> Any:
    value = b.to_value(a)
    dtype = dtype_arg(dtype) or value.dtype
    if not isinstance(fill_value, (bool, int, float, np.generic)):
        return b.broadcast_to(b.to_value(fill_value, dtype), value.shape)
    return b.full(value.shape, fill_value, dtype)


def _static(x: Any, what: str) -> Any:
    from tracegrad.tracing.tracer import Tracer

    if isinstance(x, Tracer):
        raise ConcretizationError(f"{what} must be a static Python number, not a traced value")
    return x
