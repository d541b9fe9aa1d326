"""Tracing a Python function into a Function, and calling a Function from Python.

``trace(fn, args)`` replaces every array leaf of the (pytree) arguments by a Tracer, runs the
function, and records the outputs. Values of enclosing traces that the function closes over
become extra params (``Traced.closure``) so that nested transformations differentiate through
them. ``call(traced, leaves, run)`` either inlines the Function into the current trace (when a
Tracer is among the inputs) or runs it on concrete arrays with ``run``.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegrad import tree
from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType, python_scalar_dtype
from tracegrad.ir.errors import ConcretizationError, DTypeError, TracegradError
from tracegrad.ir.substitute import inline
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, Value
from tracegrad.tracing import concrete
from tracegrad.tracing.context import Trace, current_trace, pop_trace, push_trace
from tracegrad.tracing.implicit import Implicit, hooks
from tracegrad.tracing.location import user_location
from tracegrad.tracing.tracer import CONCRETIZED, Tracer

b.location_hook = user_location


@dataclass(frozen=True)
class Traced:
    """A traced function: its IR, the input/output pytree structures, which outputs are weak
    (came only from Python scalars), and the outer Tracers its closure params stand for."""

    function: Function
    in_tree: tree.TreeDef
    out_tree: tree.TreeDef
    out_weak: tuple[bool, ...]
    closure: tuple[Any, ...]  # outer Tracers and implicit inputs (tracing.implicit)

    @property
    def per_trace(self) -> bool:
        """Whether this is tied to the enclosing trace (it lifted outer Tracers): then it
        must not be cached across calls. Implicit inputs do not tie it."""
        return any(isinstance(c, Tracer) for c in self.closure)

    @property
    def stale(self) -> bool:
        """Whether a captured array changed dtype or shape since tracing: trace again."""
        return any(isinstance(c, Implicit) and c.stale() for c in self.closure)


@dataclass(frozen=True)
class Abstract:
    """A stand-in argument of a known type: loop bodies and branches are traced on these."""

    type: TensorType
    weak: bool = False


def is_leaf(x: Any) -> bool:
    return isinstance(x, (Tracer, np.ndarray, np.generic, Abstract))


def abstract_type(x: Any) -> tuple[TensorType, bool]:
    """The TensorType of an argument leaf and whether it is weak (a Python scalar)."""
    if isinstance(x, Tracer):
        return x.value.type, x.weak
    if isinstance(x, Abstract):
        return x.type, x.weak
    if isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
        return TensorType(python_scalar_dtype(x), ()), True
    if isinstance(x, (np.ndarray, np.generic)):
        if x.dtype == object:
            raise DTypeError("tracegrad does not support object arrays")
        return TensorType(DType.from_numpy(x.dtype), tuple(x.shape)), False
    if isinstance(x, complex):
        raise DTypeError("tracegrad does not support complex numbers")
    raise TypeError(
        f"argument of type {type(x).__name__} is not an array, a scalar or a "
        "tuple/list/dict of those (mark it static with static_argnums)"
    )


def trace(
    fn: Callable[..., Any],
    args: Sequence[Any],
    name: str | None = None,
    user_fn: Callable[..., Any] | None = None,
    lifts_symbolic: bool = False,
) -> Traced:
    """Trace ``fn(*args)``; every leaf of ``args`` becomes a parameter. ``user_fn`` is the
    user's function ``fn`` calls: the arrays it captures become implicit inputs.
    ``lifts_symbolic``: symbolic ``tracegrad.tensor`` variables ``fn`` closes over become
    closure params (a loop body over symbolic values), instead of an error."""
    leaves, in_tree = tree.flatten(tuple(args), is_leaf=is_leaf)
    with hooks(user_fn):
        return _trace(fn, leaves, in_tree, name, lifts_symbolic)


def _trace(
    fn: Callable[..., Any], leaves: list, in_tree: tree.TreeDef, name: str | None,
    lifts_symbolic: bool = False,
) -> Traced:  # fmt: skip
    current = push_trace()
    current.lifts_symbolic = lifts_symbolic
    # tracing allocates many long-lived objects: the cyclic GC would rescan them over and
    # over (about half the time of a 10^4-op trace); there are no cycles to collect here
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        tracers = []
        for i, leaf in enumerate(leaves):
            type_, weak = abstract_type(leaf)
            tracers.append(Tracer(current.new_param(type_, f"arg{i}"), current, weak))
        CONCRETIZED.where = None
        since = concrete.mark()
        concrete.set_needed(None)  # nothing stale from a failure nobody asked about
        try:
            out = _run(fn, tree.unflatten(in_tree, tracers))
        except Exception:
            _settle(current, leaves, since)
            raise
        concrete.forget(since)
        out_leaves, out_tree = tree.flatten(out, is_leaf=is_leaf)
        outputs, weak_flags = [], []
        for leaf in out_leaves:
            value, weak = _output_value(leaf)
            outputs.append(value)
            weak_flags.append(weak)
        function = Function(
            name or getattr(fn, "__name__", "f"), tuple(current.params), tuple(outputs)
        )
    finally:
        pop_trace(current)
        if gc_was_enabled:
            gc.enable()
    closure = tuple(current.lifted_outer)  # type: ignore[arg-type]
    return Traced(function, in_tree, out_tree, tuple(weak_flags), closure)


def _run(fn: Callable[..., Any], args: Any) -> Any:
    try:
        return fn(*args)
    except (ValueError, TypeError) as error:
        if CONCRETIZED.where is None or isinstance(error, TracegradError):
            raise
        raise ConcretizationError(
            f"a traced value was stored into a concrete numpy array at {CONCRETIZED.where}. "
            "Build the array from traced values instead: np.zeros_like(x) or "
            "tracegrad.numpy.zeros_like(x) and then out[i] = ..., or np.stack([...])."
        ) from error


def _settle(current: Trace, leaves: list, since: int) -> None:
    """The trace failed: find the params that the values asked for a concrete value
    (tracing.concrete) depend on. Python int/bool leaves among them are what the caller may
    specialize on (``concrete.take_needed``); outer Tracers (leaves, closures) are noted in
    turn for the enclosing trace. Runs on the error path only."""
    found = concrete.noted(since)
    concrete.forget(since)
    if not found:
        concrete.set_needed(None)
        return
    index_of = {id(p): k for k, p in enumerate(current.params)}
    hits: dict[int, str] = {}
    for value, where in found:
        for k in _params_under(value, index_of):
            hits.setdefault(k, where)
    needed = []
    for k, where in sorted(hits.items()):
        source = leaves[k] if k < len(leaves) else current.lifted_outer[k - len(leaves)]
        if k < len(leaves) and type(source) in (int, bool):
            needed.append(k)
        elif isinstance(source, Tracer):
            concrete.note(source.value, where)
    first = next((where for k, where in hits.items() if k in needed), "")  # noted first
    concrete.set_needed(concrete.ConcreteUse(tuple(needed), first) if needed else None)


def _params_under(value: Value, index_of: dict[int, int]) -> set[int]:
    """Indices (per ``index_of``) of the params ``value`` depends on."""
    seen: set[int] = set()
    hits: set[int] = set()
    stack = [value]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        k = index_of.get(id(v))
        if k is not None:
            hits.add(k)
        stack.extend(v.operands)
    return hits


def _output_value(leaf: Any) -> tuple[Value, bool]:
    if isinstance(leaf, Tracer):
        return leaf.value_in(current_trace()), leaf.weak
    try:
        type_, weak = abstract_type(leaf)
    except TypeError:
        raise TracegradError(
            f"the traced function returned a {type(leaf).__name__}; return arrays, scalars "
            "or tuples/lists/dicts of them"
        ) from None
    return b.to_value(leaf), weak


Runner = Callable[[Function, list[Any]], list[np.ndarray]]


def call(traced: Traced, leaves: Sequence[Any], run: Runner) -> list[Any]:
    """Run ``traced`` on argument leaves (plus its closure): inline into the current trace
    when a Tracer is among them (or an implicit input is, under a trace: the draw belongs to
    the enclosing function's calls), else execute, producing the implicit inputs now."""
    closure = traced.closure
    trace_ = current_trace()
    implicit = any(isinstance(c, Implicit) for c in closure)
    if (implicit and trace_ is not None) or any(isinstance(x, Tracer) for x in (*leaves, *closure)):
        values = [_inline_input(x, trace_) for x in (*leaves, *closure)]
        values = [_match(v, p) for v, p in zip(values, traced.function.params, strict=True)]
        outs = inline(traced.function, values)
        return [Tracer(v, trace_, w) for v, w in zip(outs, traced.out_weak, strict=True)]  # type: ignore[arg-type]
    if implicit:
        closure = tuple(c.produce() if isinstance(c, Implicit) else c for c in closure)
    return run(traced.function, [*leaves, *closure])


def closure_values(traced: Traced, trace_: Any) -> list[Value]:
    """The Values, in ``trace_``, that ``traced``'s closure params stand for."""
    return [_inline_input(x, trace_) for x in traced.closure]


def _inline_input(x: Any, trace_: Any) -> Value:
    if isinstance(x, Tracer):
        return x.value_in(trace_)
    if isinstance(x, Implicit):
        return trace_.add_implicit(x)  # type: ignore[no-any-return]
    return b.to_value(x)


def _match(value: Value, param: Value) -> Value:
    return b.cast(value, param.dtype) if value.dtype is not param.dtype else value
