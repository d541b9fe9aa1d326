"""SSA text for Functions: exact, readable, and parsed back by ``tracegrad.ir.parser``.

Syntax (``%N`` is the Value's position in ``Function.order``)::

    func @f(%0: f64[n,3] "x" #7, %1: f32[]) -> (f64[3]) {
      %2 = const 2.0 : f64[]
      %3 = broadcast %2 {shape=(n,3)} : f64[n,3]
      %4 = mul %0, %3 : f64[n,3]
      %5 = reduce_sum %4 {axes=(0,)} : f64[3]
      return %5
    }

- A parameter prints its type, then its name as a JSON string (omitted when empty) and its
  trace id as ``#id`` (omitted when 0); its index is its position. A parameter whose attributes
  are not exactly ``index=position, name, trace`` prints them all instead: ``%0: f64[] {...}``.
- Attributes print in their stored order as ``{key=value, ...}``. Values: ints, floats, Python
  tuples ``(0,)``, JSON strings, ``True``/``False``/``None``, dtypes by short name (``f32``),
  symbolic dims by name (``dim"n+1"`` when the name is not a plain word).
- Constants print their elements inline as nested lists, exactly: finite floats use the
  shortest text that parses back to the same bits (float32 included), plus ``inf``, ``-inf``,
  ``-0.0`` and ``nan``; a NaN with any other bit pattern prints ``nan(0x7ff4000000000000)``
  (the raw bits), so no payload is lost.
- Loops and branches (``while``, ``scan``, ``cond``) carry sub-Functions: they print first, as
  ``func`` blocks of their own, and attributes name them ``@label``.
- Value locations (``Value.loc``) are not printed: they are not part of a Value's identity.

>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.value import Function, param
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> x = param(0, TensorType(DType.FLOAT64, ()), "x")
>>> print(print_function(Function("f", (x,), (b.mul(2.0, x),))))
func @f(%0: f64[] "x") -> (f64[]) {
  %1 = const 2.0 : f64[]
  %2 = mul %1, %0 : f64[]
  return %2
}
"""

from __future__ import annotations

import contextvars
import json
import math
import re
import struct
from typing import Any

import numpy as np

from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.types import Dim, TensorType
from tracegrad.ir.value import ConstData, Function, Value

Numbering = dict[int, int]  # id(value) -> SSA number

# Words the parser reads as something other than a dim name (a Dim with such a name is quoted).
RESERVED = frozenset({"nan", "inf", "True", "False", "None", "func"} | {d.short for d in DType})
_BARE_DIM = re.compile(r"[A-Za-z_][A-Za-z0-9_+]*\Z")
_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def numbering_of(f: Function) -> Numbering:
    return {id(v): i for i, v in enumerate(f.order)}


def print_function(f: Function) -> str:
    """The SSA text of ``f``: the sub-Functions its loops and branches carry come first, each
    once (innermost first), under unique labels that attributes refer to as ``@label``."""
    subs = subfunctions(f)
    if not subs:
        return "\n".join(text for _, text in function_lines(f))
    labels = _labels([*subs, f])
    token = _LABELS.set(labels)
    try:
        blocks = [function_lines(g) for g in [*subs, f]]
    finally:
        _LABELS.reset(token)
    return "\n\n".join("\n".join(text for _, text in block) for block in blocks)


def subfunctions(f: Function) -> list[Function]:
    """Every Function nested in ``f``'s attributes, transitively, innermost first."""
    found: list[Function] = []
    seen: set[int] = set()

    def visit(g: Function) -> None:
        for v in g.order:
            for _, a in v.attrs:
                for item in a if isinstance(a, tuple) else (a,):
                    if isinstance(item, Function) and id(item) not in seen:
                        seen.add(id(item))
                        visit(item)
                        found.append(item)

    visit(f)
    return found


def _labels(functions: list[Function]) -> dict[int, str]:
    labels: dict[int, str] = {}
    used: set[str] = set()
    for g in functions:
        label, k = g.name, 1
        while label in used:
            label, k = f"{g.name}.{k}", k + 1
        used.add(label)
        labels[id(g)] = label
    return labels


_LABELS: contextvars.ContextVar[dict[int, str] | None] = contextvars.ContextVar(
    "labels", default=None
)


def function_lines(f: Function) -> list[tuple[Value | None, str]]:
    """The printed lines of ``f``, each with the Value it defines (None for other lines).

    The header line is tagged with the first parameter (the verifier points at it for
    parameter errors).
    """
    numbering = numbering_of(f)
    params = {id(p) for p in f.params}
    header = _header(f, numbering)
    lines: list[tuple[Value | None, str]] = [(f.params[0] if f.params else None, header)]
    for v in f.order:
        if id(v) not in params:
            lines.append((v, "  " + print_value_line(v, numbering)))
    outs = ", ".join(_ref(o, numbering) for o in f.outputs)
    lines.append((None, f"  return {outs}".rstrip()))
    lines.append((None, "}"))
    return lines


def _header(f: Function, numbering: Numbering) -> str:
    params = ", ".join(_param_decl(p, i, numbering) for i, p in enumerate(f.params))
    results = ", ".join(format_type(o.type) for o in f.outputs)
    label = (_LABELS.get() or {}).get(id(f), f.name)
    # a label made unique by a suffix is followed by the Function's own name
    real = "" if label == f.name else " " + json.dumps(f.name, ensure_ascii=False)
    return f"func @{_name(label)}{real}({params}) -> ({results}) {{"


def _name(name: str) -> str:
    return name if _BARE_NAME.match(name) else json.dumps(name, ensure_ascii=False)


