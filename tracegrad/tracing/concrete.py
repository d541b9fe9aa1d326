"""Which traced values were asked for a concrete value, and which Python int arguments that
makes necessary to know.

A Tracer asked for a concrete value (``__index__``, ``__bool__``, ``__int__``, ``__array__``:
``x[: i + 1]``, ``range(i)``, ``if i:``, ``table[i % n]``) raises, and first ``note``s its
Value here. When the trace then fails, ``tracing.trace`` walks back from the noted Values to
the params they depend on: the Python ``int``/``bool`` arguments among them are what the
caller (``jit``, ``grad``) may specialize on (``take_needed``), and outer Tracers among them
(a trace nested in another) are noted in turn, so the enclosing trace finds its own ints.

>>> from tracegrad.tracing.concrete import take_needed
>>> take_needed() is None  # nothing failed
True
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["ConcreteUse", "forget", "mark", "note", "noted", "set_needed", "take_needed"]


@dataclass(frozen=True)
class ConcreteUse:
    """Argument leaves (indices into the traced leaves) that were Python ints or bools used
    where only a concrete value works, and the user's line where the first one was."""

    leaves: tuple[int, ...]
    where: str


class _Record(threading.local):
    def __init__(self) -> None:
        self.noted: list[tuple[Any, str]] = []  # (Value, user's line) per concretization
        self.needed: ConcreteUse | None = None


_RECORD = _Record()


def note(value: Any, where: str) -> None:
    """``value`` (a Value) was asked for a concrete value at ``where``; called on the error
    path only."""
    _RECORD.noted.append((value, where))


def mark() -> int:
    """The position to pass to ``noted``/``forget`` for one trace."""
    return len(_RECORD.noted)


def noted(since: int) -> list[tuple[Any, str]]:
    return _RECORD.noted[since:]


def forget(since: int) -> None:
    """A trace finished: concretizations its function caught itself are of no interest."""
    del _RECORD.noted[since:]


def set_needed(use: ConcreteUse | None) -> None:
    _RECORD.needed = use


def take_needed() -> ConcreteUse | None:
    """What the trace that just failed needed (None if it was no Python int); read once."""
    use, _RECORD.needed = _RECORD.needed, None
    return use
