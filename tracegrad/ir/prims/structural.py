"""Rows of the reductions, movement, indexing, contraction and leaf primitives."""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir.dtypes import DType, int_range
from tracegrad.ir.errors import ShapeError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims.structural_vjp import VJPS
from tracegrad.ir.prims.table import (
    ALL,
    INTS,
    NONDIFF,
    NUMERIC,
    Batching,
    Lowering,
    NumpyImpl,
    Prim,
    TypeRule,
    cumulative_rule,
    register,
    require,
    require_dtype,
)
from tracegrad.ir.types import (
    Dim,
    DimLike,
    TensorType,
    dims_compatible,
    format_shape,
    shapes_compatible,
)

Attrs = dict[str, Any]


# ---- reductions -------------------------------------------------------------------------


def _reduce_rule(op: Op, allowed: tuple[DType, ...]):
    def rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
        (t,) = types
        require_dtype(op, t, allowed)
        axes = attrs["axes"]
        require(all(0 <= a < t.ndim for a in axes), f"{op.value}: bad axes {axes} for {t}")
        return t.with_shape(tuple(d for i, d in enumerate(t.shape) if i not in axes))

    return rule


def _reducer(fn):
    def impl(a: np.ndarray, *, axes: tuple[int, ...]) -> np.ndarray:
        return np.asarray(fn(a, axis=axes), dtype=a.dtype)

    return impl


for _op, _fn, _allowed in [
    (Op.REDUCE_SUM, np.sum, NUMERIC + (DType.BOOL,)),
    (Op.REDUCE_PROD, np.prod, NUMERIC),
    (Op.REDUCE_MAX, np.max, ALL),
    (Op.REDUCE_MIN, np.min, ALL),
]:
    register(
        Prim(_op, 1, _reduce_rule(_op, _allowed), _reducer(_fn), Lowering.REDUCTION, VJPS[_op],
             attrs=("axes",), batching=Batching.AXES)
    )  # fmt: skip


def _arg_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    (t,) = types
    axis = attrs["axis"]
    require(0 <= axis < t.ndim, f"argmax/argmin: bad axis {axis} for {t}")
    return TensorType(DType.INT64, tuple(d for i, d in enumerate(t.shape) if i != axis))


def _argmax(a: np.ndarray, *, axis: int) -> np.ndarray:
    return np.asarray(np.argmax(a, axis=axis), dtype=np.int64)


def _argmin(a: np.ndarray, *, axis: int) -> np.ndarray:
    return np.asarray(np.argmin(a, axis=axis), dtype=np.int64)


for _op, _impl in [(Op.ARGMAX, _argmax), (Op.ARGMIN, _argmin)]:
    register(
        Prim(_op, 1, _arg_rule, _impl, Lowering.REDUCTION, VJPS[_op], attrs=("axis",),
             batching=Batching.AXIS)
    )  # fmt: skip


def _cumsum(a: np.ndarray, *, axis: int) -> np.ndarray:
    return np.cumsum(a, axis=axis, dtype=a.dtype)


register(
    Prim(Op.CUMSUM, 1, cumulative_rule(Op.CUMSUM), _cumsum, Lowering.SCAN, VJPS[Op.CUMSUM],
         attrs=("axis",), batching=Batching.AXIS)
)  # fmt: skip


# ---- movement ---------------------------------------------------------------------------


def _broadcast_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    (t,) = types
    shape = tuple(attrs["shape"])
    lead = len(shape) - t.ndim
    ok = lead >= 0 and all(
        d == 1 or dims_compatible(d, s) for d, s in zip(t.shape, shape[lead:], strict=True)
    )
    if not ok:
        raise ShapeError(f"cannot broadcast shape {format_shape(t.shape)} to {format_shape(shape)}")
    return t.with_shape(shape)


