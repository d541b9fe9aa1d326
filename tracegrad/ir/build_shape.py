"""Building reductions, movement, indexing and contractions with numpy's semantics."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from tracegrad.ir.build import Operand, apply, broadcast_to, cast, full, promote_operands, to_value
from tracegrad.ir.dtypes import DType, sum_dtype
from tracegrad.ir.errors import ConcretizationError, DTypeError, ShapeError, UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.types import (
    Dim,
    Shape,
    broadcast_shapes,
    format_shape,
    normalize_axes,
    reduction_axes,
)
from tracegrad.ir.value import Value

# ---- reductions -------------------------------------------------------------------------


def reduce(op: Op, x: Operand, axis: Any = None, keepdims: bool = False) -> Value:
    v = to_value(x)
    axes = reduction_axes(axis, v.ndim)
    if op in (Op.REDUCE_SUM, Op.REDUCE_PROD):
        v = cast(v, sum_dtype(v.dtype))  # numpy: bools, ints in int64, unsigned in uint64
    if op in (Op.REDUCE_MAX, Op.REDUCE_MIN):
        _check_nonempty(v, axes, op)
    out = apply(op, [v], axes=axes) if axes else v
    return _keep(out, v.shape, axes) if keepdims else out


def _check_nonempty(v: Value, axes: tuple[int, ...], op: Op) -> None:
    if any(v.shape[a] == 0 for a in axes):
        name = op.value.removeprefix("reduce_")
        raise ShapeError(f"zero-size array to reduction operation {name}imum which has no identity")


def _keep(out: Value, shape: Shape, axes: tuple[int, ...]) -> Value:
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    return reshape(out, kept)


def sum(x: Operand, axis: Any = None, keepdims: bool = False) -> Value:  # noqa: A001
    return reduce(Op.REDUCE_SUM, x, axis, keepdims)


def mean(x: Operand, axis: Any = None, keepdims: bool = False) -> Value:
    v = to_value(x)
    result = v.dtype if v.dtype.is_float else DType.FLOAT64
    # numpy sums float16 in float32, divides there and rounds the mean to float16 once
    v = cast(v, DType.FLOAT32 if result is DType.FLOAT16 else result)
    axes = normalize_axes(axis, len(v.shape))
    count = _count(v.shape, axes, v.dtype)
    if isinstance(count, float) and count == 0:
        warnings.warn("Mean of empty slice.", RuntimeWarning, stacklevel=2)
    total = sum(v, axes, keepdims)
    return cast(apply(Op.DIV, promote_operands(total, count, dtype=v.dtype)), result)


def _count(shape: Shape, axes: tuple[int, ...], dtype: DType) -> Operand:
    """How many elements a reduction over ``axes`` combines: a number, or for symbolic dims
    (Theano's ``x.mean()``) a scalar computed when the lengths are known, as a sum of ones."""
    dims = tuple(shape[a] for a in axes)
    if all(isinstance(d, int) for d in dims):
        return float(math.prod(dims))  # type: ignore[arg-type]
    return sum(full(dims, 1.0, dtype), tuple(range(len(dims))), False)


def arg_reduce(op: Op, x: Operand, axis: int | None = None, keepdims: bool = False) -> Value:
    v = to_value(x)
    if axis is None or (v.ndim == 0 and axis in (0, -1)):  # numpy: a 0-d array has axis 0
        v = reshape(v, (-1,))
        axis = 0
    (axis,) = normalize_axes(axis, len(v.shape))
    if v.shape[axis] == 0:
        raise ShapeError(f"attempt to get {op.value} of an empty sequence")
    out = apply(op, [v], axis=axis)
    return _keep(out, v.shape, (axis,)) if keepdims else out


def cumsum(x: Operand, axis: int | None = None) -> Value:
    v = to_value(x)
    if axis is None:
        v, axis = reshape(v, (-1,)), 0
    v = cast(v, sum_dtype(v.dtype))
    (axis,) = normalize_axes(axis, len(v.shape))
    return apply(Op.CUMSUM, [v], axis=axis)


# ---- movement -----------------------------------------------------------------------------


def reshape(x: Operand, shape: Any) -> Value:
    v = to_value(x)
    shape = (shape,) if isinstance(shape, (int, Dim)) else tuple(shape)
    shape = tuple(int(d) if isinstance(d, (int, np.integer)) else d for d in shape)
    if -1 in shape:
        shape = _infer_minus_one(v, shape)
    return v if v.shape == shape else apply(Op.RESHAPE, [v], shape=shape)


def _infer_minus_one(v: Value, shape: tuple) -> tuple:
    if shape.count(-1) > 1:
        raise ShapeError("can only specify one unknown dimension")
    known = [d for d in shape if d != -1]
    if not v.type.is_concrete or not all(isinstance(d, int) for d in known):
        if len(shape) == 1 and v.ndim == 1:
            return v.shape
        raise UnsupportedError("reshape with -1 of a symbolic shape")
    rest = math.prod(known)  # type: ignore[arg-type]
    size = v.type.size
    if rest == 0 or size % rest:
        raise ShapeError(f"cannot reshape array of size {size} into shape {format_shape(shape)}")
    return tuple(size // rest if d == -1 else d for d in shape)


def transpose(x: Operand, axes: Sequence[int] | None = None) -> Value:
    v = to_value(x)
    perm = (
        tuple(reversed(range(v.ndim)))
        if axes is None
        else tuple(a % v.ndim if v.ndim else a for a in axes)
    )
    if perm == tuple(range(v.ndim)):
        return v
    return apply(Op.TRANSPOSE, [v], perm=perm)


def expand_dims(x: Operand, axis: int | Sequence[int]) -> Value:
    v = to_value(x)
    axes = normalize_axes(axis, v.ndim + (1 if isinstance(axis, int) else len(axis)))
    shape = list(v.shape)
    for a in axes:
        shape.insert(a, 1)
    return reshape(v, tuple(shape))


def squeeze(x: Operand, axis: Any = None) -> Value:
    v = to_value(x)
    axes = (
        tuple(i for i, d in enumerate(v.shape) if d == 1)
        if axis is None
        else normalize_axes(axis, v.ndim)
    )
    if any(v.shape[a] != 1 for a in axes):
        raise ShapeError("cannot select an axis to squeeze out which has size not equal to one")
    return reshape(v, tuple(d for i, d in enumerate(v.shape) if i not in axes))


def concatenate(xs: Sequence[Operand], axis: int | None = 0) -> Value:
    values = [to_value(x) for x in xs]
    if not values:
        raise ShapeError("need at least one array to concatenate")
    if axis is None:
        values, axis = [reshape(v, (-1,)) for v in values], 0
    dtype = values[0].dtype
    for v in values[1:]:
        from tracegrad.ir.dtypes import promote

        dtype = promote(dtype, v.dtype)
    values = [cast(v, dtype) for v in values]
    if any(v.ndim == 0 for v in values):
        raise ShapeError("zero-dimensional arrays cannot be concatenated")
    (axis,) = normalize_axes(axis, values[0].ndim)
    if len(values) == 1:
        return values[0]
    return apply(Op.CONCATENATE, values, axis=axis)


def stack(xs: Sequence[Operand], axis: int = 0) -> Value:
    values = [to_value(x) for x in xs]
    shapes = {v.shape for v in values}
    if len(shapes) > 1:
        raise ShapeError("all input arrays must have the same shape")
    return concatenate([expand_dims(v, axis) for v in values], axis)


def pad(x: Operand, pad_width: Any, constant_values: float = 0) -> Value:
    v = to_value(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (v.ndim, 2))
    pads = tuple((int(lo), int(hi)) for lo, hi in widths)
    if not any(lo or hi for lo, hi in pads):
        return v
    return apply(Op.PAD, [v], pads=pads, value=float(constant_values))


# ---- contraction --------------------------------------------------------------------------


def matmul(a: Operand, b: Operand) -> Value:
    """numpy.matmul: 1-d operands are promoted to matrices, batch dims broadcast."""
    x, y = (to_value(a), to_value(b))
    if x.ndim == 0 or y.ndim == 0:
        raise ShapeError("matmul: input operand does not have enough dimensions")
    from tracegrad.ir.build import result_dtype

    dtype = result_dtype(x, y)
    x, y = cast(x, dtype), cast(y, dtype)
    x2 = reshape(x, (1,) + x.shape) if x.ndim == 1 else x
    y2 = reshape(y, y.shape + (1,)) if y.ndim == 1 else y
    if x2.shape[-1] != y2.shape[-2] and not (
        isinstance(x2.shape[-1], Dim) or isinstance(y2.shape[-2], Dim)
    ):
        raise ShapeError(
            f"matmul: Input operand 1 has a mismatch in its core dimension 0 "
            f"(size {y2.shape[-2]} is different from {x2.shape[-1]})"
        )
    batch = broadcast_shapes(x2.shape[:-2], y2.shape[:-2])
    x3 = broadcast_to(x2, batch + x2.shape[-2:])
    y3 = broadcast_to(y2, batch + y2.shape[-2:])
    out = apply(Op.MATMUL, [x3, y3])
    shape = out.shape
    if x.ndim == 1:
        shape = shape[:-2] + shape[-1:]
    if y.ndim == 1:
        shape = shape[:-1]
    return reshape(out, shape)


def dot(a: Operand, b: Operand) -> Value:
    """numpy.dot for ranks <= 2 (and scalars); higher ranks use tensordot in the namespace."""
    x, y = to_value(a), to_value(b)
    if x.ndim == 0 or y.ndim == 0:
        from tracegrad.ir.build import mul

        return mul(x, y)
    if x.ndim > 2 or y.ndim > 2:
        raise UnsupportedError("dot of rank > 2 operands: use tensordot or matmul")
    return matmul(x, y)


# ---- indexing -----------------------------------------------------------------------------


def take(x: Operand, indices: Operand, axis: int | None = None) -> Value:
    v = to_value(x)
    idx = _index_value(indices)
    if axis is None:
        v, axis = reshape(v, (-1,)), 0
    (axis,) = normalize_axes(axis, v.ndim)
    _check_static_bounds(idx, v.shape[axis])
    return apply(Op.GATHER, [v, idx], axis=axis)


def _index_value(indices: Operand) -> Value:
    idx = to_value(indices)
    if idx.dtype.is_bool:
        raise ConcretizationError(
            "boolean-mask indexing has a data-dependent shape; use where(mask, x, 0) instead"
        )
    if not idx.dtype.is_int:
        raise DTypeError("arrays used as indices must be of integer type")
    return idx


def _check_static_bounds(idx: Value, size: Any) -> None:
    from tracegrad.ir.value import const_value

    data = const_value(idx)
    if data is not None and isinstance(size, int) and data.size:
        if data.max() >= size or data.min() < -size:
            bad = data.max() if data.max() >= size else data.min()
            raise IndexError(f"index {bad} is out of bounds for axis with size {size}")


def take_along_axis(x: Operand, indices: Operand, axis: int) -> Value:
    """numpy.take_along_axis as a gather on the flattened array (concrete shapes)."""
    v, idx = to_value(x), _index_value(indices)
    (axis,) = normalize_axes(axis, v.ndim)
    if idx.ndim != v.ndim:
        raise ShapeError("`indices` and `arr` must have the same number of dimensions")
    if not v.type.is_concrete:
        raise UnsupportedError("take_along_axis on symbolic shapes")
    shape = broadcast_shapes(
        tuple(d for i, d in enumerate(v.shape) if i != axis),
        tuple(d for i, d in enumerate(idx.shape) if i != axis),
    )
    out_shape = shape[:axis] + (idx.shape[axis],) + shape[axis:]
    from tracegrad.ir import build as b

    idx = broadcast_to(cast(idx, DType.INT64), out_shape)
    wrapped = b.where(b.lt(idx, 0), b.add(idx, v.shape[axis]), idx)
    strides = np.cumprod((1,) + tuple(reversed(v.shape)))[::-1][1:]
    linear: Value | None = None
    for dim, stride in enumerate(strides):
        if dim == axis:
            term = b.mul(wrapped, int(stride))
        else:
            # a dim of size 1 in ``v`` is broadcast: it always reads index 0
            extent = out_shape[dim] if v.shape[dim] != 1 else 1
            grid = np.arange(extent).reshape([-1 if i == dim else 1 for i in range(len(out_shape))])
            term = broadcast_to(to_value(grid * int(stride)), out_shape)
        linear = term if linear is None else b.add(linear, term)
    assert linear is not None  # the loop runs once per output dim, and there is at least one
    return apply(Op.GATHER, [reshape(v, (-1,)), linear], axis=0)
