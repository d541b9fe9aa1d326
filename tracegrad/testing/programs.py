"""Random well-typed programs drawn from the primitive table, for differential testing.

``programs()`` is a hypothesis strategy of ``Program``s: small SSA graphs (a few inputs that
broadcast together, up to ``max_ops`` operations) built through the IR builders, so every
program is valid by construction and shrinks to fewer ops and smaller shapes. In ``safe``
mode partial operations are wrapped so no NaN or inf can arise from finite inputs in
[-3, 3] (log(|x| + 1), sqrt(|x| + 0.5), a / (1 + b*b), exp(clip(x, -10, 10)),
pow(|a| + 1, clip(b, -3, 3)), the rows' ``safe`` forms in ``prim_cases``): any NaN is then
a bug. ``raw`` mode keeps the true ops. The elementwise ops drawn are every row with a
lowering and a test entry.
Some ops are loops: a ``scan`` of a random elementwise body over 1 to 3 iterations, or a
``cond`` between two random bodies.

>>> from hypothesis import given, settings
>>> @settings(max_examples=5, derandomize=True, database=None)
... @given(programs(max_ops=4))
... def test_programs_verify(program):
...     assert program.function.count_ops() >= 1
>>> test_programs_verify()
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st

from tracegrad import tree
from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import ShapeError
from tracegrad.ir.interpreter import evaluate
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import PRIMS
from tracegrad.ir.types import TensorType, broadcast_shapes
from tracegrad.ir.value import Function, Value, new_trace_id, param
from tracegrad.testing.prim_cases import CASES
from tracegrad.testing.strategies import arrays, broadcastable_shapes
from tracegrad.tracing.trace import Traced, call


@dataclass(frozen=True)
class Program:
    """A random program: its IR, and whether partial ops were made total (safe mode)."""

    function: Function
    safe: bool

    @property
    def input_types(self) -> list[TensorType]:
        return [p.type for p in self.function.params]

    @property
    def source(self) -> str:
        """SSA text that ``tracegrad.ir.parser.parse_function`` reads back (for replay)."""
        return str(self.function)

    def as_callable(self) -> Callable[..., Any]:
        """A Python function computing the program: traceable by jit/grad, and runnable on
        concrete arrays (through the reference interpreter)."""
        n_out = len(self.function.outputs)
        traced = Traced(
            self.function,
            tree.flatten(tuple(range(len(self.function.params))))[1],
            tree.LEAF if n_out == 1 else tree.flatten(tuple(range(n_out)))[1],
            (False,) * n_out,
            (),
        )

        def run(function: Function, inputs: list[Any]) -> list[np.ndarray]:
            typed = [
                np.asarray(x, p.dtype.numpy) for x, p in zip(inputs, function.params, strict=True)
            ]
            return evaluate(function, typed)

        def program(*args: Any) -> Any:
            outs = call(traced, list(args), run)
            return outs[0] if n_out == 1 else tuple(outs)

        return program


def _drawn(arity: int) -> dict[str, Op]:
    """The elementwise rows of this arity programs draw, named by op: every row with a
    scalar lowering and a test entry with domains (tracegrad.testing.prim_cases, whose
    order is the drawing order), so a new row is fuzzed as soon as it has its entry."""
    return {
        op.value: op
        for op, case in CASES.items()
        if PRIMS[op].is_elementwise and PRIMS[op].scalar is not None
        if len(case.domains) == arity == PRIMS[op].arity
    }


# the ops programs draw; their total ("safe") forms are the entries' ``safe``
_UNARY = _drawn(1)
_BINARY = _drawn(2)


def _safe_unary(kind: str, x: Value) -> Value:
    make_safe = CASES[_UNARY[kind]].safe
    return make_safe(x) if make_safe is not None else b.unary(_UNARY[kind], x)


def _binary(kind: str, x: Value, y: Value, safe: bool) -> Value:
    if kind == "where":
        return b.where(b.gt(x, y), x, y)
    make_safe = CASES[_BINARY[kind]].safe
    if safe and make_safe is not None:
        return make_safe(x, y)
    return b.binary(_BINARY[kind], x, y)


UNARY_KINDS = tuple(_UNARY)
BINARY_KINDS = (*_BINARY, "where")
STRUCTURAL_KINDS = ("sum", "mean", "max", "transpose", "reverse", "flatten", "cumsum", "matmul")


def _structural(draw: Any, kind: str, x: Value) -> Value:
    if x.ndim == 0:
        return b.mul(x, 1.5)
    axis = draw(st.integers(0, x.ndim - 1))
    if kind in ("sum", "mean", "max"):
        if kind in ("max", "mean") and x.shape[axis] == 0:
            return bs.sum(x, axis)  # max raises and mean is NaN over an empty axis
        builder = {"sum": bs.sum, "mean": bs.mean}.get(kind)
        keepdims = draw(st.booleans())
        if builder is not None:
            return builder(x, axis, keepdims)
        return bs.reduce(Op.REDUCE_MAX, x, axis, keepdims)
    if kind == "transpose":
        return bs.transpose(x, draw(st.permutations(range(x.ndim))))
    if kind == "reverse":
        from tracegrad.ir.indexing import getitem

        return getitem(x, (slice(None),) * axis + (slice(None, None, -1),))
    if kind == "flatten":
        return bs.reshape(x, (-1,))
    if kind == "cumsum":
        return bs.cumsum(x, axis)
    matrix = bs.reshape(x, (x.shape[0], -1)) if x.type.size else bs.reshape(x, (x.shape[0], 0))
    return bs.matmul(matrix, bs.transpose(matrix))


CONTROL_KINDS = ("scan", "cond")


def _body_chain(draw: Any, x: Value, c: Value, safe: bool) -> Value:
    """1 to 3 random elementwise ops from ``x`` (and ``c``), keeping ``x``'s type."""
    v = x
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            kind = draw(st.sampled_from(UNARY_KINDS))
            v = _safe_unary(kind, v) if safe else b.unary(_UNARY[kind], v)
        else:
            other = c if draw(st.booleans()) else x
            v = _binary(draw(st.sampled_from(BINARY_KINDS)), v, other, safe)
    return b.cast(v, x.dtype) if v.dtype is not x.dtype else v


