"""The engine behind ``tracegrad.ir.rewrite.rewrite``: one linear walk per pass, rules indexed
by root op and by the ops of the root's operands, and a ``Session`` carrying across the passes
of one ``optimize`` which rules are known not to fire on which Values.

Whether a rule fires on a Value depends on nothing but the two (Values are immutable and
interned, rules are pure), so a Value a pass left alone is shown only the rules the earlier
passes did not try on it, and a Function already normal under a pass's whole rule set is
returned as it is. Trial order is the rule-set order, so the same rule fires on the same Value
as with a plain trial of every rule: results and fire counts are unchanged.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from tracegrad.ir import forksafe
from tracegrad.ir.errors import TracegradError
from tracegrad.ir.ops import Op
from tracegrad.ir.value import Function, Value

if TYPE_CHECKING:
    from tracegrad.ir.rewrite import Pat, Rule

MAX_CHAIN = 200  # nested rewrites at one node before the engine gives up


class RewriteLoopError(TracegradError):
    """Rules rewrote a Value back into itself (ping-pong) or without end."""


class Session:
    """Facts the rewrite passes of one ``optimize`` share. Whether a rule fires on a Value
    depends on nothing but the two, so a Value a pass left alone need not be shown the same
    rules again in the next pass, and a Function already normal under a pass's rules is
    returned as it is."""

    def __init__(self) -> None:
        self.known: dict[int, tuple[Value, int]] = {}  # id -> (value, bits of rules that fail)
        self.normal: dict[tuple[int, ...], tuple[Function, int]] = {}  # outputs -> rule bits

    def normal_bits(self, function: Function) -> int:
        found = self.normal.get(tuple(map(id, function.outputs)))
        return found[1] if found is not None and found[0] == function else 0

    def mark_normal(self, function: Function, bits: int) -> None:
        self.normal[tuple(map(id, function.outputs))] = (function, bits)


SESSION: contextvars.ContextVar[Session | None] = contextvars.ContextVar(
    "tracegrad_rewrite_session", default=None
)


@contextlib.contextmanager
def session() -> Iterator[Session]:
    """Share what rules do not fire between the rewrites run inside (``optimize`` opens one)."""
    current = SESSION.get()
    if current is not None:
        yield current
        return
    token = SESSION.set(Session())
    try:
        yield SESSION.get()  # type: ignore[misc]
    finally:
        SESSION.reset(token)


_BITS: dict[int, tuple[Rule, int]] = {}  # id(rule) -> (rule kept alive, its bit)
_BITS_LOCK = forksafe.reset_in_child(threading.Lock())


def _bit(rule: Rule) -> int:
    found = _BITS.get(id(rule))
    if found is None:
        with _BITS_LOCK:
            found = _BITS.setdefault(id(rule), (rule, 1 << len(_BITS)))
    return found[1]


def _fits(pat: Pat, operand_ops: tuple[Op, ...]) -> bool:
    """Whether the operands' ops leave ``pat`` a chance to match (a necessary condition)."""
    if pat.args is None:
        return True
    if len(pat.args) != len(operand_ops):
        return False
    orders = [operand_ops, operand_ops[::-1]] if pat.commute else [operand_ops]
    return any(all(map(_admits, pat.args, ops)) for ops in orders)


def _admits(pat: Pat, op: Op) -> bool:
    return pat.op is None or (op is pat.op if isinstance(pat.op, Op) else op in pat.op)


class Rewriter:
    """One pass: the normal forms of a Function's Values under one rule set."""

    def __init__(self, rules: Iterable[Rule], facts: Session) -> None:
        self.by_op: dict[Op, list[Rule]] = defaultdict(list)
        self.generic: list[Rule] = []
        self.bits = 0
        for rule in rules:
            self.bits |= _bit(rule)
            op = rule.pattern.op
            if isinstance(op, Op):
                self.by_op[op].append(rule)
            elif op is None:
                self.generic.append(rule)
            else:
                for one in op:
                    self.by_op[one].append(rule)
        # (bits of rules known not to fire, op, operand ops) -> the rules worth trying, in order
        self.plans: dict[tuple, tuple[Rule, ...]] = {}
        self.known = facts.known
        self.memo: dict[int, Value] = {}  # id -> normal form
        self.keep: list[Value] = []  # memo keys not owned by the input Function, kept alive
        self.changed = False  # some normal form differs from its Value: users need rebuilding
        self.active: dict[int, str] = {}  # values being rewritten -> the rule that fired
        self.counts: Counter[str] = Counter()

    def run(self, function: Function) -> tuple[Value, ...]:
        """The outputs' normal forms, settling ``function.order`` front to back (operands
        first, so every node is visited once, without a stack)."""
        if self.by_op.get(Op.PARAM) or self.generic:  # walk only what the outputs use
            return tuple(self.normal(o) for o in function.outputs)
        memo = self.memo
        for v in function.order:
            if id(v) not in memo:
                memo[id(v)] = self._settle(v)
        return tuple(memo[id(o)] for o in function.outputs)

    def normal(self, root: Value) -> Value:
        """The normal form of ``root`` (iterative post-order: no recursion over the graph)."""
        memo = self.memo
        stack: list[tuple[Value, bool]] = [(root, False)]
        while stack:
            v, ready = stack.pop()
            if id(v) in memo:
                continue
            if id(v) in self.active:
                self._loop(v)
            if not ready:
                stack.append((v, True))
                stack.extend((o, False) for o in v.operands if id(o) not in memo)
                continue
            memo[id(v)] = self._settle(v)
            self.keep.append(v)
        return memo[id(root)]

    def _settle(self, v: Value) -> Value:
        current = v
        if self.changed and v.operands:
            operands = tuple([self.memo[id(o)] for o in v.operands])
            if any(a is not b for a, b in zip(operands, v.operands, strict=True)):
                current = Value.make(v.op, v.type, operands, v.attrs, v.loc)
                if id(current) in self.memo:
                    return self.memo[id(current)]
                if id(current) in self.active:
                    self._loop(current)
        entry = self.known.get(id(current))
        known = 0 if entry is None else entry[1]
        fired = self._fire(current, known)
        if fired is None:
            if known | self.bits != known:
                self.known[id(current)] = (current, known | self.bits)
            if current is not v:
                self.changed = True
                self.memo[id(current)] = current
                self.keep.append(current)
            return current
        return self._replace(current, *fired)

    def _replace(self, current: Value, name: str, replacement: Value) -> Value:
        self.changed = True
        self.counts[name] += 1
        self.active[id(current)] = name
        if len(self.active) > MAX_CHAIN:
            raise RewriteLoopError(f"rewrites do not terminate; last rules: {self._chain()[-8:]}")
        try:
            result = self.normal(replacement)
        finally:
            del self.active[id(current)]
        self.memo[id(current)] = result
        self.keep.append(current)
        return result

    def _plan(self, known: int, v: Value) -> tuple[Rule, ...]:
        """The rules that may fire on ``v`` in trial order: those for its op whose pattern
        fits its operands' ops, less those known not to fire on it."""
        operands = v.operands
        if len(operands) == 2:  # most ops: no tuple to build for the key
            key: tuple = (known, v.op, operands[0].op, operands[1].op)
        else:
            key = (known, v.op, *[o.op for o in operands])
        found = self.plans.get(key)
        if found is None:
            rules = (*self.by_op.get(v.op, ()), *self.generic)
            found = self.plans[key] = tuple(
                r for r in rules if not _bit(r) & known and _fits(r.pattern, key[2:])
            )
        return found

    def _fire(self, v: Value, known: int) -> tuple[str, Value] | None:
        for rule in self._plan(known, v):
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
