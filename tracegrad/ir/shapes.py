"""The one shape binder: checks concrete argument shapes against a Function's parameters and
binds its symbolic dims, with one set of messages for every way into compiled code (the
interpreter, the LLVM plan, ``tracegrad.function``).

A fixed extent must match; a symbolic ``Dim`` takes the extent of the first argument axis that
carries it, and every other axis carrying it must agree (symbolic dims never broadcast).

>>> import numpy as np
>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.types import Dim, TensorType
>>> from tracegrad.ir.dtypes import DType
>>> from tracegrad.ir.value import Function, param
>>> n = Dim("n")
>>> x = param(0, TensorType(DType.FLOAT64, (n,)), "x")
>>> y = param(1, TensorType(DType.FLOAT64, (n,)), "y")
>>> binder = ShapeBinder((x, y))
>>> binder.bind([(3,), (3,)])
{Dim(name='n'): 3}
>>> try:
...     binder.bind([(3,), (4,)])
... except ValueError as error:
...     print(str(error)[:84])
operands could not be broadcast together: input 'x' has shape (3,) and input 'y' has
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

from tracegrad.ir.errors import ShapeError
from tracegrad.ir.types import Dim, format_shape
from tracegrad.ir.value import Function, Value

__all__ = ["ShapeBinder", "binder_of"]

Shape = tuple[int, ...]


class ShapeBinder:
    """Checks concrete shapes against ``params`` (see the module doc)."""

    def __init__(self, params: Sequence[Value]) -> None:
        self.params = tuple(params)
        # dim -> (param position, axis) of its first occurrence: where an extent comes from
        self.where: dict[Dim, tuple[int, int]] = {}
        for i, p in enumerate(self.params):
            for axis, d in enumerate(p.shape):
                if isinstance(d, Dim):
                    self.where.setdefault(d, (i, axis))

    def bind(self, shapes: Sequence[Shape], dims: dict[Dim, int] | None = None) -> dict[Dim, int]:
        """The extent of every symbolic dim of the params; ``dims``: extents already bound
        (by an enclosing call), which the shapes must agree with. ShapeError on a mismatch."""
        if len(shapes) != len(self.params):
            raise TypeError(f"takes {len(self.params)} arguments, got {len(shapes)}")
        extents = dict(dims) if dims else {}
        for i, (p, shape) in enumerate(zip(self.params, shapes, strict=True)):
            if len(shape) != p.ndim:
                raise ShapeError(
                    f"input {label(p)!r} has shape {format_shape(shape)} but the function "
                    f"needs {p.ndim} dimension{'s' if p.ndim != 1 else ''} (type {p.type})"
                )
            for axis, (d, n) in enumerate(zip(p.shape, shape, strict=True)):
                expected = extents.setdefault(d, n) if isinstance(d, Dim) else d
                if expected != n:
                    raise self._mismatch(i, axis, d, shapes, expected, dims)
        return extents

    def _mismatch(
        self,
        i: int,
        axis: int,
        d: int | Dim,
        shapes: Sequence[Shape],
        expected: int,
        outer: dict[Dim, int] | None,
    ) -> ShapeError:
        name, shape = label(self.params[i]), format_shape(shapes[i])
        if not isinstance(d, Dim):
            return ShapeError(
                f"input {name!r} has shape {shape} but the function needs length {d} in "
                f"dimension {axis} (type {self.params[i].type})"
            )
        if outer and d in outer:
            return ShapeError(
                f"input {name!r} has shape {shape} but dimension {axis} is the dim {d.name}, "
                f"which is {expected} in the enclosing call"
            )
        j, other_axis = self.where[d]
        other = label(self.params[j])
        return ShapeError(
            f"operands could not be broadcast together: input {other!r} has shape "
            f"{format_shape(shapes[j])} and input {name!r} has shape {shape}, but "
            f"dimension {other_axis} of {other!r} and dimension {axis} of {name!r} must be "
            "equal (symbolic dims never broadcast; declare a length-1 dim with T.row/T.col)"
        )


def label(p: Value) -> str:
    """How a message names a parameter: its name, else its position."""
    return str(p.attr("name", "")) or f"<input {p.attr('index')}>"


_BINDERS: weakref.WeakKeyDictionary[Function, ShapeBinder] = weakref.WeakKeyDictionary()


def binder_of(function: Function) -> ShapeBinder:
    """``function``'s binder, built once (a loop body is bound on every trip)."""
    found = _BINDERS.get(function)
    if found is None:
        found = _BINDERS[function] = ShapeBinder(function.params)
    return found