def _control(draw: Any, kind: str, x: Value, live: list[Value], safe: bool) -> list[Value]:
    """A scan of a random body over 1 to 3 iterations (carry ``x``, a live value as const)
    or a cond between two random bodies; returns the new values."""
    from tracegrad.ir.prims.control import build_control

    partners = [v for v in live if _broadcastable(v.shape, x.shape)]
    partners = [v for v in partners if tuple(broadcast_shapes(v.shape, x.shape)) == tuple(x.shape)]
    c = partners[draw(st.integers(0, len(partners) - 1))]
    trace = new_trace_id()
    pc, px = param(0, c.type, "c", trace), param(1, x.type, "x", trace)
    if kind == "scan":
        new = _body_chain(draw, px, pc, safe)
        body = Function("loop_body", (pc, px), (new, b.mul(new, 0.5)))
        length, reverse = draw(st.integers(1, 3)), draw(st.booleans())
        carry, ys = build_control(Op.SCAN, [c, x], body=body, length=length,
                                  num_consts=1, num_carry=1, reverse=reverse)  # fmt: skip
        return [carry, bs.sum(ys, 0)]
    branches = tuple(
        Function(f"branch{k}", (pc, px), (_body_chain(draw, px, pc, safe),)) for k in range(2)
    )
    pred = b.gt(bs.sum(x), 0.0)
    return build_control(Op.COND, [pred, c, x], branches=branches)


def _broadcastable(a: tuple, b_: tuple) -> bool:
    try:
        broadcast_shapes(a, b_)
    except ShapeError:
        return False
    return True


@st.composite
def programs(
    draw: Any,
    max_ops: int = 8,
    max_inputs: int = 3,
    dtypes: tuple[str, ...] = ("float64",),
    safe: bool = True,
    max_side: int = 4,
    loops: bool = True,
) -> Program:
    """Draw a random valid program (see the module docstring); ``loops``: some ops are scans or
    conds over small random bodies."""
    n_inputs = draw(st.integers(1, max_inputs))
    input_shapes = draw(broadcastable_shapes(n_inputs, max_dims=3, max_side=max_side))
    dtype = DType(draw(st.sampled_from(dtypes)))
    trace_id = new_trace_id()
    live: list[Value] = [
        param(i, TensorType(dtype, tuple(s)), f"x{i}", trace_id) for i, s in enumerate(input_shapes)
    ]
    params = tuple(live)
    for _ in range(draw(st.integers(1, max_ops))):
        groups = ("unary", "binary", "binary", "structural", "control")
        group = draw(st.sampled_from(groups if loops else groups[:-1]))
        x = live[draw(st.integers(0, len(live) - 1))]
        if group == "control":
            live.extend(_control(draw, draw(st.sampled_from(CONTROL_KINDS)), x, live, safe))
            continue
        if group == "unary":
            kind = draw(st.sampled_from(UNARY_KINDS))
            new = _safe_unary(kind, x) if safe else b.unary(_UNARY[kind], x)
        elif group == "binary":
            partners = [v for v in live if _broadcastable(v.shape, x.shape)]
            y = partners[draw(st.integers(0, len(partners) - 1))]
            new = _binary(draw(st.sampled_from(BINARY_KINDS)), x, y, safe)
        else:
            new = _structural(draw, draw(st.sampled_from(STRUCTURAL_KINDS)), x)
        live.append(new)
    outputs = (
        (live[-1],)
        if draw(st.booleans())
        else (live[-1], live[draw(st.integers(0, len(live) - 1))])
    )
    return Program(Function("program", params, outputs), safe)


def program_inputs(program: Program, domain: str = "finite") -> Any:
    """A strategy of input arrays for ``program`` (values in [-3, 3] by default)."""
    return st.tuples(
        *(
            arrays(t.dtype.numpy, t.shape, domain=domain, low=-3.0, high=3.0)
            for t in program.input_types
        )  # type: ignore[arg-type]
    )
