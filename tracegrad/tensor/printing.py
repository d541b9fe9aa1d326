"""Printing graphs as Theano does: ``pp`` (infix text of expressions and compiled functions),
``debugprint`` (the node tree) and ``pydotprint`` (Graphviz DOT text). ``import tracegrad as
theano`` makes this ``theano.printing``.

>>> import tracegrad.tensor as T
>>> from tracegrad import pp
>>> x = T.dscalar('x')
>>> pp(x * 2.0 + 1.0)
'((x * 2.0) + 1.0)'
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from tracegrad.ir.ops import Op
from tracegrad.ir.value import Function, Value, const_value
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


def _roots(obj: Any) -> list[Value]:
    items = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    roots: list[Value] = []
    for item in items:
        ir = _ir(item)
        roots.extend(ir.outputs if isinstance(ir, Function) else [ir])
    return roots


def _label(v: Value) -> str:
    if v.op is Op.PARAM:
        return str(v.attr("name", "")) or f"<input {v.attr('index')}>"
    if v.op is Op.CONST:
        data = const_value(v)
        return (
            f"TensorConstant{{{data}}}" if data is not None and data.size == 1 else "TensorConstant"
        )
    return v.op.value


def _ids() -> Iterator[str]:
    for n in itertools.count():
        letters = ""
        while True:
            n, r = divmod(n, 26)
            letters = chr(65 + r) + letters
            if n == 0:
                break
            n -= 1
        yield letters


def debugprint(obj: Any, file: Any = None, print_type: bool = False) -> str:
    """Theano's ``debugprint``: one line per node, children indented under ``|``, each node
    with an ``[id X]`` (a node met again prints its id only). Printed unless ``file="str"``;
    always returned.

    >>> import tracegrad.tensor as T
    >>> from tracegrad.tensor.printing import debugprint
    >>> x, y = T.dscalars('x', 'y')
    >>> print(debugprint(x * y + x, file='str'))
    add [id A]
     |mul [id B]
     | |x [id C]
     | |y [id D]
     |x [id C]
    """
    names: dict[int, str] = {}
    fresh = _ids()
    lines: list[str] = []

    def show(v: Value, prefix: str) -> None:
        seen = id(v) in names
        if not seen:
            names[id(v)] = next(fresh)
        kind = f" <{v.type}>" if print_type else ""
        lines.append(f"{prefix}{_label(v)} [id {names[id(v)]}]{kind}")
        if not seen:
            child = prefix + " |"
            for operand in v.operands:
                show(operand, child)

    for root in _roots(obj):
        show(root, "")
    text = "\n".join(lines)
    if file != "str":
        print(text, file=file)
    return text


def pydotprint(obj: Any, outfile: str | None = None, format: str = "dot") -> str:  # noqa: A002
    """The graph in Graphviz's DOT language (``format="dot"``, the only one: render it with
    ``dot -Tpng``); written to ``outfile`` if given, and returned.

    >>> import tracegrad.tensor as T
    >>> from tracegrad.tensor.printing import pydotprint
    >>> x = T.dscalar('x')
    >>> print(pydotprint(T.exp(x)))
    digraph G {
      n0 [label="exp", shape=box];
      n1 [label="x", shape=ellipse];
      n1 -> n0;
    }
    """
    if format != "dot":
        raise ValueError("pydotprint writes DOT text only (format='dot'); render it with dot")
    order: dict[int, int] = {}
    nodes: list[str] = []
    edges: list[str] = []

    def visit(v: Value) -> int:
        if id(v) in order:
            return order[id(v)]
        order[id(v)] = len(order)
        shape = "ellipse" if v.op in (Op.PARAM, Op.CONST) else "box"
        nodes.append(f'  n{order[id(v)]} [label="{_label(v)}", shape={shape}];')
        for operand in v.operands:
            edges.append(f"  n{visit(operand)} -> n{order[id(v)]};")
        return order[id(v)]

    for root in _roots(obj):
        visit(root)
    text = "\n".join(["digraph G {", *nodes, *edges, "}"])
    if outfile is not None:
        with open(outfile, "w") as handle:
            handle.write(text + "\n")
    return text
