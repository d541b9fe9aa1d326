"""The one graph-rebuild walk: a graph's Values rebuilt operands first, with substitutions.

Every IR transform that maps a graph to a new one (inlining, stripping stop_gradient before
running, binding symbolic dims) is this loop with a different ``visit``. For each
Value ``v`` the outputs depend on (operands first, iteratively, so 10^5-deep graphs are fine):

- a Value keyed (by id) in ``seed`` is replaced by its seed;
- else ``visit(v, new_operands)`` may return the replacement;
- else ``v`` itself is kept when its operands are unchanged (leaves always are), and its op is
  re-applied to the new operands otherwise (types re-inferred through the primitive row).

>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.value import param
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> x = param(0, TensorType(DType.FLOAT64, ()), "x")
>>> y = param(1, TensorType(DType.FLOAT64, ()), "y")
>>> (out,) = rebuild([b.exp(b.neg(x))], seed={id(x): y})
>>> out is b.exp(b.neg(y))
True
>>> (same,) = rebuild([out], lambda v, ops: ops[0] if v.op.value == "neg" else None)
>>> same is b.exp(y)
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from tracegrad.ir.build import apply
from tracegrad.ir.ops import Op
from tracegrad.ir.value import Function, Value, topological_order

# visit(v, new_operands) -> the replacement of v, or None for the default
Visit = Callable[[Value, list[Value]], "Value | None"]


def rebuild(
    outputs: Sequence[Value],
    visit: Visit | None = None,
    *,
    seed: Mapping[int, Value] | None = None,
    order: Sequence[Value] | None = None,
) -> list[Value]:
    """``outputs`` rebuilt (see the module docstring). ``order`` is a topological order
    covering the outputs (``Function.order``, already computed) when the caller has one."""
    env: dict[int, Value] = dict(seed) if seed else {}
    for v in topological_order(outputs) if order is None else order:
        key = id(v)
        if key in env:
            continue
        operands = [env[id(o)] for o in v.operands]
        new = None if visit is None else visit(v, operands)
        if new is None:
            same = all([n is o for n, o in zip(operands, v.operands, strict=True)])
            new = v if same else apply(v.op, operands, **dict(v.attrs))
        env[key] = new
    return [env[id(o)] for o in outputs]


def rebuild_function(function: Function, visit: Visit) -> Function:
    """``function`` with ``visit`` applied to its graph; the same object when nothing changed."""
    outputs = rebuild(function.outputs, visit, order=function.order)
    if all(n is o for n, o in zip(outputs, function.outputs, strict=True)):
        return function
    return Function(function.name, function.params, tuple(outputs))


def strip_stop_gradients(function: Function) -> Function:
    """``function`` with every stop_gradient replaced by its operand: for running, where it is
    an identity (only the reverse-mode transform gives it a meaning)."""
    return rebuild_function(function, _strip)


def _strip(v: Value, operands: list[Value]) -> Value | None:
    return operands[0] if v.op is Op.STOP_GRADIENT else None
