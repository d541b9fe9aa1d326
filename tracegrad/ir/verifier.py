"""The IR verifier: checks that a Function is well formed, or raises ``VerifyError`` showing
the offending SSA line (marked ``>``) with a few lines of context.

Checks: parameters are PARAM ops with distinct indices 0..n-1; every PARAM the outputs reach is
a parameter of the function; ``order`` is topological (no cycles); every op has its operand
count and exactly its attribute names, in sorted order (``build.apply`` sorts them, and an
unsorted twin would defeat interning-based CSE); every op's stored type is what its table
row's type rule gives (for loops and branches: their bodies fit their operands); constants'
data match their type. Loop bodies and branches are verified the same way.

>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.value import Function, param
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> x = param(0, TensorType(DType.FLOAT64, (3,)), "x")
>>> verify(Function("f", (x,), (b.exp(x),)))
>>> y = param(0, TensorType(DType.FLOAT64, (3,)), "y")
>>> verify(Function("f", (x,), (b.add(x, y),)))
Traceback (most recent call last):
...
tracegrad.errors.VerifyError: %1 reaches parameter 'y' (index 0), which is not a parameter in @f:
...
"""

from __future__ import annotations

from typing import Any

from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import VerifyError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import PRIMS
from tracegrad.ir.printer import function_lines
from tracegrad.ir.types import Dim, TensorType
from tracegrad.ir.value import ConstData, Function, Value

CONTEXT = 3  # lines shown before and after the offending one

# op -> (operand count or None for "one or more", attribute names in sorted order): the rows'
_SIGNATURES: dict[Op, tuple[int | None, tuple[str, ...]]] = {
    op: (prim.arity, prim.attrs) for op, prim in PRIMS.items()
}


def verify(f: Function) -> None:
    """Raise ``VerifyError`` unless ``f`` is well formed (see the module docstring); the
    sub-Functions of its loops and branches are verified too, each once."""
    from tracegrad.ir.printer import subfunctions

    for g in subfunctions(f):
        try:
            _verify_one(g)
        except VerifyError as error:
            raise VerifyError(f"in @{g.name}, a sub-Function of @{f.name}: {error}") from None
    _verify_one(f)


def _verify_one(f: Function) -> None:
    _check_params(f)
    position = {id(v): i for i, v in enumerate(f.order)}
    params = {id(p) for p in f.params}
    for v in f.order:
        problem = _check_value(v, position, params, f)
        if problem is not None:
            raise VerifyError(_report(f, v, f"%{position[id(v)]} {problem}"))


def _check_params(f: Function) -> None:
    for i, p in enumerate(f.params):
        if not isinstance(p, Value) or p.op is not Op.PARAM:
            kind = p.op.value if isinstance(p, Value) else type(p).__name__
            raise VerifyError(f"parameter {i} of @{f.name} is a {kind}, not a param")
    indices = [p.attr("index", None) for p in f.params]
    ints = all(type(i) is int for i in indices)
    if not ints or sorted(indices) != list(range(len(indices))):
        message = f"parameter indices of @{f.name} are {indices}, not 0..{len(indices) - 1}"
        raise VerifyError(_report(f, f.params[0], message))


def _check_value(v: Value, position: dict[int, int], params: set[int], f: Function) -> str | None:
    for check in (_check_order, _check_signature, _check_leaf, _check_type):
        problem = check(v, position, params, f)
        if problem is not None:
            return problem
    return None


def _check_order(v: Value, position: dict[int, int], params: set[int], f: Function) -> str | None:
    for operand in v.operands:
        if position.get(id(operand), len(position)) >= position[id(v)]:
            return f"operand {_name(operand, position)} does not precede its user (a cycle?)"
    return None


def _check_signature(v: Value, position: dict, params: set[int], f: Function) -> str | None:
    if not isinstance(v.op, Op) or v.op not in _SIGNATURES:
        return f"unknown op {v.op!r}"
    count, names = _SIGNATURES[v.op]
    got = len(v.operands)
    if (count is None and got == 0) or (count is not None and got != count):
        return f"{v.op.value} takes {count or 'one or more'} operands, got {got}"
    keys = tuple(k for k, _ in v.attrs)
    if keys != names:
        return f"{v.op.value} needs attributes {names} in this order, got {keys}"
    return None


def _check_leaf(v: Value, position: dict[int, int], params: set[int], f: Function) -> str | None:
    if v.op is Op.PARAM and id(v) not in params:
        name, index = v.attr("name"), v.attr("index")
        return f"reaches parameter {name!r} (index {index}), which is not a parameter"
    if v.op is Op.CONST:
        data = v.attr("data")
        if not isinstance(data, ConstData):
            return f"constant data is a {type(data).__name__}, not ConstData"
        shape, dtype = data.array.shape, data.array.dtype
        if not isinstance(v.type.dtype, DType) or v.type.dtype.numpy != dtype:
            return f"constant data of dtype {dtype} in a value of type {v.type}"
        if shape != v.type.shape:
            return f"constant data of shape {shape} in a value of type {v.type}"
    return None


def _check_type(v: Value, position: dict[int, int], params: set[int], f: Function) -> str | None:
    problem = _bad_type(v.type)
    if problem is not None or v.op in (Op.PARAM, Op.CONST):
        return problem
    attrs = dict(v.attrs)
    try:
        expected = PRIMS[v.op].type_rule(tuple(o.type for o in v.operands), attrs)
    except Exception as error:  # noqa: BLE001  (any failure of a rule is a malformed node)
        return f"{v.op.value}: the type rule rejects the operands: {error}"
    if expected != v.type:
        return f"{v.op.value}: stored type {v.type} differs from the type rule's {expected}"
    return None


def _bad_type(t: Any) -> str | None:
    if not isinstance(t, TensorType) or not isinstance(t.dtype, DType):
        return f"bad type {t!r}"
    for d in t.shape:
        ok = isinstance(d, Dim) or (isinstance(d, int) and not isinstance(d, bool) and d >= 0)
        if not ok:
            return f"bad dim {d!r} in type {t}"
    return None


def _name(v: Value, position: dict[int, int]) -> str:
    return f"%{position[id(v)]}" if id(v) in position else f"<{v.op.value} outside the function>"


def _report(f: Function, bad: Value, problem: str) -> str:
    """The message: the problem, then the lines around ``bad`` with ``>`` marking its line
    (the header line for a parameter)."""
    lines = function_lines(f)
    at = next((i for i, (v, _) in enumerate(lines) if v is bad), 0)
    shown = []
    for i in range(max(0, at - CONTEXT), min(len(lines), at + CONTEXT + 1)):
        marker = ">" if i == at else " "
        shown.append(f"  {marker} {lines[i][1]}")
    return "\n".join([f"{problem} in @{f.name}:", *shown])
