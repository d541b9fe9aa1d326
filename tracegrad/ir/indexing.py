"""numpy indexing on Values: ``x[index]`` and the functional ``x[index] = v``.

Basic indices (ints, slices with any step, None, Ellipsis) become SLICE + RESHAPE; one integer
array index (or several adjacent ones) becomes a GATHER. Boolean masks are allowed only as
concrete numpy arrays (their result shape is then static); a traced mask raises an error that
suggests ``where``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir.build_shape import reshape, take, transpose
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import ConcretizationError, UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.types import Dim
from tracegrad.ir.value import Value


def _expand_index(index: Any, ndim: int) -> list[Any]:
    items = list(index) if isinstance(index, tuple) else [index]
    items = [_concrete_mask_to_ints(i) for i in items]
    if sum(1 for i in items if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(1 for i in items if i is not None and i is not Ellipsis)
    if used > ndim:
        raise IndexError(
            f"too many indices for array: array is {ndim}-dimensional, but {used} were indexed"
        )
    ellipsis_at = [i for i, item in enumerate(items) if item is Ellipsis]
    if ellipsis_at:
        at = ellipsis_at[0]
        items[at : at + 1] = [slice(None)] * (ndim - used)
    else:
        items += [slice(None)] * (ndim - used)
    return items


def _concrete_mask_to_ints(item: Any) -> Any:
    if isinstance(item, (bool, np.bool_)):
        if not item:
            raise UnsupportedError("x[False] (an empty new axis)")
        return None  # numpy: x[True] adds an axis of length 1
    if isinstance(item, Value) and item.dtype.is_bool:
        raise ConcretizationError(
            "boolean-mask indexing has a data-dependent shape; use "
            "tracegrad.numpy.where(mask, x, 0) (or a reduction over it) instead"
        )
    if isinstance(item, (list, np.ndarray)) and np.asarray(item).dtype == bool:
        mask = np.asarray(item)
        if mask.ndim != 1:
            raise UnsupportedError("multi-dimensional boolean masks")
        return np.nonzero(mask)[0]
    return item


def _symbolic_int_indices(x: Value, items: list[Any]) -> list[Any]:
    """An int index into a symbolic dim (``history[-1]``) becomes a 0-d index array: a gather,
    with a negative index counted from the run-time length (a count of ones along the dim)."""
    if not any(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in items):
        return items
    out, dim_i = [], 0
    for item in items:
        dim = x.shape[dim_i] if item is not None and dim_i < x.ndim else None
        if isinstance(item, (int, np.integer)) and isinstance(dim, Dim):
            index = b.to_value(int(item), DType.INT64)
            if item < 0:
                length = b.apply(Op.REDUCE_SUM, [b.full((dim,), 1, DType.INT64)], axes=(0,))
                index = b.add(length, index)
            item = index
        out.append(item)
        dim_i += item is not None
    return out


def _is_array_index(item: Any) -> bool:
    return isinstance(item, (Value, np.ndarray, list))


def getitem(x: Value, index: Any) -> Value:
    items = _symbolic_int_indices(x, _expand_index(index, x.ndim))
    slices, view_shape, keep_axes, arrays = [], [], [], []
    dim_i = 0
    for item in items:
        if item is None:
            view_shape.append(1)
            continue
        dim = x.shape[dim_i]
        if isinstance(item, (int, np.integer)):
            slices.append(_int_slice(int(item), dim, dim_i))
        elif isinstance(item, slice):
            start, stop, step = _normalize_slice(item, dim)
            slices.append((start, stop, step))
            view_shape.append(len(range(start, stop, step)) if isinstance(stop, int) else dim)
            keep_axes.append(dim_i)
        elif _is_array_index(item):
            slices.append((0, dim, 1))
            arrays.append((len(view_shape), item))
            view_shape.append(dim)
        else:
            raise IndexError(f"unsupported index {item!r} ({type(item).__name__})")
        dim_i += 1
    sliced = x
    if any(s != (0, d, 1) for s, d in zip(slices, x.shape, strict=True)):
        sliced = b.apply(Op.SLICE, [x], slices=tuple(slices))
    viewed = reshape(sliced, tuple(view_shape))
    return _gather_arrays(viewed, arrays, items) if arrays else viewed


def _int_slice(i: int, dim: Any, axis: int) -> tuple[int, int, int]:
    if isinstance(dim, Dim):
        raise UnsupportedError("integer indexing into a symbolic dim")
    if not -dim <= i < dim:
        raise IndexError(f"index {i} is out of bounds for axis {axis} with size {dim}")
    i %= dim
    return (i, i + 1, 1)


def _normalize_slice(item: slice, dim: Any) -> tuple[Any, Any, int]:
    if isinstance(dim, Dim):
        if item != slice(None):
            raise UnsupportedError("slicing a symbolic dim with bounds or steps")
        return (0, dim, 1)
    return item.indices(dim)


def _gather_arrays(x: Value, arrays: list[tuple[int, Any]], items: list[Any]) -> Value:
    positions = [p for p, _ in arrays]
    if positions != list(range(positions[0], positions[0] + len(positions))):
        raise UnsupportedError("non-adjacent integer-array indices")
    first = positions[0]
    index_values = [b.to_value(a) for _, a in arrays]
    if len(index_values) > 1:
        linear = _linearize(x, first, index_values)
        merged = x.shape[first : first + len(index_values)]
        flat_dim = int(np.prod(merged))
        x = reshape(x, x.shape[:first] + (flat_dim,) + x.shape[first + len(index_values) :])
        result = take(x, linear, axis=first)
    else:
        result = take(x, index_values[0], axis=first)
    if _ints_separate_arrays(items) and first != 0:
        idx_ndim = result.ndim - x.ndim + 1
        perm = list(range(first, first + idx_ndim))
        perm += [i for i in range(result.ndim) if i not in perm]
        result = transpose(result, perm)
    return result


def _ints_separate_arrays(items: list[Any]) -> bool:
    """numpy moves the index dims to the front when advanced indices (arrays and ints) are
    not all adjacent."""
    marks = [i for i, it in enumerate(items) if _is_array_index(it) or isinstance(it, int)]
    return bool(marks) and marks != list(range(marks[0], marks[-1] + 1))


def _linearize(x: Value, first: int, index_values: list[Value]) -> Value:
    dims = x.shape[first : first + len(index_values)]
    if not all(isinstance(d, int) for d in dims):
        raise UnsupportedError("several integer-array indices into symbolic dims")
    linear: Value | None = None
    for value, dim in zip(index_values, dims, strict=True):
        wrapped = b.where(b.lt(value, 0), b.add(value, dim), value)
        linear = wrapped if linear is None else b.add(b.mul(linear, dim), wrapped)
    assert linear is not None
    return b.cast(linear, DType.INT64) if linear.dtype is DType.INT32 else linear


def setitem(x: Value, index: Any, update: Any) -> Value:
    """Functional ``x[index] = update``: a new Value, ``x`` unchanged.

    The written positions are found by indexing a grid of flat positions, so any index
    ``getitem`` accepts works. For a concrete index, repeated positions keep the last write,
    as numpy does; with traced integer-array indices repeated positions are undefined (as in
    JAX). Requires a concrete shape.
    """
    if not x.type.is_concrete:
        raise UnsupportedError("assignment into an array of symbolic shape")
    grid = np.arange(x.type.size, dtype=np.int64).reshape(x.shape)
    positions = getitem(b.to_value(grid), index)
    values = reshape(b.broadcast_to(b.to_value(update, x.dtype), positions.shape), (-1,))
    flat = reshape(x, (-1,))
    if positions.op is Op.CONST or _is_concrete_index(index):
        concrete = _concrete_positions(grid, index, positions)
        # numpy: the last of repeated writes wins
        _, first_from_end = np.unique(concrete[::-1], return_index=True)
        keep = np.sort(len(concrete) - 1 - first_from_end)
        if len(keep) != len(concrete):
            values = take(values, b.to_value(keep), axis=0)
        concrete = concrete[keep]
        mask = np.zeros(x.type.size, dtype=bool)
        mask[concrete] = True
        scattered = b.apply(
            Op.SCATTER_ADD, [b.zeros_like(flat), b.to_value(concrete), values], axis=0
        )
        return reshape(b.where(b.to_value(mask), scattered, flat), x.shape)
    flat_positions = reshape(positions, (-1,))
    last = _last_writes(flat_positions)
    values = b.where(last, values, b.zeros_like(values))
    scattered = b.apply(Op.SCATTER_ADD, [b.zeros_like(flat), flat_positions, values], axis=0)
    kept = b.cast(last, DType.INT64)
    hits = b.apply(Op.SCATTER_ADD, [b.zeros_like(flat, DType.INT64), flat_positions, kept], axis=0)
    return reshape(b.where(b.gt(hits, 0), scattered, flat), x.shape)


def add_at(x: Value, index: Any, update: Any) -> Value:
    """Functional ``np.add.at(x, index, update)``: each position ``index`` lists gets its
    update added, repeated positions once per listing (unlike ``x[index] += update``)."""
    if not x.type.is_concrete:
        raise UnsupportedError("np.add.at into an array of symbolic shape")
    grid = np.arange(x.type.size, dtype=np.int64).reshape(x.shape)
    positions = reshape(getitem(b.to_value(grid), index), (-1,))
    shaped = b.broadcast_to(b.to_value(update, x.dtype), getitem(b.to_value(grid), index).shape)
    values = b.cast(reshape(shaped, (-1,)), x.dtype)
    flat = reshape(x, (-1,))
    added = b.apply(Op.SCATTER_ADD, [b.zeros_like(flat), positions, values], axis=0)
    return reshape(b.add(flat, added), x.shape)


_MAX_TRACED_WRITES = 4096


def _last_writes(positions: Value) -> Value:
    """keep[j] = no later write goes to the same position (numpy: the last write wins).
    Compares all pairs, so the number of traced index entries is bounded."""
    n = positions.type.size
    if n > _MAX_TRACED_WRITES:
        raise UnsupportedError(
            f"assignment through {n} traced indices (at most {_MAX_TRACED_WRITES}); use "
            "tracegrad.numpy.where with a mask, or concrete indices"
        )
    same = b.eq(reshape(positions, (n, 1)), reshape(positions, (1, n)))
    later = b.to_value(np.triu(np.ones((n, n), dtype=bool), k=1))
    from tracegrad.ir.build_shape import reduce

    overwritten = reduce(Op.REDUCE_MAX, b.binary(Op.LOGICAL_AND, same, later), 1)
    return b.unary(Op.LOGICAL_NOT, overwritten)


def _is_concrete_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return not any(isinstance(i, Value) for i in items)


def _concrete_positions(grid: np.ndarray, index: Any, positions: Value) -> np.ndarray:
    from tracegrad.ir.value import const_value

    data = const_value(positions)
    if data is None:
        items = index if isinstance(index, tuple) else (index,)
        data = grid[tuple(np.asarray(i) if isinstance(i, list) else i for i in items)]
    return np.asarray(data).reshape(-1)
