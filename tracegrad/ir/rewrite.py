"""The pattern-rewrite engine: rules are data (a pattern and a builder), applied bottom-up over
a Function's topological order until nothing matches.

A pattern (``Pat``) names an op (or a set of ops, or any op), sub-patterns for the operands, an
optional capture name and an optional predicate on the matched Value. A name captured twice
must bind the very same Value (Values are interned, so that is structural equality).
Commutative binary ops match their operands in either order. ``C`` matches a *uniform
constant*: a CONST whose elements are all bitwise equal, seen through BROADCAST and RESHAPE,
so ``x * 1`` matches whether the 1 is a scalar or a broadcast one.

A ``Rule`` holds a name, a pattern, a builder ``(captures, root) -> Value | None`` (None
declines), an ``exact`` flag (bit-exact for every input, NaN payloads aside, including inf
and -0.0) and a one-line algebra comment. The engine never mutates: it rebuilds Values with
``Value.make`` and memoizes each Value's normal form, so every node is visited once and a
replacement is itself normalized before its users see it. A replacement must keep the root's
type, otherwise the rule is skipped. When rules ping-pong (a replacement leads back to a
Value that is still being rewritten) or a chain of rewrites grows past ``MAX_CHAIN``, the
engine raises ``RewriteLoopError`` naming the rules in the chain. The engine itself (one
linear walk per pass, rules indexed by op, facts shared across passes) is in
``tracegrad.ir.rewrite_engine``; patterns are compiled to closures once per Rule.

>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.value import Function, param
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> from tracegrad.ir.ops import Op
>>> one_times = Rule("mul_one", P(Op.MUL, C(eq=1), X("x")), lambda c, r: c["x"], True, "1*x = x")
>>> x = param(0, TensorType(DType.FLOAT64, (3,)), "x")
>>> f, counts = rewrite(Function("f", (x,), (b.mul(x, 1.0),)), [one_times])
>>> f.outputs[0] is x, dict(counts)
(True, {'mul_one': 1})
"""

from __future__ import annotations

import contextvars
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegrad.ir.ops import Op
from tracegrad.ir.rewrite_engine import (
    MAX_CHAIN,
    SESSION,
    RewriteLoopError,
    Rewriter,
    Session,
    session,
)
from tracegrad.ir.value import Function, Value

__all__ = [
    "MAX_CHAIN", "RECORDER", "SESSION", "C", "P", "Pat", "RewriteLoopError", "Rule", "Session",
    "View", "X", "compile_pattern", "match", "rewrite", "session", "splat", "strip_movement",
]  # fmt: skip

Captures = Mapping[str, Value]
Builder = Callable[[Captures, Value], Value | None]
COMMUTATIVE = frozenset(
    {Op.ADD, Op.MUL, Op.MAXIMUM, Op.MINIMUM, Op.EQ, Op.NE, Op.LOGICAL_AND, Op.LOGICAL_OR}
)


@dataclass(frozen=True)
class Pat:
    """A pattern; build one with ``P``, ``X`` or ``C`` (see the module docstring)."""

    op: Op | frozenset[Op] | None = None
    args: tuple[Pat, ...] | None = None
    name: str | None = None
    pred: Callable[[Value], bool] | None = None
    view: Callable[[Value], dict[str, Value] | None] | None = None
    commute: bool = False


def P(  # noqa: N802  (a pattern DSL: short capitals, as tinygrad UPat)
    op: Op | Iterable[Op],
    *args: Pat,
    name: str | None = None,
    where: Any = None,
    ordered: bool = False,
) -> Pat:
    """An op pattern; operands match in either order for commutative binary ops unless
    ``ordered`` (canonical-order rules must see the order)."""
    ops = op if isinstance(op, Op) else frozenset(op)
    commute = not ordered and isinstance(ops, Op) and ops in COMMUTATIVE and len(args) == 2
    return Pat(ops, tuple(args) if args else None, name, where, None, commute)


def X(name: str | None = None, where: Callable[[Value], bool] | None = None) -> Pat:  # noqa: N802
    """Any Value (optionally captured and filtered)."""
    return Pat(None, None, name, where)


def C(  # noqa: N802
    name: str | None = None, eq: float | None = None, where: Callable[[Any], bool] | None = None
) -> Pat:
    """A uniform constant; ``eq`` compares its element with ``==`` (so 0 matches -0.0),
    ``where`` is a predicate on the element (a numpy scalar)."""

    def pred(v: Value) -> bool:
        s = splat(v)
        if s is None:
            return False
        if eq is not None and not bool(s == eq):
            return False
        return where is None or bool(where(s))

    return Pat(None, None, name, pred)


def View(fn: Callable[[Value], dict[str, Value] | None], name: str | None = None) -> Pat:  # noqa: N802
    """A custom matcher: ``fn(v)`` returns the captures it finds, or None."""
    return Pat(None, None, name, None, fn)


def strip_movement(v: Value) -> Value:
    """``v`` without the BROADCASTs and RESHAPEs wrapped around it."""
    while v.op in (Op.BROADCAST, Op.RESHAPE):
        v = v.operands[0]
    return v


