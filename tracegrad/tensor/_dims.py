"""Checking the merged symbolic dims at call time: ``DimBinding.bind`` turns a mismatch into
a numpy-like ValueError. (Which dims a graph forces to be equal: tracegrad.ir.dim_classes.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tracegrad.ir.errors import TracegradError
from tracegrad.ir.prims import HIGHER_ORDER
from tracegrad.ir.types import Dim, DimLike, format_shape
from tracegrad.ir.value import Function, Value


class DimBinding:
    """Checks concrete input shapes against the (merged) symbolic dims of the params."""

    def __init__(self, params: Sequence[Value]) -> None:
        self.params = list(params)
        self.where: dict[Dim, tuple[int, int]] = {}  # dim -> (param position, axis) defining it
        for i, p in enumerate(self.params):
            for axis, d in enumerate(p.shape):
                if isinstance(d, Dim):
                    self.where.setdefault(d, (i, axis))

    def check_closed(self, function: Function) -> None:
        """Every Dim an op needs at run time must come from an input (or from a loop that
        produces it: the length of a while loop's history)."""
        produced = {
            d for v in function.order if v.op in HIGHER_ORDER for d in v.shape if isinstance(d, Dim)
        }
        for v in function.order:
            for _, attr in v.attrs:
                for d in _dims_in(attr):
                    if d not in self.where and d not in produced:
                        raise TracegradError(
                            f"the outputs need the length of dim {d}, which no input "
                            "determines; add the variable it belongs to as an input"
                        )

    def bind(self, arrays: Sequence[np.ndarray]) -> None:
        extents: dict[Dim, int] = {}
        for i, (p, a) in enumerate(zip(self.params, arrays, strict=True)):
            for axis, (d, n) in enumerate(zip(p.shape, a.shape, strict=True)):
                expected = extents.setdefault(d, n) if isinstance(d, Dim) else d
                if expected != n:
                    raise self._mismatch(i, axis, d, arrays)

    def _mismatch(self, i: int, axis: int, d: DimLike, arrays: Sequence[np.ndarray]) -> ValueError:
        name = _label(self.params[i])
        shape = format_shape(arrays[i].shape)
        if not isinstance(d, Dim):
            return ValueError(
                f"input {name!r} has shape {shape} but the function needs length {d} in "
                f"dimension {axis}"
            )
        j, other_axis = self.where[d]
        other = _label(self.params[j])
        return ValueError(
            f"operands could not be broadcast together: input {other!r} has shape "
            f"{format_shape(arrays[j].shape)} and input {name!r} has shape {shape}, but "
            f"dimension {other_axis} of {other!r} and dimension {axis} of {name!r} must be "
            "equal (symbolic dims never broadcast; declare a length-1 dim with T.row/T.col)"
        )


def _label(v: Value) -> str:
    return str(v.attr("name", "")) or f"<input {v.attr('index')}>"


def _dims_in(attr: Any) -> list[Dim]:
    if isinstance(attr, Dim):
        return [attr]
    if isinstance(attr, tuple):
        return [d for a in attr for d in _dims_in(a)]
    return []
