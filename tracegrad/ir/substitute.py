"""Inlining: rebuild a Function's outputs on new inputs (``Function -> Values``).

Types are re-inferred through the table rows, so a Function traced with symbolic dims can be
inlined on concrete Values and vice versa.
"""

from __future__ import annotations

from collections.abc import Sequence

from tracegrad.ir.rebuild import rebuild
from tracegrad.ir.value import Function, Value


def inline(function: Function, args: Sequence[Value]) -> list[Value]:
    """The outputs of ``function`` with its params replaced by ``args``."""
    if len(args) != len(function.params):
        raise TypeError(f"{function.name}: {len(function.params)} params, {len(args)} args")
    seed = {id(p): a for p, a in zip(function.params, args, strict=True)}
    return rebuild(function.outputs, seed=seed, order=function.order)
