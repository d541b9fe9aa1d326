"""Rows of the order primitives: ``sort`` (the values in ascending order along one axis),
``argsort`` (the stable permutation that sorts them), both with numpy's order (NaNs last), and
``searchsorted`` (insertion positions of values in a sorted 1-d array), and ``cumprod``, a
scan whose gradient needs no division.

``sort`` is differentiable: its VJP routes each cotangent back to the element that landed in
that position (the inverse permutation applied to ``ct``), so a median's gradient reaches the
one or two middle elements. Ties are broken by the stable order (the first occurrence comes
first), which is what the gradient of a tie follows. ``argsort`` and ``searchsorted`` return
integers: NONDIFF.

No row has a kernel lowering: the LLVM planner runs them as numpy steps (their
``numpy_impl``), as it does gather and cumsum.

>>> import numpy as np
>>> from tracegrad.ir.ops import Op
>>> from tracegrad.ir.prims import PRIMS
>>> PRIMS[Op.ARGSORT].numpy_impl(np.array([2.0, np.nan, 1.0, 2.0]), axis=0).tolist()
[2, 0, 3, 1]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims.table import (
    ALL,
    NONDIFF,
    Batching,
    Lowering,
    Prim,
    cumulative_rule,
    lazy_build,
    register,
    require,
    require_dtype,
)
from tracegrad.ir.types import TensorType

Attrs = dict[str, Any]


def _bs() -> Any:
    from tracegrad.ir import build_shape

    return build_shape


def _sort_rule(op: Op) -> Any:
    def rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
        (t,) = types
        require_dtype(op, t, ALL)
        require(0 <= attrs["axis"] < t.ndim, f"{op.value}: bad axis {attrs['axis']} for {t}")
        return t if op is Op.SORT else TensorType(DType.INT64, t.shape)

    return rule


def _sort(a: np.ndarray, *, axis: int) -> np.ndarray:
    # numpy's default sort: its values equal the stable sort's (only -0.0/0.0 may swap)
    return np.sort(a, axis=axis)


def _argsort(a: np.ndarray, *, axis: int) -> np.ndarray:
    return np.argsort(a, axis=axis, kind="stable").astype(np.int64, copy=False)


def _vjp_sort(ct: Any, out: Any, attrs: dict) -> tuple:
    """y = x[perm] along the axis, so x's cotangent is ct[inverse(perm)]; the inverse of a
    permutation is its argsort. A gather, hence itself differentiable (second order)."""
    b = lazy_build()
    (x,) = out.operands
    axis = attrs["axis"]
    if any(d == 0 for d in x.shape if isinstance(d, int)):
        return (b.zeros_like(x),)
    perm = b.apply(Op.ARGSORT, [x], axis=axis)
    inverse = b.apply(Op.ARGSORT, [perm], axis=axis)
    if x.ndim == 1:  # a plain gather: also for a symbolic length (the Theano front end)
        return (b.apply(Op.GATHER, [ct, inverse], axis=0),)
    return (_bs().take_along_axis(ct, inverse, axis),)


_ROWS: list[tuple[Op, Callable[..., Any], Any]] = [  # (op, numpy reference, VJP or NONDIFF)
    (Op.SORT, _sort, _vjp_sort),
    (Op.ARGSORT, _argsort, NONDIFF),
]
for _op, _impl, _vjp in _ROWS:
    register(
        Prim(_op, 1, _sort_rule(_op), _impl, Lowering.INDEXED, _vjp, attrs=("axis",),
             batching=Batching.AXIS, doc=f"numpy.{_op.value} along one axis (NaNs last)")
    )  # fmt: skip


def _searchsorted_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    a, v = types
    require_dtype(Op.SEARCHSORTED, a, ALL)
    require(a.ndim == 1, f"searchsorted: the sorted array must be 1-d, got {a}")
    require(a.dtype == v.dtype, "searchsorted: operand dtypes differ")
    require(attrs["side"] in ("left", "right"), f"searchsorted: bad side {attrs['side']!r}")
    return TensorType(DType.INT64, v.shape)


def _searchsorted(a: np.ndarray, v: np.ndarray, *, side: str) -> np.ndarray:
    return np.asarray(np.searchsorted(a, v, side=side), dtype=np.int64)  # type: ignore[call-overload]


register(
    Prim(Op.SEARCHSORTED, 2, _searchsorted_rule, _searchsorted, Lowering.INDEXED, NONDIFF,
         attrs=("side",), batching=Batching.MOVEMENT,  # no batching rule: a clear error
         doc="numpy.searchsorted of values in a sorted 1-d array")
)  # fmt: skip


# ---- cumulative product ---------------------------------------------------------------------


def _cumprod(a: np.ndarray, *, axis: int) -> np.ndarray:
    return np.cumprod(a, axis=axis, dtype=a.dtype)


def _shift(v: Any, axis: int, d: int, fill: float) -> Any:
    """``v`` moved ``d`` places along ``axis`` (towards the end for d > 0, the start for
    d < 0), ``fill`` shifted in."""
    b = lazy_build()
    n = v.shape[axis]
    keep = (0, n - d, 1) if d > 0 else (-d, n, 1)
    slices = tuple(keep if i == axis else (0, s, 1) for i, s in enumerate(v.shape))
    pads = tuple(((d, 0) if d > 0 else (0, -d)) if i == axis else (0, 0) for i in range(v.ndim))
    return b.apply(Op.PAD, [b.apply(Op.SLICE, [v], slices=slices)], pads=pads, value=fill)


def _vjp_cumprod(ct: Any, out: Any, attrs: dict) -> tuple:
    """Without dividing by x (right where elements are zero): dx_i = E_i * S_i with E the
    exclusive product (out shifted by one) and S_i = ct_i + x_{i+1} S_{i+1}, a backward linear
    recurrence solved by log-depth doubling of multiplies and adds."""
    b = lazy_build()
    (x,) = out.operands
    axis = attrs["axis"]
    n = x.shape[axis]
    if not isinstance(n, int):
        raise UnsupportedError("gradient of cumprod along a symbolic dim")
    if n <= 1:
        return (ct,)
    exclusive = _shift(out, axis, 1, 1.0)
    factor, total, d = _shift(x, axis, -1, 0.0), ct, 1
    while d < n:  # total_i = sum_{j=i}^{i+2d-1} ct_j x_{i+1} ... x_j
        total = b.add(total, b.mul(factor, _shift(total, axis, -d, 0.0)))
        factor = b.mul(factor, _shift(factor, axis, -d, 0.0))
        d *= 2
    return (b.mul(exclusive, total),)


register(
    Prim(Op.CUMPROD, 1, cumulative_rule(Op.CUMPROD), _cumprod, Lowering.SCAN, _vjp_cumprod,
         attrs=("axis",), batching=Batching.AXIS, doc="numpy.cumprod along one axis")
)  # fmt: skip
