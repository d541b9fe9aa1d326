"""The stack of active traces. Each trace records its parameters and the values it lifted
from enclosing traces (closures), so nested transformations see outer values as inputs,
never as frozen constants.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tracegrad.ir.errors import TracegradError
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Value, new_trace_id, param


@dataclass
class Trace:
    """One active trace: its id, level in the stack, params and lifted closure values."""

    id: int
    level: int
    params: list[Value] = field(default_factory=list)
    # what the params after the arguments stand for, in order: outer Tracers (closures) and
    # implicit inputs (random draws, captured arrays; see tracing.implicit)
    lifted_outer: list[object] = field(default_factory=list)
    _lifted: dict[object, Value] = field(default_factory=dict)
    active: bool = True
    lifts_symbolic: bool = False  # a loop body over tracegrad.tensor variables (closures)

    def new_param(self, type: TensorType, name: str = "") -> Value:
        value = param(len(self.params), type, name, self.id)
        self.params.append(value)
        return value

    def lift(self, outer_tracer: object, outer_value: Value) -> Value:
        """The param of this trace standing for a value of an enclosing trace."""
        key = id(outer_value)
        found = self._lifted.get(key)
        if found is None:
            found = self.new_param(outer_value.type, f"closure{len(self.lifted_outer)}")
            self._lifted[key] = found
            self.lifted_outer.append(outer_tracer)
        return found

    def add_implicit(self, implicit: Any) -> Value:
        """The param of this trace standing for an implicit input (one per ``key`` unless
        the key is None: every random draw is an input of its own)."""
        key = implicit.key
        found = self._lifted.get(("implicit", key)) if key is not None else None
        if found is None:
            found = self.new_param(implicit.type, f"implicit{len(self.lifted_outer)}")
            if key is not None:
                self._lifted[("implicit", key)] = found
            self.lifted_outer.append(implicit)
        return found


class _Stack(threading.local):
    def __init__(self) -> None:
        self.traces: list[Trace] = []


_stack = _Stack()


def push_trace() -> Trace:
    trace = Trace(new_trace_id(), len(_stack.traces))
    _stack.traces.append(trace)
    return trace


def pop_trace(trace: Trace) -> None:
    popped = _stack.traces.pop()
    if popped is not trace:
        raise TracegradError("internal error: traces popped out of order")
    trace.active = False


def current_trace() -> Trace | None:
    return _stack.traces[-1] if _stack.traces else None


def is_active(trace: Trace) -> bool:
    return trace.active and trace.level < len(_stack.traces) and _stack.traces[trace.level] is trace
