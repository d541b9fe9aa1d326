"""Kernel fusion: chains of elementwise ops, with the broadcasts feeding them and at most one
trailing reduction, become one FUSED Value carrying its sub-Function.

A kernel grows from a root (an elementwise op, or a REDUCE_SUM/MAX/MIN) up through its
operands. An operand joins the kernel when

- it is elementwise and *every* use of it is inside the kernel (and it is not an output):
  an intermediate also used elsewhere is **cut**, i.e. it is computed once by its own kernel
  and read by this one as an input (no recomputation of real arithmetic);
- it is a BROADCAST: broadcasts are index arithmetic, free to recompute, so they are
  **duplicated** into every kernel that reads them (the kernel's input is the small,
  un-broadcast operand);
- it is a constant with at most one element (embedded in the kernel).

Everything else (reductions other than the root, movement, matmul, params, other kernels) is
an input. A kernel with fewer than two arithmetic ops is left unfused. Common subexpressions
inside a kernel are one Value (interning), so they are computed once: the logistic gradient
computes ``exp(-|x|)`` once. The sub-Function's params are the kernel's inputs in the order
the outer Function computes them; its body is elementwise ops, BROADCASTs of params or
constants, and at most one final reduction — the shape the LLVM backend lowers to one loop
nest.

>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.value import Function, param
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> x = param(0, TensorType(DType.FLOAT64, (4,)), "x")
>>> f = fuse(Function("f", (x,), (b.exp(b.neg(b.mul(x, x))),)))
>>> [v.op.value for v in f.ops()], f.outputs[0].attr("function").count_ops()
(['fused'], 3)
"""

from __future__ import annotations

from dataclasses import dataclass

from tracegrad.ir import build as b
from tracegrad.ir.ops import ELEMENTWISE, Op
from tracegrad.ir.value import Function, Value, new_trace_id, param

ROOT_REDUCTIONS = frozenset({Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MIN})
MIN_OPS = 2  # a kernel needs at least this many arithmetic ops to be worth a FUSED node


@dataclass
class _Kernel:
    root: Value
    members: dict[int, Value]  # id -> Value, root included

    def arithmetic(self) -> int:
        return sum(1 for v in self.members.values() if v.op in ELEMENTWISE or v is self.root)


def fuse(function: Function) -> Function:
    """Replace fusible regions of ``function`` by FUSED Values (see the module docstring)."""
    order = function.order
    uses: dict[int, int] = {}  # use edges per value (a value used twice by one op counts 2)
    for v in order:
        for o in v.operands:
            uses[id(o)] = uses.get(id(o), 0) + 1
    for out in function.outputs:
        uses[id(out)] = uses.get(id(out), 0) + 1  # an output is used outside every kernel
    owned: set[int] = set()  # interior values of a kernel (computed only inside it)
    kernels: dict[int, _Kernel] = {}
    for v in reversed(order):
        if id(v) in owned or not (v.op in ELEMENTWISE or v.op in ROOT_REDUCTIONS):
            continue
        kernel = _grow(v, uses, owned)
        if kernel.arithmetic() >= MIN_OPS:
            kernels[id(v)] = kernel
            owned.update(k for k, m in kernel.members.items() if _exclusive(m) and m is not v)
    if not kernels:
        return function
    return _rebuild(function, kernels, owned)


def _exclusive(v: Value) -> bool:
    return v.op in ELEMENTWISE


def _grow(root: Value, uses: dict[int, int], owned: set[int]) -> _Kernel:
    """The largest region above ``root`` whose elementwise values are used only inside it
    (counting use edges: a value joins when its last use joins)."""
    members = {id(root): root}
    inside: dict[int, int] = {}
    stack = [root]
    while stack:
        v = stack.pop()
        through_broadcast = v.op is Op.BROADCAST
        for o in v.operands:
            key = id(o)
            if key in members:
                continue
            seen = inside[key] = inside.get(key, 0) + 1
            if through_broadcast and not _is_scalar_const(o):
                continue  # a broadcast reads a kernel input: never compute per broadcast element
            if _joins(o, seen, uses, owned):
                members[key] = o
                stack.append(o)
    return _Kernel(root, members)


def _is_scalar_const(v: Value) -> bool:
    return v.op is Op.CONST and v.type.is_concrete and v.type.size <= 1


def _joins(v: Value, inside: int, uses: dict[int, int], owned: set[int]) -> bool:
    if v.op is Op.BROADCAST or _is_scalar_const(v):
        return True
    return v.op in ELEMENTWISE and id(v) not in owned and inside == uses[id(v)]


def _sub_function(
    kernel: _Kernel, position: dict[int, int], name: str
) -> tuple[Function, list[Value]]:
    """The kernel's sub-Function and, in outer order, the outer Values its params stand for."""
    members = kernel.members
    inputs: dict[int, Value] = {}
    for v in members.values():
        for o in v.operands:
            if id(o) not in members:
                inputs[id(o)] = o
    trace = new_trace_id()  # kernel params never intern with the outer function's
    mapping: dict[int, Value] = {}
    params = []
    ordered = [inputs[key] for key in sorted(inputs, key=position.__getitem__)]
    for i, o in enumerate(ordered):
        label = o.attr("name") if o.op is Op.PARAM else ""
        params.append(param(i, o.type, label, trace))
        mapping[id(o)] = params[-1]
    # the outer order is a topological order of the members too (operands first)
    for key in sorted(members, key=position.__getitem__):
        v = members[key]
        operands = tuple([mapping[id(o)] for o in v.operands])
        mapping[key] = Value.make(v.op, v.type, operands, v.attrs, v.loc)
    return Function(name, tuple(params), (mapping[id(kernel.root)],)), ordered


def _rebuild(function: Function, kernels: dict[int, _Kernel], owned: set[int]) -> Function:
    position = {id(v): i for i, v in enumerate(function.order)}
    new: dict[int, Value] = {}
    count = 0
    for v in function.order:
        key = id(v)
        if key in owned:
            continue  # computed inside its kernel: nothing outside it reads this value any more
        kernel = kernels.get(key)
        if kernel is not None:
            sub, inputs = _sub_function(kernel, position, f"k{count}")
            count += 1
            new[key] = b.apply(Op.FUSED, [new[id(o)] for o in inputs], function=sub)
            continue
        operands = v.operands
        if operands and any([new[id(o)] is not o for o in operands]):
            v = Value.make(v.op, v.type, tuple([new[id(o)] for o in operands]), v.attrs, v.loc)
        new[key] = v
    return Function(function.name, function.params, tuple(new[id(o)] for o in function.outputs))
