"""``searchsorted`` and 1-d linear interpolation ``interp`` with numpy's semantics.

``interp`` locates each ``x`` with the ``searchsorted`` row, gathers the two neighbouring
sample points and evaluates numpy's formula ``slope * (x - xp[j]) + fp[j]`` (retrying from the
right end when that is NaN, as numpy's C loop does); ``x`` equal to a sample point gives that
``fp`` exactly, below the first point ``left`` (default ``fp[0]``), above the last ``right``.
Differentiable in ``x`` (the slope), ``xp`` and ``fp`` (through the gathers).

>>> import numpy as np, tracegrad
>>> xp, fp = np.array([0.0, 1.0, 3.0]), np.array([0.0, 10.0, 0.0])
>>> tracegrad.jit(lambda x: np.interp(x, xp, fp))(np.array([-1.0, 0.5, 2.0, 3.0]))
array([0., 5., 5., 0.])
>>> tracegrad.grad(lambda x: np.interp(x, xp, fp))(2.0)
array(-5.)
"""

from __future__ import annotations

from typing import Any

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.value import Value
from tracegrad.numpy._core import traced
from tracegrad.numpy.notes import Grad, note

__all__ = ["interp", "searchsorted"]


@traced
def searchsorted(a: Any, v: Any, side: str = "left", sorter: Any = None) -> Any:
    """numpy.searchsorted: where each of ``v`` would go in the sorted 1-d ``a`` (int64, no
    gradient). With ``sorter``, ``a`` is read in that order.

    >>> import tracegrad.numpy as tnp
    >>> tnp.searchsorted([1.0, 2.0, 3.0], [0.5, 2.0, 9.0], side="right").tolist()
    [0, 2, 3]
    """
    x, values = b.to_value(a), b.to_value(v)
    if sorter is not None:
        x = bs.take(x, sorter, 0)
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right' (got {side!r})")
    dtype = b.result_dtype(x, values)
    x, values = b.cast(x, dtype), b.cast(values, dtype)
    return b.apply(Op.SEARCHSORTED, [x, values], side=side)


def _float(a: Any) -> Value:
    v = b.to_value(a)
    if not (v.dtype.is_float or v.dtype.is_int or v.dtype.is_bool):
        raise UnsupportedError(f"interp of {v.dtype.value} values")
    return b.cast(v, DType.FLOAT64)  # numpy interpolates in float64


def _periodic(x: Value, xp: Value, fp: Value, period: Any) -> tuple[Value, Value, Value]:
    """numpy's ``period=``: everything modulo the period, ``xp`` sorted, one point of the
    neighbouring periods added at each end."""
    if period == 0:
        raise ValueError("period must be a non-zero value")
    period = abs(period)
    x, xp = b.binary(Op.MOD, x, period), b.binary(Op.MOD, xp, period)
    order = b.apply(Op.ARGSORT, [xp], axis=0)
    xp, fp = bs.take(xp, order, 0), bs.take(fp, order, 0)
    n = xp.shape[0]
    xp = bs.concatenate([b.sub(bs.take(xp, [n - 1], 0), period), xp,
                         b.add(bs.take(xp, [0], 0), period)], 0)  # fmt: skip
    fp = bs.concatenate([bs.take(fp, [n - 1], 0), fp, bs.take(fp, [0], 0)], 0)
    return x, xp, fp


@traced
def interp(x: Any, xp: Any, fp: Any, left: Any = None, right: Any = None, period: Any = None):
    """numpy.interp for real values (float64 result); ``xp`` must be increasing (as numpy
    assumes, without checking), or any order with ``period``."""
    xv, xpv, fpv = _float(x), _float(xp), _float(fp)
    if xpv.ndim != 1 or fpv.ndim != 1:
        raise ValueError("object too deep for desired array")
    if xpv.shape[0] != fpv.shape[0]:
        raise ValueError("fp and xp are not of the same length.")
    if xpv.shape[0] == 0:
        raise ValueError("array of sample points is empty")
    if period is not None:
        xv, xpv, fpv = _periodic(xv, xpv, fpv, period)
        left = right = None
    m = xpv.shape[0]
    first, last = bs.take(fpv, 0, 0), bs.take(fpv, m - 1, 0)
    low = first if left is None else _float(left)
    high = last if right is None else _float(right)
    j = b.sub(b.apply(Op.SEARCHSORTED, [xpv, xv], side="right"), 1)  # xp[j] <= x < xp[j+1]
    inside = last if m == 1 else _segment(xv, xpv, fpv, j)
    at_end = b.eq(xv, bs.take(xpv, m - 1, 0))
    result = b.where(at_end, b.broadcast_to(last, xv.shape), inside)
    result = b.where(b.lt(xv, bs.take(xpv, 0, 0)), b.broadcast_to(low, xv.shape), result)
    result = b.where(b.gt(xv, bs.take(xpv, m - 1, 0)), b.broadcast_to(high, xv.shape), result)
    return result if m == 1 else b.where(b.ne(xv, xv), xv, result)  # numpy: NaN x, NaN


def _segment(x: Value, xp: Value, fp: Value, j: Value) -> Value:
    """numpy's formula on the segment [xp[j], xp[j+1]] (j clipped into range)."""
    m = xp.shape[0]
    jc = b.minimum(b.maximum(j, 0), m - 2)
    xl, xr = bs.take(xp, jc, 0), bs.take(xp, b.add(jc, 1), 0)
    yl, yr = bs.take(fp, jc, 0), bs.take(fp, b.add(jc, 1), 0)
    slope = b.div(b.sub(yr, yl), b.sub(xr, xl))
    value = b.add(b.mul(slope, b.sub(x, xl)), yl)
    # numpy: NaN from one end (an infinite slope), try the other; a flat segment gives fp[j]
    value = b.where(b.ne(value, value), b.add(b.mul(slope, b.sub(x, xr)), yr), value)
    value = b.where(b.binary(Op.LOGICAL_AND, b.ne(value, value), b.eq(yl, yr)), yl, value)
    return b.where(b.eq(x, xl), yl, value)  # on a sample point: exactly fp[j]


note("interp", arguments="complex values",
     deviation="a NaN x gives NaN (numpy: fp[j] on a flat segment)")  # fmt: skip
note("searchsorted", grad=Grad.NO)