def _broadcast(a: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(a, shape)


def _reshape_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    (t,) = types
    shape = tuple(attrs["shape"])
    if t.is_concrete and all(isinstance(d, int) for d in shape):
        if int(np.prod(shape)) != t.size:
            raise ShapeError(
                f"cannot reshape array of size {t.size} into shape {format_shape(shape)}"
            )
    return t.with_shape(shape)


def _reshape(a: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
    return a.reshape(shape)


def _transpose_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    (t,) = types
    perm = tuple(attrs["perm"])
    require(sorted(perm) == list(range(t.ndim)), f"transpose: bad permutation {perm} for {t}")
    return t.with_shape(tuple(t.shape[p] for p in perm))


def _transpose(a: np.ndarray, *, perm: tuple[int, ...]) -> np.ndarray:
    return np.transpose(a, perm)


def slice_length(start: int, stop: int, step: int) -> int:
    return len(range(start, stop, step))


def _slice_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    """attrs: ``slices`` = one normalized (start, stop, step) per dim; a symbolic dim only
    admits the full slice, written (0, dim, 1)."""
    (t,) = types
    slices = attrs["slices"]
    require(len(slices) == t.ndim, f"slice: {len(slices)} slices for {t}")
    shape: list[DimLike] = []
    for dim, (start, stop, step) in zip(t.shape, slices, strict=True):
        if isinstance(dim, Dim) or isinstance(stop, Dim):
            require((start, stop, step) == (0, dim, 1), "slicing a symbolic dim needs `:`")
            shape.append(dim)
        else:
            # normalized as by slice.indices(dim): a negative step may stop at -1
            require(step != 0, "slice step cannot be zero")
            require(-1 <= start <= dim and -1 <= stop <= dim, f"slice: {start, stop} vs {dim}")
            shape.append(slice_length(start, stop, step))
    return t.with_shape(tuple(shape))


def _slice(a: np.ndarray, *, slices: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    index = tuple(
        slice(start, None if (step < 0 and stop == -1) else stop, step)
        if isinstance(stop, int)
        else slice(None)
        for start, stop, step in slices
    )
    return a[index]


def _concat_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    axis = attrs["axis"]
    first = types[0]
    require(len({t.dtype for t in types}) == 1, "concatenate: operand dtypes differ")
    require(0 <= axis < first.ndim, f"concatenate: bad axis {axis}")
    for t in types[1:]:
        rest = [d for i, d in enumerate(t.shape) if i != axis]
        first_rest = [d for i, d in enumerate(first.shape) if i != axis]
        if t.ndim != first.ndim or not shapes_compatible(tuple(rest), tuple(first_rest)):
            raise ShapeError(
                "all the input array dimensions except for the concatenation axis must match "
                f"exactly, got {format_shape(first.shape)} and {format_shape(t.shape)}"
            )
    sizes = [t.shape[axis] for t in types]
    known = [s for s in sizes if isinstance(s, int)]
    total = sum(known) if len(known) == len(sizes) else Dim("concat")
    return first.with_shape(first.shape[:axis] + (total,) + first.shape[axis + 1 :])


def _concatenate(*arrays: np.ndarray, axis: int) -> np.ndarray:
    return np.concatenate(arrays, axis=axis)


def _pad_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    (t,) = types
    pads = attrs["pads"]
    require(len(pads) == t.ndim, "pad: one (low, high) pair per dim")
    shape = tuple(
        d + lo + hi if isinstance(d, int) else (d if lo == hi == 0 else Dim(f"{d}+{lo + hi}"))
        for d, (lo, hi) in zip(t.shape, pads, strict=True)
    )
    require(all(lo >= 0 and hi >= 0 for lo, hi in pads), "pad: widths must be >= 0")
    return t.with_shape(shape)


def _pad(a: np.ndarray, *, pads: tuple[tuple[int, int], ...], value: float) -> np.ndarray:
    return np.pad(a, pads, constant_values=np.asarray(value, dtype=a.dtype))


_MOVEMENT: list[tuple[Op, int | None, tuple[str, ...], TypeRule, NumpyImpl]] = [
    (Op.BROADCAST, 1, ("shape",), _broadcast_rule, _broadcast),
    (Op.RESHAPE, 1, ("shape",), _reshape_rule, _reshape),
    (Op.TRANSPOSE, 1, ("perm",), _transpose_rule, _transpose),
    (Op.SLICE, 1, ("slices",), _slice_rule, _slice),
    (Op.CONCATENATE, None, ("axis",), _concat_rule, _concatenate),
    (Op.PAD, 1, ("pads", "value"), _pad_rule, _pad),
]
for _op, _arity, _attrs, _rule, _move_impl in _MOVEMENT:
    _batching = Batching.POINTWISE if _op is Op.CONCATENATE else Batching.MOVEMENT
    register(
        Prim(_op, _arity, _rule, _move_impl, Lowering.MOVEMENT, VJPS[_op], attrs=_attrs,
             batching=_batching)
    )  # fmt: skip


# ---- data-dependent indexing --------------------------------------------------------------


def _gather_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    x, idx = types
    axis = attrs["axis"]
    require_dtype(Op.GATHER, idx, INTS)
    require(0 <= axis < x.ndim, f"gather: bad axis {axis} for {x}")
    return x.with_shape(x.shape[:axis] + idx.shape + x.shape[axis + 1 :])


def _gather(x: np.ndarray, idx: np.ndarray, *, axis: int) -> np.ndarray:
    return np.take(x, idx, axis=axis)


def _scatter_add_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    x, idx, updates = types
    expected = _gather_rule((x, idx), attrs)
    require(updates.dtype == x.dtype, "scatter_add: updates dtype differs from the operand")
    if not shapes_compatible(updates.shape, expected.shape):
        raise ShapeError(
            f"scatter_add: updates of shape {format_shape(updates.shape)} do not fit "
            f"{format_shape(expected.shape)}"
        )
    return x


def _scatter_add(x: np.ndarray, idx: np.ndarray, updates: np.ndarray, *, axis: int) -> np.ndarray:
    out = np.array(x, copy=True)
    index: Any = (slice(None),) * axis + (idx,)  # numpy's stubs reject a tuple with slices
    np.add.at(out, index, updates)
    return out


_INDEXED: list[tuple[Op, int, TypeRule, NumpyImpl]] = [
    (Op.GATHER, 2, _gather_rule, _gather),
    (Op.SCATTER_ADD, 3, _scatter_add_rule, _scatter_add),
]
for _op, _arity, _rule, _indexed_impl in _INDEXED:
    register(
        Prim(_op, _arity, _rule, _indexed_impl, Lowering.INDEXED, VJPS[_op], attrs=("axis",),
             batching=Batching.INDEXED)
    )  # fmt: skip


# ---- contraction --------------------------------------------------------------------------


def _matmul_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    a, b = types
    require(a.dtype == b.dtype, "matmul: operand dtypes differ")
    require_dtype(Op.MATMUL, a, NUMERIC)
    ok = (
        a.ndim >= 2
        and a.ndim == b.ndim
        and shapes_compatible(a.shape[:-2], b.shape[:-2])
        and dims_compatible(a.shape[-1], b.shape[-2])
    )
    if not ok:
        raise ShapeError(
            f"matmul: shapes {format_shape(a.shape)} and {format_shape(b.shape)} do not align"
        )
    return a.with_shape(a.shape[:-1] + (b.shape[-1],))


register(Prim(Op.MATMUL, 2, _matmul_rule, np.matmul, Lowering.CONTRACTION, VJPS[Op.MATMUL]))


# ---- leaves and markers -------------------------------------------------------------------


def _leaf_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    raise TypeError("params and constants are made with param() and const(), not apply()")


def _no_impl(*args: np.ndarray, **attrs: Any) -> np.ndarray:
    raise TypeError("leaves are bound by the interpreter, not computed")


for _op, _attrs in [(Op.PARAM, ("index", "name", "trace")), (Op.CONST, ("data",))]:
    register(
        Prim(_op, 0, _leaf_rule, _no_impl, Lowering.LEAF, VJPS[_op], attrs=_attrs,
             batching=Batching.NONE)
    )  # fmt: skip
register(
    Prim(
        Op.STOP_GRADIENT,
        1,
        lambda types, attrs: types[0],
        lambda x: x,  # the value passes unchanged
        Lowering.MOVEMENT,  # an identity: the backend reads the operand's buffer
        VJPS[Op.STOP_GRADIENT],  # zero: no cotangent reaches the operand
        batching=Batching.POINTWISE,
        doc="identity value, zero derivative (tracegrad.stop_gradient)",
    )
)


# ---- checked narrowing ----------------------------------------------------------------------


def _checked_cast_rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
    require(types[0].dtype is DType.INT64, "checked_cast: the operand is a weak int (int64)")
    require(attrs["dtype"].is_int, "checked_cast: the target is an integer dtype")
    return types[0].with_dtype(attrs["dtype"])


def _checked_cast(x: np.ndarray, *, dtype: DType) -> np.ndarray:
    """numpy 2 (NEP 50) refuses a Python int out of the array's integer range: a Python int
    argument of a jitted function is an int64 param, so its narrowing is checked per call."""
    lo, hi = int_range(dtype)
    bad = (x < lo) | (x > hi)
    if np.any(bad):
        raise OverflowError(f"Python integer {int(x[bad].flat[0])} out of bounds for {dtype.value}")
    return x.astype(dtype.numpy)


register(
    Prim(Op.CHECKED_CAST, 1, _checked_cast_rule, _checked_cast, Lowering.INDEXED, NONDIFF,
         attrs=("dtype",), doc="an int64 narrowed to an integer dtype; OverflowError if out "
         "of range (a numpy step: kernels cannot raise)")
)  # fmt: skip
