"""Theano-style infix pretty printing of IR expressions (for people; the SSA printer is exact).

Rules:

- Operators from the primitive table's ``infix`` field print fully parenthesized: ``(x * 2.0)``,
  ``(-x)``, ``(a < b)``; matmul prints ``(a @ b)``; other ops print as calls: ``exp(x)``,
  ``maximum(a, b)``, ``where(c, a, b)``, ``cast(x, float32)``, ``sum(x)`` (all axes),
  ``sum(x, axis=0)``, ``argmax(x, axis=1)``, ``take(x, i, axis=0)``, ``reshape(x, (3, 1))``.
- Slices print in numpy syntax with defaults omitted: ``x[::-1, 1:4:2]``.
- Broadcasts are implicit, as in numpy: an operand of an elementwise op prints without its
  broadcast, and a broadcast scalar constant prints as the constant (``2.0``). Any other
  broadcast prints ``broadcast(x, (n, 3))``.
- Parameters print as their names (``<param0>`` when unnamed); constants in Python syntax
  (``2.0``, ``-0.0``, ``nan``, ``2``, ``True``); arrays as ``array([1.0, 2.0])``, abbreviated
  beyond 8 elements: ``array([0.0, 1.0, 2.0, ...], shape=(10, 10))``.
- Sharing: a subexpression used more than once is printed again at each use while its text is
  at most ``share_cap`` characters (default 40). A longer shared one is bound once, on its own
  line before the result, as ``t0 = ...``, and referred to by that name. So the output grows
  linearly with the graph (never exponentially), and everything is iterative: 10^5-node
  graphs print without recursion.
- Several outputs (a list, or a Function with several outputs) print one per line.

>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.value import param
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> x = param(0, TensorType(DType.FLOAT64, ()), "x")
>>> pp(b.mul(2.0, x))
'(2.0 * x)'
>>> pp(b.exp(b.neg(b.pow(x, 2))))
'exp((-(x ** 2.0)))'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import ELEMENTWISE, PRIMS, REDUCTIONS
from tracegrad.ir.printer import format_float
from tracegrad.ir.types import format_shape
from tracegrad.ir.value import Function, Value, topological_order

SHARE_CAP = 40
ARRAY_ELEMENTS = 8  # arrays with more elements are abbreviated

Piece = str | Value  # a template is text with the operand Values still to print
_CALL_NAMES = {Op.GATHER: "take"}
_EXTRA_INFIX = {Op.MATMUL: "@"}


def pp(obj: Value | Function | Sequence[Value], share_cap: int = SHARE_CAP) -> str:
    """Infix text of a Value, of a Function's outputs, or of a list of Values."""
    if isinstance(obj, Value):
        obj = [obj]
    roots = list(obj.outputs if isinstance(obj, Function) else obj)
    order = topological_order(roots)
    templates = {id(v): _template(v) for v in order}
    uses = _count_uses(order, templates, roots)
    names = _choose_bindings(order, templates, uses, share_cap, _taken_names(order))
    lines = [f"{names[id(v)]} = {_render(v, templates, names)}" for v in order if id(v) in names]
    lines += [_render(r, templates, names) for r in roots]
    return "\n".join(lines)


def _taken_names(order: Sequence[Value]) -> set[str]:
    return {str(v.attr("name", "")) for v in order if v.op is Op.PARAM}


def _count_uses(order: Sequence[Value], templates: dict, roots: list[Value]) -> dict[int, int]:
    """How often each Value appears in the printed text (elided broadcasts do not count)."""
    uses = {id(v): 0 for v in order}
    for r in roots:
        uses[id(r)] += 1
    for v in order:
        for piece in templates[id(v)]:
            if isinstance(piece, Value):
                uses[id(piece)] += 1
    return uses


def _choose_bindings(
    order: Sequence[Value], templates: dict, uses: dict[int, int], cap: int, taken: set[str]
) -> dict[int, str]:
    """Bind shared subexpressions longer than ``cap``; lengths are computed, not printed, so
    this stays linear even when the unbound text would be exponential."""
    length: dict[int, int] = {}
    names: dict[int, str] = {}
    counter = 0
    for v in order:
        total, has_operand = 0, False
        for p in templates[id(v)]:
            if isinstance(p, str):
                total += len(p)
            else:
                has_operand = True
                total += len(names[id(p)]) if id(p) in names else length[id(p)]
        length[id(v)] = total
        if uses[id(v)] > 1 and total > cap and has_operand:
            while f"t{counter}" in taken:
                counter += 1
            names[id(v)] = f"t{counter}"
            counter += 1
    return names


def _render(root: Value, templates: dict, names: dict[int, str]) -> str:
    """Expand ``root``'s template with an explicit stack (no recursion)."""
    out: list[str] = []
    stack: list[Piece] = list(reversed(templates[id(root)]))
    while stack:
        piece = stack.pop()
        if isinstance(piece, str):
            out.append(piece)
        elif id(piece) in names:
            out.append(names[id(piece)])
        else:
            stack.extend(reversed(templates[id(piece)]))
    return "".join(out)


