"""The glue between the numpy-like namespace and the IR builders.

``traced(builder)`` turns a builder over IR operands into a namespace function: Tracers are
unwrapped to Values in the current trace (lifting closed-over outer values), weak Python-scalar
Tracers are promoted by NEP 50, the result is wrapped back into a Tracer. Called with no Tracer
at all, the function runs eagerly: the builder makes a constant graph that the reference
interpreter evaluates, so eager and traced semantics are the same code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType, promote, promote_weak
from tracegrad.ir.errors import TracegradError
from tracegrad.ir.ops import Op
from tracegrad.ir.value import Function, Value
from tracegrad.tracing.context import current_trace, pop_trace, push_trace
from tracegrad.tracing.implicit import captured_for
from tracegrad.tracing.location import user_line_text, user_location
from tracegrad.tracing.tracer import Tracer

_WEAK_STAND_IN = {DType.BOOL: False, DType.INT64: 0, DType.FLOAT64: 0.0}


def _leaves(args: Any) -> list[Any]:
    out: list[Any] = []
    stack = [args]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        else:
            out.append(item)
    return out


def has_tracer(args: Any) -> bool:
    return any(isinstance(x, Tracer) for x in _leaves(args))


def unwrap(x: Any) -> Any:
    """Tracers (nested in lists/tuples too) -> Values of the current trace."""
    if isinstance(x, Tracer):
        return x.value_in(current_trace())
    if type(x) is np.ndarray:
        captured = captured_for(x)  # a global or closure array: read at call time
        return x if captured is None else current_trace().add_implicit(captured)  # type: ignore[union-attr]
    if isinstance(x, list):
        return [unwrap(i) for i in x]
    if isinstance(x, tuple):
        return tuple(unwrap(i) for i in x)
    return x


_COMPARISONS = frozenset({"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"})


def _resolve_weak(args: tuple[Any, ...], compare: bool = False) -> tuple[tuple[Any, ...], bool]:
    """NEP 50 for weak Tracers (Python scalars passed to jit): they take the strong operand's
    dtype (numpy compares a Python int with an integer array exactly, so a comparison keeps
    it int64; against uint64 it is checked). Returns the new args and whether the result is
    weak."""
    array_like = [a for a in args if isinstance(a, (Tracer, np.ndarray, np.generic, list))]
    weak_tracers = [a for a in array_like if isinstance(a, Tracer) and a.weak]
    strong = [a for a in array_like if not (isinstance(a, Tracer) and a.weak)]
    if not weak_tracers:
        return args, False
    if not strong:
        return args, True
    strong_dtype = b.result_dtype(*(unwrap(s) for s in strong))
    resolved = []
    for a in args:
        if isinstance(a, Tracer) and a.weak:
            dtype = promote_weak(strong_dtype, _WEAK_STAND_IN[a.value.dtype])
            if compare and dtype.is_int and dtype is not DType.UINT64:
                dtype = promote(dtype, a.value.dtype)  # int64 for a weak int: exact
            a = Tracer(_narrow(a.value_in(current_trace()), dtype), current_trace())  # type: ignore[arg-type]
        resolved.append(a)
    return tuple(resolved), False


def _narrow(value: Value, dtype: DType) -> Value:
    """A weak value at the strong operand's dtype; a weak int (a Python int argument, int64
    here) meeting a narrower integer dtype is checked when the function runs, since numpy
    raises OverflowError for ``int8_array + 300``."""
    if value.dtype is DType.INT64 and dtype.is_int and dtype is not DType.INT64:
        return b.apply(Op.CHECKED_CAST, [value], dtype=dtype)
    return b.cast(value, dtype)


class _Symbolic:
    """The class of symbolic expressions (a Tracer outside any trace). The Theano front end,
    above this layer, installs its own (``install_symbolic_class``): expressions built with
    numpy functions then have Theano's methods (``dimshuffle``, ``eval``)."""

    cls: type[Tracer] = Tracer


def install_symbolic_class(cls: type[Tracer]) -> None:
    _Symbolic.cls = cls


def wrap(out: Any, weak: bool = False) -> Any:
    trace = current_trace()
    if isinstance(out, Value):
        if trace is None:
            return _Symbolic.cls(out, trace, weak)  # type: ignore[arg-type]
        return Tracer(out, trace, weak)
    if isinstance(out, tuple):
        return tuple(wrap(o, weak) for o in out)
    if isinstance(out, list):
        return [wrap(o, weak) for o in out]
    return out


def eager(builder: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run a builder on concrete inputs: build a constant graph and interpret it."""
    from tracegrad.ir.interpreter import evaluate

    trace = push_trace()
    try:
        out = builder(*args, **kwargs)
    finally:
        pop_trace(trace)
    if not isinstance(out, (Value, tuple, list)):
        return out
    values = [out] if isinstance(out, Value) else list(out)
    results = evaluate(Function("eager", (), tuple(values)), [])
    results = [r[()] if r.ndim == 0 else r for r in results]
    return results[0] if isinstance(out, Value) else type(out)(results)


def traced(builder: Callable[..., Any] | None = None, *, elementwise: bool = False) -> Any:
    """Decorator: make a namespace function from a builder over IR operands."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not has_tracer(args) and not has_tracer(kwargs):
                return eager(fn, args, kwargs)
            weak = False
            if elementwise:
                args, weak = _resolve_weak(args, fn.__name__ in _COMPARISONS)
            try:
                out = fn(*unwrap(args), **{k: unwrap(v) for k, v in kwargs.items()})
            except (TracegradError, IndexError) as error:
                _add_user_line(error)
                raise
            return wrap(out, weak)

        wrapper.builder = fn  # type: ignore[attr-defined]
        return wrapper

    return decorate(builder) if builder is not None else decorate


def _add_user_line(error: Exception) -> None:
    """Name the user's source line in a shape, dtype or index error raised while tracing."""
    if error.args and isinstance(error.args[0], str) and "\n  at " not in error.args[0]:
        where = user_line_text(user_location())
        error.args = (f"{error.args[0]}\n  at {where}", *error.args[1:])


def dtype_arg(dtype: Any) -> DType | None:
    """numpy dtype-like (np.float32, 'float32', float, ...) -> DType."""
    if dtype is None:
        return None
    if dtype is float:
        return DType.FLOAT64
    if dtype is int:
        return DType.INT64
    if dtype is bool:
        return DType.BOOL
    return DType.from_numpy(np.dtype(dtype))


def items_of(arrays: Any) -> list[Value]:
    """The arrays a joining function joins: a sequence's items, or (numpy iterates an array)
    an array's slices along its first axis."""
    if isinstance(arrays, Value):
        if arrays.ndim == 0 or not isinstance(arrays.shape[0], int):
            raise TypeError("arrays to join must be a sequence or an array with a known length")
        return [_getitem(arrays, i) for i in range(arrays.shape[0])]
    return [b.to_value(a) for a in arrays]


def _getitem(x: Value, index: int) -> Value:
    from tracegrad.ir import indexing

    return indexing.getitem(x, index)
