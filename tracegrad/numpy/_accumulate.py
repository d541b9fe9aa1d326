"""Cumulative products and extremes (``cumprod``, ``np.multiply/maximum/minimum.accumulate``)
and unbuffered in-place ufuncs at indices (``np.multiply/maximum/minimum.at``).

A running product is the ``cumprod`` row (numpy's own loop, so numpy's bits); its VJP needs no
division by ``x`` (``tracegrad/ir/prims/sorting.py``), so the gradient is right where elements
are zero. A running maximum or minimum (or logical and/or) is a log-depth doubling of plain
elementwise ops: step ``d`` combines each element with the one ``d`` places before it
(``d = 1, 2, 4...``), so its gradient is the chain rule through ``maximum``; it is exact and
equals numpy's bitwise, ``-0.0`` and NaN included.

>>> import numpy as np, tracegrad
>>> x = np.array([2.0, 0.0, 3.0])
>>> tracegrad.jit(np.cumprod)(x), tracegrad.grad(lambda a: np.sum(np.cumprod(a)))(x)
(array([2., 0., 0.]), array([1., 8., 0.]))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import ConcretizationError, UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.types import normalize_axes
from tracegrad.ir.value import Value
from tracegrad.numpy._core import traced
from tracegrad.numpy.notes import Grad, note

__all__ = ["cumprod", "cumulative_prod", "ufunc_accumulate", "ufunc_at"]

# the binary ops a scan or an ``at`` may combine with, by numpy ufunc name
_OPS = {"multiply": Op.MUL, "maximum": Op.MAXIMUM, "minimum": Op.MINIMUM, "add": Op.ADD,
        "logical_and": Op.LOGICAL_AND, "logical_or": Op.LOGICAL_OR}  # fmt: skip


def _identity(op: Op, dtype: DType) -> Any:
    """The neutral element that fills the positions shifted in from before the start."""
    if op is Op.MUL:
        return 1
    if op is Op.ADD:
        return 0
    if op in (Op.LOGICAL_AND, Op.LOGICAL_OR):
        return op is Op.LOGICAL_AND
    if dtype.is_float:
        return -np.inf if op is Op.MAXIMUM else np.inf
    if dtype.is_bool:
        return op is Op.MINIMUM
    info = np.iinfo(dtype.numpy)
    return int(info.min if op is Op.MAXIMUM else info.max)


def _shift(v: Value, axis: int, d: int, fill: Any) -> Value:
    """``v`` moved ``d`` places along ``axis`` towards the end, ``fill`` shifted in."""
    n = v.shape[axis]
    slices = tuple((0, n - d, 1) if i == axis else (0, s, 1) for i, s in enumerate(v.shape))
    kept = b.apply(Op.SLICE, [v], slices=slices)
    pads = tuple((d, 0) if i == axis else (0, 0) for i in range(v.ndim))
    return b.apply(Op.PAD, [kept], pads=pads, value=fill)


def scan(op: Op, v: Value, axis: int) -> Value:
    """Inclusive scan of ``op`` along ``axis`` (the earlier operand first, as numpy's loop)."""
    n = v.shape[axis]
    if not isinstance(n, int):
        raise UnsupportedError("a cumulative product or extreme along a symbolic dim")
    fill = _identity(op, v.dtype)
    d = 1
    while d < n:
        v = b.apply(op, [_shift(v, axis, d, fill), v])
        d *= 2
    return v


def _axis(v: Value, axis: Any) -> tuple[Value, int]:
    if axis is None:
        return bs.reshape(v, (-1,)), 0
    return v, normalize_axes(axis, v.ndim)[0]


@traced
def cumprod(a: Any, axis: Any = None, dtype: Any = None) -> Any:
    """numpy.cumprod (flattened when ``axis`` is None); bools and ints accumulate in int64."""
    from tracegrad.numpy._core import dtype_arg

    v, axis = _axis(b.to_value(a), axis)
    target = dtype_arg(dtype) or (v.dtype if v.dtype.is_float else DType.INT64)
    return b.apply(Op.CUMPROD, [b.cast(v, target)], axis=axis)


@traced
def cumulative_prod(x: Any, axis: Any = None, dtype: Any = None, include_initial: bool = False):
    """numpy.cumulative_prod (numpy 2): ``cumprod`` that needs ``axis`` for more than 1-d."""
    v = b.to_value(x)
    if axis is None and v.ndim > 1:
        raise ValueError("The `axis` argument is required when `x` has more than one dimension")
    out = cumprod.builder(v, axis, dtype)
    if include_initial:
        (ax,) = normalize_axes(axis or 0, out.ndim)
        pads = tuple((1, 0) if i == ax else (0, 0) for i in range(out.ndim))
        out = b.apply(Op.PAD, [out], pads=pads, value=1)
    return out


@traced
def ufunc_accumulate(name: str, a: Any, axis: int = 0, dtype: Any = None) -> Any:
    """``np.<name>.accumulate(a, axis)``: the running result in the ufunc's own dtype."""
    from tracegrad.numpy._core import dtype_arg

    v, axis = _axis(b.to_value(a), axis)
    op = _OPS[name]
    if op in (Op.LOGICAL_AND, Op.LOGICAL_OR):
        v = b.ne(v, b.zeros_like(v)) if not v.dtype.is_bool else v
    if dtype is not None:
        v = b.cast(v, dtype_arg(dtype))  # type: ignore[arg-type]
    elif op is Op.MUL and not v.dtype.is_float:
        v = b.cast(v, DType.INT64)  # numpy's add/multiply accumulate small ints in int64
    if op is Op.MUL:
        return b.apply(Op.CUMPROD, [v], axis=axis)
    return scan(op, v, axis)


@traced
def ufunc_at(name: str, a: Any, indices: Any, update: Any) -> Any:
    """Functional ``np.<name>.at(a, indices, update)``: each listed position combined with its
    update in order, a repeated position once per listing (numpy's unbuffered semantics).
    ``indices`` must be static."""
    from tracegrad.ir.indexing import getitem, setitem

    x = b.to_value(a)
    if any(isinstance(i, Value) for i in np.ravel(np.asarray(indices, dtype=object))):
        raise ConcretizationError(f"numpy.{name}.at needs static indices, not traced values")
    grid = np.arange(x.type.size, dtype=np.int64).reshape(x.shape)
    targets = np.ravel(grid[indices])
    values = bs.reshape(b.broadcast_to(b.to_value(update, x.dtype), grid[indices].shape), (-1,))
    flat = bs.reshape(x, (-1,))
    rank = _occurrence(targets)
    for r in range(int(rank.max()) + 1 if len(rank) else 0):
        chosen = np.flatnonzero(rank == r)  # positions distinct within one round
        where = targets[chosen]
        combined = b.apply(_OPS[name], b.promote_operands(getitem(flat, where),
                                                          getitem(values, chosen)))  # fmt: skip
        flat = setitem(flat, where, b.cast(combined, x.dtype))
    return bs.reshape(flat, x.shape)


def _occurrence(targets: np.ndarray) -> np.ndarray:
    """For each entry, how many earlier entries name the same position."""
    order = np.argsort(targets, kind="stable")
    ranked = targets[order]
    starts = np.r_[0, np.flatnonzero(ranked[1:] != ranked[:-1]) + 1] if len(ranked) else ranked
    first = np.zeros(len(ranked), dtype=np.int64)
    first[starts] = starts
    first = np.maximum.accumulate(first) if len(ranked) else first
    rank = np.empty(len(ranked), dtype=np.int64)
    rank[order] = np.arange(len(ranked)) - first
    return rank


note("cumprod", "cumulative_prod", "multiply.accumulate",
     arguments="the gradient along a symbolic (runtime) length")  # fmt: skip
note("multiply.at", "maximum.at", "minimum.at", arguments="traced indices")
note("maximum.accumulate", "minimum.accumulate", arguments="a symbolic (runtime) length")
note("logical_and.accumulate", "logical_or.accumulate", grad=Grad.NO)