def _strip_broadcast(v: Value) -> Value:
    while v.op is Op.BROADCAST:
        v = v.operands[0]
    return v


def _join(items: Sequence[Piece], sep: str = ", ") -> list[Piece]:
    pieces: list[Piece] = []
    for i, item in enumerate(items):
        if i:
            pieces.append(sep)
        pieces.append(item)
    return pieces


def _call(name: str, args: Sequence[Value], *extra: str) -> list[Piece]:
    return [f"{name}(", *_join([*args, *extra]), ")"]


def _template(v: Value) -> list[Piece]:
    """The text of ``v`` with its printed operands left as Values."""
    op = v.op
    if op is Op.PARAM:
        return [v.attr("name") or f"<param{v.attr('index')}>"]
    if op is Op.CONST:
        return [format_const(v.attr("data").array)]
    if op is Op.BROADCAST:
        source = _strip_broadcast(v)
        if source.op is Op.CONST and source.attr("data").array.size == 1:
            return [source]
        return _call("broadcast", [v.operands[0]], format_shape(v.shape))
    args = [_strip_broadcast(o) for o in v.operands] if op in ELEMENTWISE else list(v.operands)
    infix = PRIMS[op].infix or _EXTRA_INFIX.get(op)
    if infix is not None and len(args) == 1:
        return [f"({infix}", args[0], ")"]
    if infix is not None and len(args) == 2:
        return ["(", args[0], f" {infix} ", args[1], ")"]
    return _structural_template(v, args)


def _structural_template(v: Value, args: list[Value]) -> list[Piece]:
    op = v.op
    if op is Op.CAST:
        return _call("cast", args, v.attr("dtype").value)
    if op in REDUCTIONS:
        axes = v.attr("axes")
        name = op.value.removeprefix("reduce_")
        if len(axes) == args[0].ndim:
            return _call(name, args)
        return _call(name, args, f"axis={axes[0] if len(axes) == 1 else axes}")
    if op is Op.SLICE:
        base, lead = args[0], _strip_broadcast(args[0])
        if lead.op is Op.CONST and format_const(lead.attr("data").array).startswith("-"):
            return ["(", base, ")", _slice_text(v)]  # ``-2.0[...]`` would misread
        return [base, _slice_text(v)]
    if op is Op.CONCATENATE:
        return ["concatenate([", *_join(args), f"], axis={v.attr('axis')})"]
    extra = [f"{k}={_attr_text(a)}" for k, a in v.attrs]
    if op in (Op.RESHAPE, Op.TRANSPOSE):
        extra = [_attr_text(v.attrs[0][1])]
    return _call(_CALL_NAMES.get(op, op.value), args, *extra)


def _attr_text(a: Any) -> str:
    if isinstance(a, Function):  # a loop body or branch: named, not printed inline
        return f"@{a.name}"
    if isinstance(a, tuple) and a and all(isinstance(x, Function) for x in a):
        return "(" + ", ".join(_attr_text(x) for x in a) + ")"
    if isinstance(a, tuple):
        return format_shape(a) if len(a) != 1 else f"({_attr_text(a[0])},)"
    if isinstance(a, float):
        return format_float(a, DType.FLOAT64)
    return a.value if isinstance(a, DType) else str(a)


def _slice_text(v: Value) -> str:
    parts = []
    for dim, (start, stop, step) in zip(v.operands[0].shape, v.attr("slices"), strict=True):
        if not isinstance(dim, int):
            parts.append(":")
            continue
        first, end = (0, dim) if step > 0 else (dim - 1, -1)
        text = ("" if start == first else str(start)) + ":" + ("" if stop == end else str(stop))
        parts.append(text if step == 1 else f"{text}:{step}")
    return "[" + ", ".join(parts) + "]"


def format_const(array: np.ndarray) -> str:
    """Python-style text of a constant: ``2.0``, ``2``, ``True``, ``array([...])``."""
    dtype = DType.from_numpy(array.dtype)
    if array.ndim == 0:
        return _scalar(array[()], dtype)
    if array.size <= ARRAY_ELEMENTS:
        return f"array({_nested(array, dtype)})"
    head = ", ".join(_scalar(x, dtype) for x in array.reshape(-1)[:3])
    return f"array([{head}, ...], shape={format_shape(array.shape)})"


def _nested(array: np.ndarray, dtype: DType) -> str:
    if array.ndim == 0:
        return _scalar(array[()], dtype)
    return "[" + ", ".join(_nested(sub, dtype) for sub in array) + "]"


def _scalar(x: Any, dtype: DType) -> str:
    if dtype.is_float:
        return format_float(x, dtype)
    return str(bool(x)) if dtype.is_bool else str(int(x))
