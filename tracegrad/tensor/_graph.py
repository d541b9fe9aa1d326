"""Graph rewriting helpers for the front end: substitution and batching.

``substitute`` rebuilds expressions with some Values replaced (and optionally every symbolic
dim renamed). ``batch`` is a small vmap over a leading batch prefix: it rebuilds a graph in
which some Values gained leading dims, so the reverse-mode graph for *one* cotangent computes
every row of a Jacobian at once (Theano needed ``scan`` for this; symbolic dims rule out a
Python loop).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import PRIMS, Batching
from tracegrad.ir.rebuild import rebuild
from tracegrad.ir.types import Dim, Shape
from tracegrad.ir.value import Value, const, topological_order

DimMap = Callable[[Any], Any]


def map_attr(attr: Any, dims: DimMap) -> Any:
    """Apply ``dims`` to every Dim inside a (nested tuple) attribute."""
    if isinstance(attr, Dim):
        return dims(attr)
    if isinstance(attr, tuple):
        return tuple(map_attr(a, dims) for a in attr)
    return attr


def substitute(
    outputs: Sequence[Value], replace: dict[int, Value], dims: DimMap | None = None
) -> list[Value]:
    """``outputs`` rebuilt with ``replace`` (keyed by id of the old Value) applied."""

    def visit(v: Value, operands: list[Value]) -> Value | None:
        if v.op in (Op.CONST, Op.PARAM):
            return None
        attrs = {k: a if dims is None else map_attr(a, dims) for k, a in v.attrs}
        same = all(n is o for n, o in zip(operands, v.operands, strict=True))
        if same and attrs == dict(v.attrs):
            return v
        if v.op is Op.BROADCAST and operands[0].shape == attrs["shape"]:
            return operands[0]  # merged dims can make a broadcast the identity
        return b.apply(v.op, operands, **attrs)

    return rebuild(outputs, visit, seed=replace)


def depends_on(outputs: Sequence[Value], value: Value) -> bool:
    return any(v is value for v in topological_order(outputs))


# ---- batching -----------------------------------------------------------------------------


def batch(outputs: Sequence[Value], batched: dict[int, Value], prefix: Shape) -> list[Value]:
    """Rebuild ``outputs`` where each Value keyed in ``batched`` is replaced by one with the
    leading dims ``prefix``; everything depending on them gains those dims too."""
    env: dict[int, tuple[Value, bool]] = {}
    for v in topological_order(outputs):
        if id(v) in batched:
            env[id(v)] = (batched[id(v)], True)
            continue
        operands = [env[id(o)] for o in v.operands]
        if v.op in (Op.CONST, Op.PARAM) or not any(flag for _, flag in operands):
            env[id(v)] = (v, False)
        else:
            env[id(v)] = (_batch_rule(v, operands, tuple(prefix)), True)
    results = []
    for o in outputs:
        value, flag = env[id(o)]
        results.append(value if flag else b.broadcast_to(value, tuple(prefix) + value.shape))
    return results


def _full(pair: tuple[Value, bool], prefix: Shape) -> Value:
    value, flag = pair
    return value if flag else b.broadcast_to(value, tuple(prefix) + value.shape)


def _batch_rule(v: Value, operands: list[tuple[Value, bool]], prefix: Shape) -> Value:
    """The batched version of ``v`` (at least one operand is batched), by its row's
    ``batching`` kind."""
    r, op, attrs = len(prefix), v.op, dict(v.attrs)
    kind = PRIMS[op].batching
    if kind is Batching.INDEXED and operands[1][1]:
        raise UnsupportedError("jacobian through a gather with differentiated indices")
    if kind is Batching.POINTWISE or (kind is Batching.INDEXED and op is not Op.GATHER):
        if "axis" in attrs:
            attrs["axis"] += r
        return b.apply(op, [_full(p, prefix) for p in operands], **attrs)
    x = operands[0][0]
    if kind is Batching.AXES:
        return b.apply(op, [x], axes=tuple(a + r for a in attrs["axes"]))
    if kind is Batching.AXIS:
        return b.apply(op, [x], axis=attrs["axis"] + r)
    if kind is Batching.INDEXED:  # gather: the batch dims lead the operand, not the indices
        return b.apply(op, [x, operands[1][0]], axis=attrs["axis"] + r)
    return _batch_movement(v, x, prefix, attrs)


def _batch_movement(v: Value, x: Value, prefix: Shape, attrs: dict[str, Any]) -> Value:
    r, op = len(prefix), v.op
    if op is Op.BROADCAST:
        source = v.operands[0]
        lead = len(attrs["shape"]) - source.ndim
        if lead:  # numpy aligns trailing dims: keep the batch dims in front
            x = b.apply(Op.RESHAPE, [x], shape=tuple(prefix) + (1,) * lead + source.shape)
        return b.apply(op, [x], shape=tuple(prefix) + tuple(attrs["shape"]))
    if op is Op.RESHAPE:
        return b.apply(op, [x], shape=tuple(prefix) + tuple(attrs["shape"]))
    if op is Op.TRANSPOSE:
        perm = tuple(range(r)) + tuple(p + r for p in attrs["perm"])
        return b.apply(op, [x], perm=perm)
    if op is Op.SLICE:
        whole = tuple((0, d, 1) for d in prefix)
        return b.apply(op, [x], slices=whole + tuple(attrs["slices"]))
    if op is Op.PAD:
        return b.apply(op, [x], pads=((0, 0),) * r + tuple(attrs["pads"]), value=attrs["value"])
    raise UnsupportedError(f"jacobian: cannot batch the {op.value} op")


def identity_basis(shape: Shape, dtype: DType) -> Value:
    """E with shape ``shape + shape`` and E[i..., j...] = (i == j): one cotangent per row."""
    r = len(shape)
    mask: Value | None = None
    for k, d in enumerate(shape):
        iota = _iota(d)
        rows = bs.reshape(iota, tuple(d if a == k else 1 for a in range(2 * r)))
        cols = bs.reshape(iota, tuple(d if a == r + k else 1 for a in range(2 * r)))
        equal = b.eq(rows, cols)
        mask = equal if mask is None else b.binary(Op.LOGICAL_AND, mask, equal)
    assert mask is not None
    return b.broadcast_to(b.cast(mask, dtype), tuple(shape) + tuple(shape))


def _iota(d: Any) -> Value:
    """0, 1, ..., d-1 as int64; for a symbolic d, a cumulative sum of ones."""
    if isinstance(d, int):
        return const(np.arange(d, dtype=np.int64))
    return b.sub(bs.cumsum(b.full((d,), 1, DType.INT64)), 1)
