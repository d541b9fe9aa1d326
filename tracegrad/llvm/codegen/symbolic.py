"""Binding symbolic dims to concrete extents: a Function traced with symbolic shapes is
re-inferred through the primitive table on the concrete shapes of its first call, then
planned and compiled like any concrete Function. Used only for Functions whose dims are
not all bound by their parameters (a concatenation's length); the others compile once,
with runtime extents (:mod:`tracegrad.llvm.codegen.extents`).
"""

from __future__ import annotations

from tracegrad.ir.build import apply
from tracegrad.ir.interpreter import bind_dims
from tracegrad.ir.ops import Op
from tracegrad.ir.rebuild import rebuild
from tracegrad.ir.shapes import binder_of
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, Value, param


def concretize(function: Function, shapes: tuple[tuple[int, ...], ...]) -> Function:
    """``function`` with its symbolic dims bound from the parameter shapes (types are
    re-inferred through the primitive table). ShapeError (a ValueError) on inconsistent
    shapes."""
    dims = binder_of(function).bind([tuple(s) for s in shapes])
    seed: dict[int, Value] = {}
    params = []
    for p, shape in zip(function.params, shapes, strict=True):
        new = (
            param(
                p.attr("index"),
                TensorType(p.dtype, tuple(shape)),
                p.attr("name"),
                p.attr("trace", 0),
            )
            if p.op is Op.PARAM
            else p
        )
        seed[id(p)] = new
        params.append(new)

    def bind(v: Value, operands: list[Value]) -> Value | None:
        if v.op in (Op.CONST, Op.PARAM):
            return None
        return apply(v.op, operands, **{k: bind_dims(a, dims) for k, a in v.attrs})

    outputs = rebuild(function.outputs, bind, seed=seed, order=function.order)
    return Function(function.name, tuple(params), tuple(outputs))
