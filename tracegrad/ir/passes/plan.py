"""Buffer planning: a liveness analysis the backend may use; it does not change the IR.

For every intermediate Value (not a param, constant or output) the plan records the position
of its last use in ``Function.order`` and a buffer slot; slots are reused greedily once the
Value they held is dead and the new Value has the same dtype and shape. The pass returns the
Function unchanged and stores the plan (``buffer_plan(function)`` fetches or computes it). It
is an analysis only: whether a backend honours it is the backend's business.

>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.value import Function, param
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> x = param(0, TensorType(DType.FLOAT64, (4,)), "x")
>>> plan = buffer_plan(Function("f", (x,), (b.log(b.exp(b.exp(b.exp(x)))),)))
>>> plan.slots_used, len(plan.slot)
(2, 3)
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from tracegrad.ir.ops import Op
from tracegrad.ir.value import Function

_PLANS: weakref.WeakKeyDictionary[Function, BufferPlan] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class BufferPlan:
    last_use: dict[int, int]  # id(value) -> position of its last user in function.order
    slot: dict[int, int]  # id(intermediate value) -> buffer slot
    slots_used: int


def plan_buffers(function: Function) -> Function:
    """Record the buffer plan of ``function`` and return it unchanged."""
    _PLANS[function] = _plan(function)
    return function


def buffer_plan(function: Function) -> BufferPlan:
    plan = _PLANS.get(function)
    if plan is None:
        plan = _PLANS[function] = _plan(function)
    return plan


def _plan(function: Function) -> BufferPlan:
    last_use: dict[int, int] = {}
    for i, v in enumerate(function.order):
        for o in v.operands:
            last_use[id(o)] = i
    outputs = {id(o) for o in function.outputs}
    free: dict[tuple, list[int]] = {}
    dying: dict[int, list[tuple[tuple, int]]] = {}
    slot: dict[int, int] = {}
    count = 0
    for i, v in enumerate(function.order):
        for key, s in dying.pop(i, []):
            free.setdefault(key, []).append(s)
        if v.op in (Op.PARAM, Op.CONST) or id(v) in outputs:
            continue
        key = (v.dtype, v.shape)
        pool = free.get(key)
        s = pool.pop() if pool else count
        count += s == count
        slot[id(v)] = s
        # the slot is free for values computed after this one's last user
        dying.setdefault(last_use.get(id(v), i) + 1, []).append((key, s))
    return BufferPlan(last_use, slot, count)
