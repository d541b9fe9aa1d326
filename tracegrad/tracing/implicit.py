"""Implicit inputs: values a traced function reads that are not its arguments, produced anew
on every call instead of frozen into the IR at trace time (issue #14 items 1 and 2).

Two kinds exist: a random draw (``tracegrad.numpy.random`` records one per numpy sampling call
made while tracing; producing it draws from the same generator, in the same order, as eager
numpy) and a captured array (a float ndarray the function reads from a module global or a
closure cell, read again at call time so rebinding and in-place updates are seen).

An implicit input is a parameter of the traced Function, listed in ``Traced.closure`` next to
the outer Tracers a nested trace lifts. ``tracegrad.tracing.trace.call`` produces it when the
Function runs on arrays, or registers it again in the enclosing trace when the Function is
inlined there (so a draw under ``grad`` inside ``jit`` happens once per call of the jitted
function, in program order).

Hooks (``TRACE_HOOKS``) let the layers above take part in tracing without being imported
here: ``tracegrad.numpy.random`` installs its interception of numpy's samplers this way.

>>> import numpy as np
>>> from tracegrad.tracing import trace
>>> W = np.ones(2)
>>> def f(x):
...     return x * W
>>> traced = trace(f, (np.zeros(2),), user_fn=f)
>>> [type(c).__name__ for c in traced.closure]
['Captured']
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegrad.ir.dtypes import DType
from tracegrad.ir.substitute import inline
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, Value, const, param


class Implicit:
    """An input produced at call time. ``key`` is None for inputs that are never shared
    (random draws: two draws are two inputs) or a hashable identity (captured arrays: one
    input per global or cell and trace)."""

    type: TensorType
    key: Any = None
    fresh = False  # a new value on every produce (a random draw), not a re-read

    def produce(self) -> np.ndarray:
        raise NotImplementedError

    def stale(self) -> bool:
        """Whether the traced Function no longer fits (a captured name now holds an array
        of another dtype or shape): the caller traces again."""
        return False


@dataclass(frozen=True, eq=False)
class Captured(Implicit):
    """A float ndarray read from ``holder[name]`` (a module's globals) or a closure cell."""

    holder: Any  # a dict (globals) or a cell
    name: str | None  # the global's name; None for a cell
    type: TensorType  # type: ignore[misc]

    @property
    def key(self) -> Any:  # type: ignore[override]
        return (id(self.holder), self.name)

    def current(self) -> Any:
        if self.name is None:
            return self.holder.cell_contents
        return self.holder.get(self.name)

    def produce(self) -> np.ndarray:
        return self.current()  # type: ignore[no-any-return]

    def stale(self) -> bool:
        value = self.current()
        return not (
            type(value) is np.ndarray
            and value.shape == self.type.shape
            and value.dtype == self.type.dtype.numpy
        )


def _code_names(code: Any, out: set[str]) -> set[str]:
    out.update(code.co_names)
    for item in code.co_consts:
        if hasattr(item, "co_names"):  # nested functions and comprehensions
            _code_names(item, out)
    return out


def user_function(fn: Any) -> Any:
    """The Python function behind ``fn`` (methods, partials and wrappers unwrapped)."""
    for _ in range(8):
        if hasattr(fn, "__func__"):
            fn = fn.__func__
        elif hasattr(fn, "func") and not hasattr(fn, "__code__"):  # functools.partial
            fn = fn.func
        elif hasattr(fn, "__wrapped__"):
            fn = fn.__wrapped__
        elif hasattr(fn, "_f") and not hasattr(fn, "__code__"):  # grad(f) and friends
            fn = fn._f
        else:
            break
    return fn if hasattr(fn, "__code__") else None


def read_named(holder: Any, name: str | None) -> Any:
    """What a ``named_values`` place holds now (a cell's contents, or a global)."""
    return holder.cell_contents if name is None else holder.get(name)


def write_named(holder: Any, name: str | None, value: Any) -> None:
    """Rebind a ``named_values`` place (swapping in a stand-in while tracing, and back)."""
    if name is None:
        holder.cell_contents = value
    else:
        holder[name] = value


def named_values(fn: Any, depth: int = 3) -> list[tuple[Any, str | None, Any]]:
    """(holder, name, value) for what ``fn`` reads by name: its closure cells (name None)
    and the module globals its code names, and, ``depth`` calls deep, the same for the user
    functions it calls by name (helpers that read a global)."""
    found: list[tuple[Any, str | None, Any]] = []
    seen: set[int] = set()
    todo = [(user_function(fn), depth)]
    while todo:
        f, left = todo.pop()
        if f is None or id(f.__code__) in seen:
            continue
        seen.add(id(f.__code__))
        start = len(found)
        for cell in f.__closure__ or ():
            with contextlib.suppress(ValueError):  # an empty cell
                found.append((cell, None, cell.cell_contents))
        globals_ = f.__globals__
        found += [
            (globals_, n, globals_[n]) for n in _code_names(f.__code__, set()) if n in globals_
        ]
        if left > 0:
            todo += [(_helper(v), left - 1) for _, _, v in found[start:] if callable(v)]
    return found


def _helper(value: Any) -> Any:
    """A user's Python function worth following (not numpy's or tracegrad's own)."""
    fn = user_function(value)
    module = getattr(fn, "__module__", None) or ""
    return None if module.split(".")[0] in ("numpy", "tracegrad") else fn


def captured_arrays(fn: Any) -> dict[int, Captured]:
    """The float ndarrays ``fn`` reads by name from globals or closure cells, by ``id``."""
    found: dict[int, Captured] = {}
    for holder, name, value in named_values(fn):
        if type(value) is np.ndarray and value.dtype.kind == "f":
            type_ = TensorType(DType.from_numpy(value.dtype), value.shape)
            found.setdefault(id(value), Captured(holder, name, type_))
    return found


class _Captures(threading.local):
    def __init__(self) -> None:
        self.stack: list[tuple[dict[int, Captured], list[Any]]] = []


_CAPTURES = _Captures()


@contextlib.contextmanager
def capturing(fn: Any) -> Iterator[None]:
    """While tracing ``fn``: the arrays it captures, for ``captured_for``."""
    table = captured_arrays(fn) if fn is not None else {}
    _CAPTURES.stack.append((table, _values_of(table)))
    try:
        yield
    finally:
        _CAPTURES.stack.pop()


def _values_of(table: dict[int, Captured]) -> list[Any]:
    return [c.current() for c in table.values()]  # keep them alive: ids stay unique


def captured_for(array: np.ndarray) -> Captured | None:
    """The captured-array input ``array`` stands for in the innermost trace, if any."""
    for table, _ in reversed(_CAPTURES.stack):
        found = table.get(id(array))
        if found is not None:
            return found
    return None


# hooks entered around every trace: fn -> a context manager (see tracegrad.numpy.random)
TRACE_HOOKS: list[Callable[[Any], AbstractContextManager[Any]]] = []
# static arguments of jit pass through these while tracing (a Generator becomes a recorder)
STATIC_WRAPPERS: list[Callable[[Any], Any]] = []


def wrap_static(value: Any) -> Any:
    for wrapper in STATIC_WRAPPERS:
        value = wrapper(value)
    return value


@contextlib.contextmanager
def hooks(fn: Any) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        stack.enter_context(capturing(fn))
        for hook in TRACE_HOOKS:
            stack.enter_context(hook(fn))
        yield


def fold_captured(function: Function, closure: tuple) -> Function:
    """``function`` with its captured-array params replaced by constants of their current
    values, for inspection (``tracegrad.make_ir``): the Function reads as it did when captured
    arrays were constants. Other params keep their order (renumbered)."""
    if not any(isinstance(c, Captured) for c in closure):
        return function
    first = len(function.params) - len(closure)
    kept: list[Value] = []
    args: list[Value] = []
    for i, p in enumerate(function.params):
        captured = closure[i - first] if i >= first else None
        if isinstance(captured, Captured):
            args.append(const(captured.produce()))
            continue
        if p.attr("index") != len(kept):
            p = param(len(kept), p.type, p.attr("name"), p.attr("trace"))
        kept.append(p)
        args.append(p)
    return Function(function.name, tuple(kept), tuple(inline(function, args)))