def splat(v: Value) -> np.generic | None:
    """The single element of a uniform constant (all elements bitwise equal), else None."""
    v = strip_movement(v)
    if v.op is not Op.CONST:
        return None
    found = _SPLATS.get(id(v))
    if found is None:  # rules ask about the same few constants on every node: memoize
        if len(_SPLATS) >= 4096:
            _SPLATS.clear()
        found = _SPLATS[id(v)] = (v, _uniform_element(v.attr("data").array))
    return found[1]


# id(CONST Value) -> (the Value, kept alive so the id stays its own, its splat)
_SPLATS: dict[int, tuple[Value, np.generic | None]] = {}


def _uniform_element(array: np.ndarray) -> np.generic | None:
    if array.size == 0:
        return None
    first = array.reshape(-1)[:1]
    if array.size > 1 and not (array.reshape(-1).view(np.uint8).reshape(array.size, -1)
                               == first.view(np.uint8)).all():  # fmt: skip
        return None
    return first[0]


def match(pat: Pat, v: Value, caps: dict[str, Value]) -> dict[str, Value] | None:
    """The captures extended by matching ``pat`` against ``v``, or None."""
    found = _MATCHERS.get(id(pat))
    if found is None:
        if len(_MATCHERS) >= 4096:
            _MATCHERS.clear()
        found = _MATCHERS[id(pat)] = (pat, compile_pattern(pat))
    return found[1](v, caps)


_MATCHERS: dict[int, tuple[Pat, Matcher]] = {}  # id -> (pattern kept alive, its matcher)


def _bind(caps: dict[str, Value], new: Mapping[str, Value]) -> dict[str, Value] | None:
    for key, value in new.items():
        if key in caps and caps[key] is not value:
            return None
    return {**caps, **new}


Matcher = Callable[[Value, dict[str, Value]], dict[str, Value] | None]
_NO_CAPS: dict[str, Value] = {}  # shared start: matchers never mutate captures, they copy


def compile_pattern(pat: Pat) -> Matcher:
    """``match`` specialised to one pattern: the same answers without interpreting the
    pattern at every node (the engine tries rules on every node of big graphs)."""
    op, pred, name, view = pat.op, pat.pred, pat.name, pat.view
    one = op if isinstance(op, Op) else None
    many = op if isinstance(op, frozenset) else None
    subs = None if pat.args is None else tuple(compile_pattern(a) for a in pat.args)
    n, commute = (0 if subs is None else len(subs)), pat.commute

    def matcher(v: Value, caps: dict[str, Value]) -> dict[str, Value] | None:
        if one is not None and v.op is not one or many is not None and v.op not in many:
            return None
        if pred is not None and not pred(v):
            return None
        if name is not None:
            bound = caps.get(name)
            if bound is None:
                caps = {**caps, name: v}
            elif bound is not v:
                return None
        if view is not None:
            found = view(v)
            caps = None if found is None else _bind(caps, found)  # type: ignore[assignment]
            if caps is None:
                return None
        if subs is None:
            return caps
        operands = v.operands
        if len(operands) != n:
            return None
        found = _operands(subs, operands, caps)
        if found is None and commute:
            found = _operands(subs, operands[::-1], caps)
        return found

    return matcher


def _operands(
    subs: tuple[Matcher, ...], operands: tuple[Value, ...], caps: dict[str, Value] | None
) -> dict[str, Value] | None:
    for sub, operand in zip(subs, operands, strict=True):
        caps = sub(operand, caps)  # type: ignore[arg-type]
        if caps is None:
            return None
    return caps


@dataclass(frozen=True)
class Rule:
    """One rewrite: ``pattern`` -> ``builder``; ``exact`` means bit-exact for all inputs."""

    name: str
    pattern: Pat
    builder: Builder
    exact: bool
    doc: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "_match", compile_pattern(self.pattern))

    def apply(self, v: Value) -> Value | None:
        caps = self._match(v, _NO_CAPS)  # type: ignore[attr-defined]
        return None if caps is None else self.builder(dict(caps), v)


# Rule-fire counts of the rewrites run while an inspection (passes.explain) is recording.
RECORDER: contextvars.ContextVar[Counter[str] | None] = contextvars.ContextVar(
    "tracegrad_rewrite_recorder", default=None
)


def rewrite(function: Function, rules: Iterable[Rule]) -> tuple[Function, Counter[str]]:
    """Rewrite ``function`` with ``rules`` to a fixpoint; returns it and the fire counts."""
    facts = SESSION.get() or Session()
    rewriter = Rewriter(rules, facts)
    before = facts.normal_bits(function)
    if rewriter.bits & ~before == 0:
        return function, rewriter.counts  # every node is known normal under these rules
    outputs = rewriter.run(function)
    recorder = RECORDER.get()
    if recorder is not None:
        recorder.update(rewriter.counts)
    if all(a is b for a, b in zip(outputs, function.outputs, strict=True)):
        facts.mark_normal(function, before | rewriter.bits)
        return function, rewriter.counts
    result = Function(function.name, function.params, outputs)
    facts.mark_normal(result, rewriter.bits)
    return result, rewriter.counts
