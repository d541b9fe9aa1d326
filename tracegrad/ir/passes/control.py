"""The optimizer's view into and through loops and branches.

- ``map_subfunctions(function, transform)``: ``transform`` applied to every loop body and
  branch (innermost first), so every rule set (stabilization included) runs inside bodies.
- ``control_flow``: a pass that
  - folds a ``cond`` whose predicate is a constant into the chosen branch, inlined;
  - folds a ``scan`` of length 0 into its initial carries (and empty ``ys``);
  - merges a loop with the recording loop reverse mode made of it (same operands and body,
    more outputs), so ``value_and_grad`` runs the forward loop once, not twice.

>>> import numpy as np, tracegrad, tracegrad.numpy as tnp
>>> from tracegrad.ir.passes import optimize
>>> f = lambda x: tracegrad.cond(tnp.asarray(1.0) > 0, np.sin, np.cos, x) * 2.0
>>> [v.op.value for v in tracegrad.make_ir(f)(np.ones(3)).ops()]
['gt', 'cond', 'broadcast', 'mul']
>>> [v.op.value for v in optimize(tracegrad.make_ir(f)(np.ones(3))).ops()]
['broadcast', 'sin', 'mul']
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import HIGHER_ORDER, PRIMS
from tracegrad.ir.prims.control import OUTPUT, group_attrs
from tracegrad.ir.rebuild import rebuild_function
from tracegrad.ir.substitute import inline
from tracegrad.ir.value import Function, Value, const_value

Transform = Callable[[Function], Function]


def map_subfunctions(function: Function, transform: Transform) -> Function:
    """``function`` with ``transform`` applied to each of its loops' and branches' sub-Functions
    (recursively; each distinct sub-Function once, so a group's outputs keep one body)."""
    if not any(v.op in HIGHER_ORDER for v in function.order):
        return function
    done: dict[int, Function] = {}

    def mapped(g: Function) -> Function:
        found = done.get(id(g))
        if found is None:
            found = done[id(g)] = transform(map_subfunctions(g, transform))
        return found

    def visit(v: Value, operands: list[Value]) -> Value | None:
        if v.op not in HIGHER_ORDER:
            return None
        attrs = dict(v.attrs)
        for name in PRIMS[v.op].subfunctions:
            item = attrs[name]
            attrs[name] = tuple(map(mapped, item)) if isinstance(item, tuple) else mapped(item)
        if all(attrs[k] is a for k, a in v.attrs) and operands == list(v.operands):
            return None
        return b.apply(v.op, operands, **attrs)

    return rebuild_function(function, visit)


def control_flow(function: Function) -> Function:
    """Fold constant predicates and empty scans; merge loops with their recording twins."""
    if not any(v.op in HIGHER_ORDER for v in function.order):
        return function
    twins = _recording_twins(function)

    def visit(v: Value, operands: list[Value]) -> Value | None:
        if v.op not in HIGHER_ORDER:
            return None
        k = v.attr(OUTPUT)
        attrs = group_attrs(v)
        twin = twins.get(id(v))
        if twin is not None:
            return b.apply(twin.op, operands, **{**group_attrs(twin), OUTPUT: k})
        if v.op is Op.COND and const_value(operands[0]) is not None:
            index = int(np.asarray(const_value(operands[0])))
            branch = attrs["branches"][min(max(index, 0), len(attrs["branches"]) - 1)]
            return inline(branch, operands[1:])[k]
        if v.op is Op.SCAN and attrs["length"] == 0:
            n_consts, n_carry = attrs["num_consts"], attrs["num_carry"]
            if k < n_carry:
                return operands[n_consts + k]
            return b.full(v.shape, 0, v.dtype)
        return None

    return rebuild_function(function, visit)


def _recording_twins(function: Function) -> dict[int, Value]:
    """For each loop output whose loop has a recording twin in ``function``: one output of the
    twin (its group, any output), keyed by the plain output's id. A scan's twin has the same
    operands, params and sizes and a body whose outputs start with the scan's own (reverse
    mode appends the carries it keeps); a while loop's twin is the same loop recording."""
    recording: dict[tuple, Value] = {}
    scans: dict[tuple, list[Value]] = {}  # same operands, params and sizes
    for v in function.order:
        if v.op is Op.WHILE and v.attr("record"):
            recording[_while_key(v)] = v
        elif v.op is Op.SCAN:
            scans.setdefault(_scan_key(v), []).append(v)
    twins: dict[int, Value] = {}
    for v in function.order:
        found: Value | None = None
        if v.op is Op.WHILE and not v.attr("record"):
            found = recording.get(_while_key(v))
        elif v.op is Op.SCAN:
            outputs = v.attr("body").outputs
            longer = [
                r for r in scans[_scan_key(v)]
                if len(r.attr("body").outputs) > len(outputs)
                and r.attr("body").outputs[: len(outputs)] == outputs
            ]  # fmt: skip
            found = max(longer, key=lambda r: len(r.attr("body").outputs), default=None)
        if found is not None:
            twins[id(v)] = found
    return twins


def _while_key(v: Value) -> tuple:
    return (tuple(map(id, v.operands)), v.attr("cond"), v.attr("body"))


def _scan_key(v: Value) -> tuple:
    attrs = group_attrs(v)
    fixed = (attrs["length"], attrs["num_consts"], attrs["num_carry"], attrs["reverse"])
    return (tuple(map(id, v.operands)), tuple(map(id, attrs["body"].params)), fixed)
