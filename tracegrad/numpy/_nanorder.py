"""NaN-skipping order statistics: ``nanmedian``, ``nanquantile``, ``nanpercentile``.

The slice is sorted (NaNs last) and the count ``k`` of non-NaN values picks the elements read,
by a gather at a traced position; so the gradient reaches the one or two elements each result
interpolates. An all-NaN slice gives NaN (numpy also warns; traced code cannot).

>>> import numpy as np, tracegrad
>>> x = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]])
>>> tracegrad.jit(lambda a: np.nanmedian(a, axis=1))(x)
array([ 2., nan])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.value import Value
from tracegrad.numpy._core import traced
from tracegrad.numpy._sorting import (
    axis_last,
    check_args,
    median,
    on_empty,
    quantile_of,
    static_q,
    static_size,
)
from tracegrad.numpy.notes import note

__all__ = ["nanmedian", "nanpercentile", "nanquantile"]


def _sorted_with_count(v: Value, axis: Any) -> tuple[Value, Value, tuple, tuple]:
    flat, out_shape, kept = axis_last(v, axis)
    s = b.apply(Op.SORT, [flat], axis=flat.ndim - 1)
    k = bs.sum(b.cast(b.eq(flat, flat), DType.INT64), flat.ndim - 1)  # x == x: not NaN
    return s, k, out_shape, kept


def _at(s: Value, index: Value) -> Value:
    """``s[..., index]`` for a traced index per slice."""
    picked = bs.take_along_axis(s, bs.reshape(index, index.shape + (1,)), s.ndim - 1)
    return bs.reshape(picked, index.shape)


def _nan_where_empty(k: Value, value: Value) -> Value:
    return b.where(b.eq(k, 0), b.full(value.shape, np.nan, value.dtype), value)


@traced
def nanmedian(a: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
              keepdims: bool = False) -> Any:  # fmt: skip
    """numpy.nanmedian: the median of the non-NaN values of each slice."""
    v = b.to_value(a)
    if out is not None:
        raise UnsupportedError("numpy.nanmedian with out=")
    if not v.dtype.is_float:
        return median.builder(v, axis, keepdims=keepdims)
    if static_size(v, "nanmedian") == 0:
        return on_empty(lambda x: np.nanmedian(x, axis=axis, keepdims=keepdims), v)
    s, k, out_shape, kept = _sorted_with_count(v, axis)
    lo = b.maximum(b.apply(Op.FLOORDIV, [b.sub(k, 1), b.full(k.shape, 2, DType.INT64)]), 0)
    hi = b.minimum(b.apply(Op.FLOORDIV, [k, b.full(k.shape, 2, DType.INT64)]), s.shape[-1] - 1)
    low, high = _at(s, lo), _at(s, hi)
    value = b.where(b.eq(lo, hi), low, b.div(b.add(low, high), 2.0))
    result = _nan_where_empty(k, value)
    return bs.reshape(result, kept) if keepdims else result


def _lerp_at(s: Value, k: Value, fraction: float, dtype: DType) -> Value:
    """numpy's linear quantile of the first ``k`` sorted values, at one static ``fraction``."""
    last = b.sub(k, 1)
    last_f = b.cast(last, DType.FLOAT64)
    virtual = b.mul(last_f, fraction)  # numpy: (n - 1) * q, in float64
    above = b.binary(Op.GE, virtual, last_f)
    floor = b.cast(b.unary(Op.FLOOR, virtual), DType.INT64)
    # numpy: above the last index both ends read the last value (index -1; gamma from -1)
    previous = b.where(above, b.full(k.shape, -1, DType.INT64), floor)
    gamma = b.sub(virtual, b.cast(previous, DType.FLOAT64))
    lo = _at(s, b.where(above, last, previous))
    hi = _at(s, b.where(above, last, b.add(previous, 1)))
    diff = b.cast(b.sub(hi, lo), dtype)  # numpy's _lerp subtracts in the input's dtype
    lo, hi = b.cast(lo, dtype), b.cast(hi, dtype)
    up = b.sub(hi, b.mul(diff, b.cast(b.sub(1.0, gamma), dtype)))
    down = b.add(lo, b.mul(diff, b.cast(gamma, dtype)))
    return _nan_where_empty(k, b.where(b.binary(Op.GE, gamma, 0.5), up, down))


def _nanquantile(v: Value, q: np.ndarray, axis: Any, method: str, keepdims: bool,
                 reference: Any) -> Value:  # fmt: skip
    if static_size(v, "nanquantile") == 0 or not v.dtype.is_float:  # no NaN: numpy's quantile
        return on_empty(lambda x: reference(x, axis=axis, keepdims=keepdims), v) if (
            v.type.size == 0) else quantile_of(v, q, axis, method, keepdims, reference)  # fmt: skip
    if method != "linear":
        raise UnsupportedError(f"nanquantile/nanpercentile with method={method!r} (only 'linear')")
    dtype = DType.from_numpy(np.asarray(reference(np.zeros(1, v.dtype.numpy))).dtype)
    s, k, out_shape, kept = _sorted_with_count(v, axis)
    results = [_lerp_at(s, k, float(fraction), dtype) for fraction in np.ravel(q)]
    shape = kept if keepdims else out_shape
    return bs.reshape(bs.stack(results, 0), np.shape(q) + shape)


@traced
def nanquantile(a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
                method: str = "linear", keepdims: bool = False, *, weights: Any = None,
                interpolation: Any = None) -> Any:  # fmt: skip
    """numpy.nanquantile (the linear method; ``q`` static): quantiles of the non-NaN values."""
    check_args("nanquantile", out, weights, interpolation)
    q, _ = static_q(q)

    def reference(x: np.ndarray, **kw: Any) -> Any:
        return np.nanquantile(x, q, method=method, **kw)

    return _nanquantile(b.to_value(a), np.asanyarray(q), axis, method, keepdims, reference)


@traced
def nanpercentile(a: Any, q: Any, axis: Any = None, out: Any = None,
                  overwrite_input: bool = False, method: str = "linear", keepdims: bool = False,
                  *, weights: Any = None, interpolation: Any = None) -> Any:  # fmt: skip
    """numpy.nanpercentile: ``nanquantile`` of ``q / 100``."""
    check_args("nanpercentile", out, weights, interpolation)
    q, _ = static_q(q)

    def reference(x: np.ndarray, **kw: Any) -> Any:
        return np.nanpercentile(x, q, method=method, **kw)

    fraction = np.true_divide(q, 100)
    return _nanquantile(b.to_value(a), fraction, axis, method, keepdims, reference)


note("nanmedian", arguments="out=",
     deviation="an all-NaN slice gives NaN without numpy's RuntimeWarning")  # fmt: skip
note("nanquantile", "nanpercentile",
     arguments="a method other than 'linear', out=, weights=, interpolation=, a traced q",
     deviation="an all-NaN slice gives NaN without numpy's RuntimeWarning; the interpolation "
     "is numpy's formula, not checked bitwise")  # fmt: skip
