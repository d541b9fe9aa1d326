"""Which symbolic dims a graph forces to be equal.

Symbolic dims never broadcast (Theano's rule), so the operands of an elementwise op, the
contracted dims of a matmul, and a broadcast's source and target dims must agree. The
front end (``tracegrad.function``) merges them so the compiled graph has fewer unknowns; the
LLVM backend asks whether any merge would happen at all, since a runtime-extent kernel must
not iterate over one dim while reading an operand of another.

>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.dtypes import DType
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.value import param
>>> n, k = Dim("n"), Dim("k")
>>> x = param(0, TensorType(DType.FLOAT64, (n,)), "x")
>>> y = param(1, TensorType(DType.FLOAT64, (k,)), "y")
>>> canonical_dims([x, y], [b.add(x, y)])(k)
Dim(name='n')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tracegrad.ir.ops import Op
from tracegrad.ir.prims import ELEMENTWISE
from tracegrad.ir.types import Dim, DimLike
from tracegrad.ir.value import Value, topological_order


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
