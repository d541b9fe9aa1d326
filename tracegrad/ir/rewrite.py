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
engine raises ``RewriteLoopError`` naming the rules in the chain.

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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegrad.errors import TracegradError
from tracegrad.ir.ops import Op
from tracegrad.ir.value import Function, Value

Captures = Mapping[str, Value]
Builder = Callable[[Captures, Value], Value | None]
COMMUTATIVE = frozenset(
    {Op.ADD, Op.MUL, Op.MAXIMUM, Op.MINIMUM, Op.EQ, Op.NE, Op.LOGICAL_AND, Op.LOGICAL_OR}
)
MAX_CHAIN = 200  # nested rewrites at one node before the engine gives up


class RewriteLoopError(TracegradError):
    """Rules rewrote a Value back into itself (ping-pong) or without end."""


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
    array = v.attr("data").array
    if array.size == 0:
        return None
    first = array.reshape(-1)[:1]
    if array.size > 1 and not (array.reshape(-1).view(np.uint8).reshape(array.size, -1)
                               == first.view(np.uint8)).all():  # fmt: skip
        return None
    return first[0]


def match(pat: Pat, v: Value, caps: dict[str, Value]) -> dict[str, Value] | None:
    """The captures extended by matching ``pat`` against ``v``, or None."""
    if pat.op is not None:
        if (v.op is not pat.op) if isinstance(pat.op, Op) else (v.op not in pat.op):
            return None
    if pat.pred is not None and not pat.pred(v):
        return None
    if pat.name is not None:
        caps = _bind(caps, {pat.name: v})
        if caps is None:
            return None
    if pat.view is not None:
        found = pat.view(v)
        caps = None if found is None else _bind(caps, found)
        if caps is None:
            return None
    if pat.args is None:
        return caps
    if len(pat.args) != len(v.operands):
        return None
    orders = [v.operands, v.operands[::-1]] if pat.commute else [v.operands]
    for operands in orders:
        found: dict[str, Value] | None = caps
        for sub, operand in zip(pat.args, operands, strict=True):
            found = match(sub, operand, found)
            if found is None:
                break
        if found is not None:
            return found
    return None


def _bind(caps: dict[str, Value], new: Mapping[str, Value]) -> dict[str, Value] | None:
    for key, value in new.items():
        if key in caps and caps[key] is not value:
            return None
    return {**caps, **new}


@dataclass(frozen=True)
class Rule:
    """One rewrite: ``pattern`` -> ``builder``; ``exact`` means bit-exact for all inputs."""

    name: str
    pattern: Pat
    builder: Builder
    exact: bool
    doc: str

    def apply(self, v: Value) -> Value | None:
        caps = match(self.pattern, v, {})
        return None if caps is None else self.builder(caps, v)


# Rule-fire counts of the rewrites run while an inspection (passes.explain) is recording.
RECORDER: contextvars.ContextVar[Counter[str] | None] = contextvars.ContextVar(
    "tracegrad_rewrite_recorder", default=None
)


def rewrite(function: Function, rules: Iterable[Rule]) -> tuple[Function, Counter[str]]:
    """Rewrite ``function`` with ``rules`` to a fixpoint; returns it and the fire counts."""
    rewriter = _Rewriter(rules)
    outputs = tuple(rewriter.normal(o) for o in function.outputs)
    recorder = RECORDER.get()
    if recorder is not None:
        recorder.update(rewriter.counts)
    if all(a is b for a, b in zip(outputs, function.outputs, strict=True)):
        return function, rewriter.counts
    return Function(function.name, function.params, outputs), rewriter.counts


class _Rewriter:
    def __init__(self, rules: Iterable[Rule]) -> None:
        self.by_op: dict[Op | None, list[Rule]] = defaultdict(list)
        self.generic: list[Rule] = []
        for rule in rules:
            op = rule.pattern.op
            if isinstance(op, Op):
                self.by_op[op].append(rule)
            elif op is None:
                self.generic.append(rule)
            else:
                for one in op:
                    self.by_op[one].append(rule)
        self.memo: dict[int, tuple[Value, Value]] = {}  # id -> (value kept alive, normal form)
        self.active: dict[int, str] = {}  # values being rewritten -> the rule that fired
        self.counts: Counter[str] = Counter()

    def normal(self, root: Value) -> Value:
        """The normal form of ``root`` (iterative post-order: no recursion over the graph)."""
        stack: list[tuple[Value, bool]] = [(root, False)]
        while stack:
            v, ready = stack.pop()
            if id(v) in self.memo:
                continue
            if id(v) in self.active:
                self._loop(v)
            if not ready:
                stack.append((v, True))
                stack.extend((o, False) for o in v.operands if id(o) not in self.memo)
                continue
            self.memo[id(v)] = (v, self._settle(v))
        return self.memo[id(root)][1]

    def _settle(self, v: Value) -> Value:
        operands = tuple(self.memo[id(o)][1] for o in v.operands)
        current = v
        if any(a is not b for a, b in zip(operands, v.operands, strict=True)):
            current = Value.make(v.op, v.type, operands, v.attrs, v.loc)
            if id(current) in self.memo:
                return self.memo[id(current)][1]
            if id(current) in self.active:
                self._loop(current)
        fired = self._fire(current)
        if fired is None:
            if current is not v:
                self.memo[id(current)] = (current, current)
            return current
        name, replacement = fired
        self.counts[name] += 1
        self.active[id(current)] = name
        if len(self.active) > MAX_CHAIN:
            raise RewriteLoopError(f"rewrites do not terminate; last rules: {self._chain()[-8:]}")
        try:
            result = self.normal(replacement)
        finally:
            del self.active[id(current)]
        self.memo[id(current)] = (current, result)
        return result

    def _fire(self, v: Value) -> tuple[str, Value] | None:
        for rule in (*self.by_op.get(v.op, ()), *self.generic):
            try:
                new = rule.apply(v)
            except TracegradError:
                continue  # a builder whose IR does not type-check declines
            if new is not None and new is not v and new.type == v.type:
                return rule.name, new
        return None

    def _chain(self) -> list[str]:
        return list(self.active.values())

    def _loop(self, v: Value) -> None:
        chain = self._chain()
        start = list(self.active).index(id(v))
        raise RewriteLoopError(
            f"rules ping-pong on a {v.op.value} value: {' -> '.join(chain[start:])} -> "
            f"(back to where {chain[start]!r} fired)"
        )
