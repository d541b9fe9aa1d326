"""``pp``: Theano-style infix text of symbolic expressions and compiled functions.

>>> import tracegrad.tensor as T
>>> from tracegrad import pp
>>> x = T.dscalar('x')
>>> pp(x * 2.0 + 1.0)
'((x * 2.0) + 1.0)'
"""

from __future__ import annotations

from typing import Any

from tracegrad.ir.value import Function, Value
from tracegrad.tracing.tracer import Tracer


def _ir(obj: Any) -> Value | Function:
    if isinstance(obj, Tracer):
        return obj.value
    if isinstance(obj, (Value, Function)):
        return obj
    optimized = getattr(obj, "optimized", None)  # a compiled tracegrad.function
    if optimized is not None:
        return optimized
    raise TypeError(f"pp: cannot print a {type(obj).__name__}")


def pp(obj: Any) -> str:
    """Infix text of an expression, a list of expressions, an IR Value/Function, or a compiled
    function (its optimized graph)."""
    from tracegrad.ir.pp import pp as ir_pp

    if isinstance(obj, (list, tuple)):
        return ir_pp([_ir(o) for o in obj])  # type: ignore[misc]
    return ir_pp(_ir(obj))
