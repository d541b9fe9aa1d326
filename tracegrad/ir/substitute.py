"""Inlining: rebuild a Function's outputs on new inputs (``Function -> Values``).

Types are re-inferred through the table rows, so a Function traced with symbolic dims can be
inlined on concrete Values and vice versa.
"""

from __future__ import annotations

from collections.abc import Sequence

from tracegrad.ir.rebuild import rebuild
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, Value, new_trace_id, param


def inline(function: Function, args: Sequence[Value]) -> list[Value]:
    """The outputs of ``function`` with its params replaced by ``args``."""
    if len(args) != len(function.params):
        raise TypeError(f"{function.name}: {len(function.params)} params, {len(args)} args")
    seed = {id(p): a for p, a in zip(function.params, args, strict=True)}
    return rebuild(function.outputs, seed=seed, order=function.order)


def reorder_params(function: Function, layout: Sequence[int | TensorType]) -> Function:
    """``function`` with new params: ``layout[i]`` is the index of the old param that becomes
    param ``i``, or the type of a new, unused param; params are renumbered 0..n-1."""
    trace = new_trace_id()
    new: list[Value] = []
    seed: dict[int, Value] = {}
    for i, item in enumerate(layout):
        if isinstance(item, TensorType):
            new.append(param(i, item, f"unused{i}", trace))
        else:
            old = function.params[item]
            new.append(param(i, old.type, str(old.attr("name")), trace))
            seed[id(old)] = new[-1]
    outputs = rebuild(function.outputs, seed=seed, order=function.order)
    return Function(function.name, tuple(new), tuple(outputs))
