"""Inlining: rebuild a Function's outputs on new inputs (``Function -> Values``).

Types are re-inferred through the table rows, so a Function traced with symbolic dims can be
inlined on concrete Values and vice versa.
"""

from __future__ import annotations

from collections.abc import Sequence

from tracegrad.ir.build import apply
from tracegrad.ir.ops import Op
from tracegrad.ir.value import Function, Value


def inline(function: Function, args: Sequence[Value]) -> list[Value]:
    """The outputs of ``function`` with its params replaced by ``args``."""
    if len(args) != len(function.params):
        raise TypeError(f"{function.name}: {len(function.params)} params, {len(args)} args")
    env: dict[int, Value] = {id(p): a for p, a in zip(function.params, args, strict=True)}
    for v in function.order:
        if id(v) in env:
            continue
        if v.op in (Op.CONST, Op.PARAM):
            env[id(v)] = v
            continue
        operands = [env[id(o)] for o in v.operands]
        if all(n is o for n, o in zip(operands, v.operands, strict=True)):
            env[id(v)] = v
        else:
            env[id(v)] = apply(v.op, operands, **dict(v.attrs))
    return [env[id(o)] for o in function.outputs]
