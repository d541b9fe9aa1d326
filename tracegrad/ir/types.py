"""Tensor types: a dtype and a shape whose dims are ints or symbolic ``Dim``s.

A dim known to be 1 broadcasts; a symbolic dim never does (Theano's broadcastable flags).
Two different symbolic dims are *compatible*: the IR assumes they are equal and the runtime
checks it when concrete shapes are bound (see ``tracegrad.ir.shapes.bind_shapes``).

>>> from tracegrad.ir.types import Dim, TensorType, broadcast_shapes
>>> from tracegrad.ir.dtypes import DType
>>> n = Dim("n")
>>> broadcast_shapes((n, 1), (3,))
(Dim(name='n'), 3)
>>> str(TensorType(DType.FLOAT64, (n, 3)))
'f64[n,3]'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import AxisError, ShapeError


@dataclass(frozen=True)
class Dim:
    """A symbolic dimension: its extent is known only at run time."""

    name: str

    def __str__(self) -> str:
        return self.name


DimLike = int | Dim
Shape = tuple[DimLike, ...]


@dataclass(frozen=True)
class TensorType:
    """The static type of a Value: element dtype and shape."""

    dtype: DType
    shape: Shape

    def __hash__(self) -> int:
        # types are hashed on every Value.make; cache it (the dataclass is frozen)
        try:
            return self._hash  # type: ignore[attr-defined,no-any-return]
        except AttributeError:
            value = hash((self.dtype, self.shape))
            object.__setattr__(self, "_hash", value)
            return value

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_concrete(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    @property
    def concrete_shape(self) -> tuple[int, ...]:
        """The shape as ints; only for concrete shapes."""
        dims = tuple(d for d in self.shape if isinstance(d, int))
        if len(dims) != len(self.shape):
            raise ShapeError(f"symbolic shape {format_shape(self.shape)} has no concrete value")
        return dims

    @property
    def size(self) -> int:
        """Number of elements; only for concrete shapes."""
        if not self.is_concrete:
            raise ShapeError(f"size of symbolic shape {format_shape(self.shape)}")
        return math.prod(self.shape)  # type: ignore[arg-type]

    def with_dtype(self, dtype: DType) -> TensorType:
        return TensorType(dtype, self.shape)

    def with_shape(self, shape: Shape) -> TensorType:
        return TensorType(self.dtype, tuple(shape))

    def __str__(self) -> str:
        return f"{self.dtype.short}[{','.join(str(d) for d in self.shape)}]"


def format_shape(shape: Shape) -> str:
    """numpy-style shape text: ``(3,)``, ``(n, 4)``."""
    inner = ", ".join(str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def dims_compatible(a: DimLike, b: DimLike) -> bool:
    """Equal, or at least one symbolic (then equality is checked at run time)."""
    return a == b or isinstance(a, Dim) or isinstance(b, Dim)


def shapes_compatible(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(dims_compatible(x, y) for x, y in zip(a, b, strict=True))


def broadcast_dim(a: DimLike, b: DimLike) -> DimLike | None:
    """The broadcast of two dims, or None when they cannot broadcast."""
    if a == b:
        return a
    if a == 1:
        return b
    if b == 1:
        return a
    if isinstance(a, Dim):
        return b if isinstance(b, int) else a
    if isinstance(b, Dim):
        return a
    return None


def broadcast_shapes(*shapes: Shape) -> Shape:
    """numpy's broadcasting of several shapes, with numpy's error message on failure."""
    ndim = max((len(s) for s in shapes), default=0)
    result: list[DimLike] = [1] * ndim
    for shape in shapes:
        padded = (1,) * (ndim - len(shape)) + tuple(shape)
        for i, dim in enumerate(padded):
            merged = broadcast_dim(result[i], dim)
            if merged is None:
                listed = " ".join(format_shape(s) for s in shapes)
                raise ShapeError(f"operands could not be broadcast together with shapes {listed}")
            result[i] = merged
    return tuple(result)


def normalize_axis(axis: int, ndim: int) -> int:
    """numpy's axis normalization with numpy's AxisError-like message."""
    if not -ndim <= axis < ndim:
        raise AxisError(f"axis {axis} is out of bounds for array of dimension {ndim}")
    return axis % ndim if ndim else 0


def reduction_axes(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """``normalize_axes`` for numpy's ufunc reductions (sum, prod, max, any...), which take an
    int axis 0 or -1 on a 0-d array as no axis at all (np.mean, np.std and a tuple axis do
    not)."""
    if ndim == 0 and isinstance(axis, int) and axis in (0, -1):
        return ()
    return normalize_axes(axis, ndim)


def normalize_axes(axis: int | Sequence[int] | None, ndim: int) -> tuple[int, ...]:
    """Sorted, de-duplicated, non-negative axes; ``None`` means all axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = tuple(sorted(normalize_axis(int(a), ndim) for a in axes))
    if len(set(normalized)) != len(normalized):
        raise ShapeError("repeated axis")
    return normalized
