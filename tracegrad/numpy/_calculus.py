"""numpy's ``gradient`` (finite differences of samples), ``cross`` and ``linspace`` with traced
endpoints, as composites of rows, bitwise equal to numpy.

>>> import numpy as np, tracegrad
>>> tracegrad.jit(np.gradient)(np.array([1.0, 2.0, 4.0, 7.0]))
array([1. , 1.5, 2.5, 3. ])
>>> tracegrad.grad(lambda a: np.linspace(a, 2.0, 5).sum())(0.0)
array(2.5)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.indexing import getitem
from tracegrad.ir.types import normalize_axes, normalize_axis
from tracegrad.ir.value import Value
from tracegrad.numpy._core import traced
from tracegrad.numpy.notes import note

__all__ = ["cross", "gradient", "linspace"]


def _move(v: Value, source: int, destination: int) -> Value:
    perm = [i for i in range(v.ndim) if i != source]
    perm.insert(destination, source)
    return bs.transpose(v, perm) if perm != list(range(v.ndim)) else v


def _along(v: Value, axis: int, index: Any) -> Value:
    return getitem(v, (slice(None),) * axis + (index,))


def _gradient_axis(v: Value, axis: int) -> Value:
    """numpy's edge_order=1 differences with unit spacing along ``axis``."""
    n = v.shape[axis]
    if not isinstance(n, int) or n < 2:
        raise ValueError(
            "Shape of array too small to calculate a numerical gradient, at least (edge_order "
            "+ 1) elements are required."
        )
    first = b.sub(_along(v, axis, slice(1, 2)), _along(v, axis, slice(0, 1)))
    last = b.sub(_along(v, axis, slice(n - 1, n)), _along(v, axis, slice(n - 2, n - 1)))
    parts = [first]
    if n > 2:
        ahead, behind = _along(v, axis, slice(2, None)), _along(v, axis, slice(None, -2))
        parts.append(b.div(b.sub(ahead, behind), 2.0))
    return bs.concatenate([*parts, last], axis)


@traced
def gradient(f: Any, *varargs: Any, axis: Any = None, edge_order: int = 1) -> Any:
    """numpy.gradient with unit spacing and edge_order=1: one array per axis (a tuple, or the
    array itself for one axis), as numpy 2."""
    if varargs or edge_order != 1:
        raise ValueError("tracegrad's gradient takes unit spacing and edge_order=1 only")
    v = b.to_value(f)
    if not v.dtype.is_float:
        v = b.cast(v, b.result_dtype(v, 1.0))
    axes = normalize_axes(axis, v.ndim)
    outs = [_gradient_axis(v, a) for a in axes]
    return outs[0] if len(outs) == 1 else tuple(outs)


@traced
def cross(a: Any, b_: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: int | None = None) -> Any:  # fmt: skip
    """numpy.cross of 2- or 3-component vectors along ``axisa``/``axisb`` (``axis`` sets all)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    u, w = b.to_value(a), b.to_value(b_)
    u = _move(u, normalize_axis(axisa, u.ndim), u.ndim - 1)
    w = _move(w, normalize_axis(axisb, w.ndim), w.ndim - 1)
    if u.shape[-1] not in (2, 3) or w.shape[-1] not in (2, 3):
        raise ValueError("incompatible dimensions for cross product (dimension must be 2 or 3)")
    uc = [_along(u, u.ndim - 1, i) for i in range(u.shape[-1])]
    wc = [_along(w, w.ndim - 1, i) for i in range(w.shape[-1])]
    if len(uc) == 2 and len(wc) == 2:
        return b.sub(b.mul(uc[0], wc[1]), b.mul(uc[1], wc[0]))
    zero = 0.0
    u0, u1, u2 = (*uc, zero) if len(uc) == 2 else uc
    w0, w1, w2 = (*wc, zero) if len(wc) == 2 else wc
    parts = [
        b.sub(b.mul(u1, w2), b.mul(u2, w1)),
        b.sub(b.mul(u2, w0), b.mul(u0, w2)),
        b.sub(b.mul(u0, w1), b.mul(u1, w0)),
    ]
    out = bs.stack(parts, -1)
    return _move(out, out.ndim - 1, normalize_axis(axisc, out.ndim))


def linspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, retstep: bool = False,
             dtype: Any = None, axis: int = 0) -> Any:  # fmt: skip
    """numpy.linspace; traced ``start``/``stop`` (scalars) give a traced array, computed as
    numpy does (``arange * step + start``, the last sample set to ``stop``)."""
    from tracegrad.tracing.tracer import Tracer

    if not any(isinstance(x, Tracer) for x in (start, stop)):
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    if retstep or dtype is not None or axis != 0:
        raise ValueError("tracegrad's linspace of traced endpoints takes no retstep, dtype, axis")
    return _linspace(start, stop, int(num), bool(endpoint))


@traced
def _linspace(start: Any, stop: Any, num: int, endpoint: bool) -> Any:
    lo, hi = b.promote_operands(b.to_value(start), b.to_value(stop), 1.0)[:2]
    if lo.ndim or hi.ndim:
        raise ValueError("tracegrad's linspace of traced endpoints takes scalar endpoints")
    div = (num - 1) if endpoint else num
    if num == 0:
        return b.full((0,), 0, lo.dtype)
    steps = b.to_value(np.arange(num, dtype=lo.dtype.numpy))
    if div == 0:  # a single sample: numpy returns [start]
        return bs.reshape(lo, (1,))
    delta = b.sub(hi, lo)
    step = b.div(delta, float(div))
    scaled = b.where(b.eq(step, 0.0), b.mul(b.div(steps, float(div)), delta), b.mul(steps, step))
    y = b.add(scaled, lo)
    if endpoint and num > 1:
        y = bs.concatenate([getitem(y, slice(0, num - 1)), bs.reshape(hi, (1,))], 0)
    return y


note("gradient", arguments="spacing arguments and edge_order=2")
note("linspace", arguments="retstep, dtype, axis with traced endpoints")