def _param_decl(p: Value, position: int, numbering: Numbering) -> str:
    head = f"{_ref(p, numbering)}: {format_type(p.type)}"
    if p.op is not Op.PARAM:
        return f"{head} !{p.op.value}"  # not a parameter at all: unparseable on purpose
    attrs = dict(p.attrs)
    canonical = (
        [k for k, _ in p.attrs] == ["index", "name", "trace"]
        and attrs["index"] == position
        and type(attrs["index"]) is int
        and isinstance(attrs["name"], str)
        and type(attrs["trace"]) is int
        and attrs["trace"] >= 0
    )
    if not canonical:
        return f"{head} {format_attrs(p.attrs)}"
    name = f" {json.dumps(attrs['name'], ensure_ascii=False)}" if attrs["name"] else ""
    trace = f" #{attrs['trace']}" if attrs["trace"] else ""
    return head + name + trace


def _ref(v: Value, numbering: Numbering) -> str:
    number = numbering.get(id(v))
    return "%?" if number is None else f"%{number}"


def print_value_line(v: Value, numbering: Numbering) -> str:
    """``%N = op %a, %b {attrs} : type`` for one Value."""
    lhs = f"{_ref(v, numbering)} = {v.op.value}"
    if v.op is Op.CONST and _is_plain_const(v):
        return f"{lhs} {format_array(v.attr('data').array)} : {format_type(v.type)}"
    parts = [lhs]
    if v.operands:
        parts.append(", ".join(_ref(o, numbering) for o in v.operands))
    if v.attrs:
        parts.append(format_attrs(v.attrs))
    return " ".join(parts) + f" : {format_type(v.type)}"


def _is_plain_const(v: Value) -> bool:
    return len(v.attrs) == 1 and v.attrs[0][0] == "data" and isinstance(v.attrs[0][1], ConstData)


def format_type(t: Any) -> str:
    if not isinstance(t, TensorType) or not isinstance(t.dtype, DType):
        return f"<bad type {t!r}>"
    return f"{t.dtype.short}[{','.join(format_dim(d) for d in t.shape)}]"


def format_dim(d: Any) -> str:
    if isinstance(d, Dim):
        bare = _BARE_DIM.match(d.name) and d.name not in RESERVED
        return d.name if bare else "dim" + json.dumps(d.name, ensure_ascii=False)
    if isinstance(d, (int, np.integer)) and not isinstance(d, bool):
        return str(int(d))
    return f"<bad dim {d!r}>"


def format_attrs(attrs: Any) -> str:
    try:
        items = [f"{k}={format_attr(a)}" for k, a in attrs]
    except (TypeError, ValueError):
        return f"<bad attrs {attrs!r}>"
    return "{" + ", ".join(items) + "}"


def format_attr(a: Any) -> str:
    """One attribute value; see the module docstring for the syntax."""
    if a is None or isinstance(a, (bool, np.bool_)):
        return str(a if a is None else bool(a))
    if isinstance(a, DType):
        return a.short
    if isinstance(a, Dim):
        return format_dim(a)
    if isinstance(a, (int, np.integer)):
        return str(int(a))
    if isinstance(a, (float, np.floating)):
        return format_float(float(a), DType.FLOAT64)
    if isinstance(a, str):
        return json.dumps(a, ensure_ascii=False)
    if isinstance(a, tuple):
        inner = ",".join(format_attr(x) for x in a)
        return f"({inner},)" if len(a) == 1 else f"({inner})"
    if isinstance(a, Function):
        return "@" + _name((_LABELS.get() or {}).get(id(a), a.name))
    return f"<unprintable {type(a).__name__} {a!r}>"


_CANONICAL_NAN = {
    d: int(np.array(np.nan, d.numpy).view(f"u{d.numpy.itemsize}")) for d in DType if d.is_float
}


def format_float(x: float | np.floating, dtype: DType) -> str:
    """Text that ``parse_float(text, dtype)`` maps back to the very same bits."""
    if math.isnan(x):
        bits = _float_bits(x, dtype)
        return "nan" if bits == _CANONICAL_NAN[dtype] else f"nan({bits:#x})"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if dtype is not DType.FLOAT64:
        # numpy's shortest float32/float16 text; fall back to the exact double if parsing it
        # through a double would round twice to a different value
        narrow = dtype.numpy.type
        text = repr(float(str(narrow(x))))
        return text if narrow(float(text)) == narrow(x) else repr(float(x))
    return repr(float(x))


def _float_bits(x: float | np.floating, dtype: DType) -> int:
    if dtype is not DType.FLOAT64:
        return int(np.array(x, dtype.numpy).view(f"u{dtype.numpy.itemsize}"))
    return struct.unpack("<Q", struct.pack("<d", float(x)))[0]


def format_array(array: np.ndarray) -> str:
    """A constant's elements, exactly: a scalar, or nested lists of the array's shape."""
    dtype = DType.from_numpy(array.dtype)
    if array.ndim == 0:
        return _format_scalar(array[()], dtype)
    return _format_nested(array, dtype)


def _format_nested(array: np.ndarray, dtype: DType) -> str:
    if array.ndim == 1:
        return "[" + ",".join(_format_scalar(x, dtype) for x in array) + "]"
    return "[" + ",".join(_format_nested(sub, dtype) for sub in array) + "]"


def _format_scalar(x: Any, dtype: DType) -> str:
    if dtype.is_float:
        return format_float(x, dtype)
    if dtype.is_bool:
        return str(bool(x))
    return str(int(x))
