"""cond: one of two branches, differentiated as the branch that ran."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tracegrad import tree
from tracegrad.control.bodies import (
    abstracts,
    as_tracers,
    flatten_leaves,
    leaf_names,
    leaf_values,
    mismatch,
    trace_body,
    truth,
)
from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.prims.control import build_control
from tracegrad.ir.substitute import reorder_params
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, Value
from tracegrad.tracing.context import current_trace
from tracegrad.tracing.trace import Traced, abstract_type, closure_values
from tracegrad.tracing.tracer import Tracer


def _join_branches(branches: Sequence[Traced]) -> tuple[list[list[Value]], list[bool]]:
    """Each branch's outputs cast to one type per leaf: a weak (Python scalar) output takes the
    other branch's dtype; any other difference is an error naming the leaf."""
    names = leaf_names(branches[0].out_tree, "output")
    outs = [list(t.function.outputs) for t in branches]
    weak = [list(t.out_weak) for t in branches]
    joined_weak = []
    for i, name in enumerate(names):
        types = [o[i].type for o in outs]
        if tuple(types[0].shape) != tuple(types[1].shape) or (
            types[0].dtype is not types[1].dtype and weak[0][i] == weak[1][i]
        ):
            raise mismatch("cond", f"{name} is {types[1]} in true_fun but {types[0]} in false_fun")
        strong = 0 if not weak[0][i] else 1
        dtype = types[strong].dtype
        for o in outs:
            o[i] = b.cast(o[i], dtype) if o[i].dtype is not dtype else o[i]
        joined_weak.append(weak[0][i] and weak[1][i])
    return outs, joined_weak


# ---- cond -----------------------------------------------------------------------------------


def cond(
    pred: Any, true_fun: Callable[..., Any], false_fun: Callable[..., Any], *operands: Any
) -> Any:
    """``true_fun(*operands) if pred else false_fun(*operands)`` with a traced ``pred``
    (JAX's ``lax.cond``): only the chosen branch runs, and its gradient is the chosen
    branch's gradient (so a NaN in the other branch never reaches it).

    >>> import numpy as np, tracegrad
    >>> f = tracegrad.jit(lambda x: tracegrad.cond(x > 0, np.sqrt, lambda x: -x, x))
    >>> float(f(4.0)), float(f(-3.0))
    (2.0, 3.0)
    >>> float(tracegrad.grad(lambda x: tracegrad.cond(x > 0, np.log, lambda x: 0 * x, x))(0.0))
    0.0
    """
    if not isinstance(pred, Tracer):
        t, _ = abstract_type(pred) if not isinstance(pred, (list, tuple)) else (None, None)
        if t is None or t.ndim != 0:
            raise mismatch("cond", f"pred must be a scalar bool, got {t}")
        return true_fun(*operands) if truth(pred) else false_fun(*operands)
    if pred.ndim != 0 or pred.value.dtype is not DType.BOOL:
        raise mismatch("cond", f"pred must be a scalar bool, got {pred.value.type}")
    leaves, in_tree = flatten_leaves(tuple(operands))
    types = abstracts(leaves)
    args = tree.unflatten(in_tree, types)
    branches = [
        trace_body(fn, args, name)
        for fn, name in ((false_fun, "cond false_fun"), (true_fun, "cond true_fun"))
    ]
    if branches[0].out_tree != branches[1].out_tree:
        raise mismatch("cond", "true_fun and false_fun return different pytree structures")
    outputs, weak = _join_branches(branches)
    n = len(leaves)
    closure_types = [[p.type for p in t.function.params[n:]] for t in branches]
    functions = []
    for k, t in enumerate(branches):
        fn = Function(t.function.name, t.function.params, tuple(outputs[k]))
        layout: list[int | TensorType] = list(range(n))
        for j, types_j in enumerate(closure_types):
            layout += list(range(n, n + len(types_j))) if j == k else types_j
        functions.append(reorder_params(fn, layout))
    current = current_trace()
    operands_v = [
        *leaf_values(leaves, types),
        *[v for t in branches for v in closure_values(t, current)],
    ]
    outs = build_control(Op.COND, [pred.value_in(current), *operands_v], branches=tuple(functions))
    return tree.unflatten(branches[0].out_tree, as_tracers(outs, weak, [pred, *leaves]))
