"""The stack of active traces. Each trace records its parameters and the values it lifted
from enclosing traces (closures), so nested transformations see outer values as inputs,
never as frozen constants.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tracegrad.ir.errors import TracegradError
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Value, new_trace_id, param


@dataclass
class Trace:
    """One active trace: its id, level in the stack, params and lifted closure values."""

    id: int
    level: int
    params: list[Value] = field(default_factory=list)
    lifted_outer: list[object] = field(default_factory=list)  # outer Tracers, in param order
    _lifted: dict[int, Value] = field(default_factory=dict)
    active: bool = True

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
