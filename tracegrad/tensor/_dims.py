"""Which symbolic dims a graph forces to be equal, and checking them at call time.

Symbolic dims never broadcast (Theano's rule), so the operands of an elementwise op, the
contracted dims of a matmul, and a broadcast's source and target dims must agree. Merging
them gives the compiled graph fewer unknowns, and ``DimBinding.bind`` turns a mismatch at call
time into a numpy-like ValueError.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.errors import TracegradError
from tracegrad.ir.ops import ELEMENTWISE, Op
from tracegrad.ir.types import Dim, DimLike, format_shape
from tracegrad.ir.value import Function, Value, topological_order


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[DimLike, DimLike] = {}

    def find(self, d: DimLike) -> DimLike:
        root = d
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while d != root:  # path compression
            self.parent[d], d = root, self.parent.get(d, d)
        return root

    def union(self, a: DimLike, b: DimLike) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb or (isinstance(ra, int) and isinstance(rb, int)):
            return  # two different ints never meet in a well-typed graph
        if isinstance(ra, int):
            ra, rb = rb, ra
        self.parent[ra] = rb  # an int root wins: the dim is known


def _constrain(v: Value, sets: _UnionFind) -> None:
    """Record the dims ``v`` requires to be equal."""
    shapes = [o.shape for o in v.operands]
    if v.op in ELEMENTWISE:
        for dims in zip(v.shape, *shapes, strict=True):
            for d in dims[1:]:
                sets.union(dims[0], d)
    elif v.op is Op.BROADCAST:
        source, target = shapes[0], v.shape
        lead = len(target) - len(source)
        for i, d in enumerate(source):
            if d != 1:
                sets.union(d, target[lead + i])
    elif v.op is Op.MATMUL:
        a, b = shapes
        for d, e in zip(a[:-2], b[:-2], strict=True):
            sets.union(d, e)
        sets.union(a[-1], b[-2])
    elif v.op is Op.RESHAPE:
        # a reshape that only inserts or drops 1s keeps its other dims in order (VJP rules and
        # expand_dims/squeeze make these); a same-rank reshape between different symbolic dims
        # would be wrongly merged, but symbolic shapes cannot be written by users anyway
        kept_in = [d for d in shapes[0] if d != 1]
        kept_out = [d for d in v.shape if d != 1]
        if len(kept_in) == len(kept_out) and any(isinstance(d, Dim) for d in kept_in + kept_out):
            for d, e in zip(kept_in, kept_out, strict=True):
                sets.union(d, e)
    elif v.op is Op.CONCATENATE:
        axis = v.attr("axis")
        for shape in shapes:
            for i, (d, e) in enumerate(zip(shape, v.shape, strict=True)):
                if i != axis:
                    sets.union(d, e)


def canonical_dims(inputs: Sequence[Value], outputs: Sequence[Value]) -> Callable[[Any], Any]:
    """A map from every Dim to the representative of its class: a known int if the graph pins
    it, else the first input dim in it (so it is bound at call time)."""
    sets = _UnionFind()
    for v in topological_order(outputs):
        _constrain(v, sets)
    chosen: dict[DimLike, DimLike] = {}
    for p in inputs:
        for d in p.shape:
            root = sets.find(d)
            chosen.setdefault(root, root if isinstance(root, int) else d)

    def rename(d: Any) -> Any:
        if not isinstance(d, Dim):
            return d
        root = sets.find(d)
        return chosen.get(root, root)

    return rename


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
        """Every Dim an op needs at run time must come from an input."""
        for v in function.order:
            for _, attr in v.attrs:
                for d in _dims_in(attr):
                    if d not in self.where:
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
