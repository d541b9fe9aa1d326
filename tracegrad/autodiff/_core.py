"""Machinery shared by the derivative API: tracing the forward function, caching derivative
Functions per abstract signature, assembling new Functions and running them.

A transform builds a derivative ``Traced`` once per (function, transform, signature) and runs
it with ``tracegrad.tracing.trace.call``: inlined into the current trace when a Tracer is among
the inputs (so grad, jit and the other transforms compose in any order), else optimized,
compiled by the default backend (cached per Function) and executed on the arrays.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegrad import tree
from tracegrad.autodiff.reverse import no_locations, strip_stop_gradients
from tracegrad.backend import get_backend
from tracegrad.ir import forksafe
from tracegrad.ir.passes import optimize
from tracegrad.ir.substitute import inline
from tracegrad.ir.types import TensorType, format_shape
from tracegrad.ir.value import Function, Value, new_trace_id, param
from tracegrad.signature import as_array, leaf_key
from tracegrad.specialize import AutoStatic, RecompileLog
from tracegrad.tracing.concrete import ConcreteUse, take_needed
from tracegrad.tracing.trace import Traced, abstract_type, call, is_leaf, trace
from tracegrad.tracing.tracer import numpy_entry


@dataclass(frozen=True)
class Derivative:
    """A derivative Function ready for ``call`` plus how to shape its flat results."""

    traced: Traced
    finish: Callable[[list[Any]], Any]


# f -> {key: Derivative}; weak so that dropping f drops its derivatives
_CACHE: weakref.WeakKeyDictionary[Any, dict[Any, Derivative]] = weakref.WeakKeyDictionary()
_EXECUTABLES: weakref.WeakKeyDictionary[Function, Any] = weakref.WeakKeyDictionary()
_LOCK = forksafe.reset_in_child(threading.Lock())
_AUTO = ("auto-static",)  # per-function entry: its AutoStatic (no derivative key is this)


def recompile_log(f: Any) -> RecompileLog:
    """Why each derivative of ``f`` was traced for a Python int's value (specialize)."""
    per_f = _per_function(f)
    auto = per_f.get(_AUTO) if per_f is not None else None
    return auto.log if auto is not None else RecompileLog()


def optimize_forward(function: Function) -> Function:
    """Run the optimizer (tracegrad.ir.passes) on the forward graph before differentiating:
    smaller and stabilized forward graphs give better gradients."""
    return optimize(function, opt_level=1)  # level 2 adds fusion: pointless before AD


def trace_forward(f: Callable[..., Any], args: tuple, kwargs: dict, statics: tuple = ()) -> Traced:
    """Trace ``f(*args, **kwargs)``; the leaves of ``args`` come first among the params.
    ``statics`` are ``(position or name, value)`` pairs put in place of the ``None``s that
    stand for them in ``args``/``kwargs``: their values are baked in."""
    name = getattr(f, "__name__", "f")
    fun = numpy_entry(f)  # grad(np.sum)([1.0, 2.0]): numpy cannot dispatch a list

    def run(a: tuple, k: dict) -> Any:
        if statics:
            a, k = list(a), dict(k)
            for where, value in statics:
                if isinstance(where, str):
                    k[where] = value
                else:
                    a[where] = value
        return fun(*a, **k)

    traced = trace(run, (tuple(args), kwargs), name=name, user_fn=f)
    return Traced(
        optimize_forward(traced.function),
        traced.in_tree,
        traced.out_tree,
        traced.out_weak,
        traced.closure,
    )


def cached_call(
    f: Callable[..., Any],
    kind: Any,
    args: tuple,
    kwargs: dict,
    build: Callable[[Traced, list], Derivative],
    extra: Sequence[Any] = (),
    fixed: Collection[int] | None = (),
) -> Any:
    """Build (or fetch) the derivative of ``f`` for these arguments and run it on the argument
    leaves followed by ``extra`` inputs (cotangents, tangents). A Python int argument the
    trace needs the value of is specialized on (tracegrad.specialize), unless its position is
    in ``fixed`` (the differentiated ones); ``fixed=None``: none is."""
    per_f = _per_function(f)
    auto = per_f.get(_AUTO) if per_f is not None else None
    while True:
        derivative, leaves = _derivative(f, kind, args, kwargs, build, per_f, auto)
        if derivative is not None:
            outs = call(derivative.traced, list(leaves) + list(extra), execute)
            return derivative.finish(outs)
        # the trace failed: again if it was for a Python int argument's value (else raise)
        auto = _learn(f, per_f, auto, *leaves, len(args), fixed)


def _derivative(
    f: Callable[..., Any],
    kind: Any,
    args: tuple,
    kwargs: dict,
    build: Callable[[Traced, list], Derivative],
    per_f: dict | None,
    auto: AutoStatic | None,
) -> tuple[Derivative | None, Any]:
    """The cached or newly built derivative and the argument leaves it runs on; on a failed
    trace, ``(None, (in_tree, error, what it needed))`` (see ``_learn``)."""
    statics: tuple = ()
    if auto is not None and auto.names:
        args, kwargs, statics = _take_statics(auto, args, kwargs)
    leaves, in_tree = tree.flatten((tuple(args), kwargs), is_leaf=is_leaf)
    key = (kind, in_tree, tuple(leaf_key(x) for x in leaves), statics)
    derivative = per_f.get(key) if per_f is not None else None
    if derivative is not None and derivative.traced.closure and derivative.traced.stale:
        derivative = None  # a captured name holds another dtype or shape now: trace again
    if derivative is not None:
        if statics:
            auto.touch(key)  # type: ignore[union-attr]
        return derivative, leaves
    with _building(per_f, key):  # threads arriving at once: one traces, the rest wait
        found = per_f.get(key) if per_f is not None else None
        if found is not None and not (found.traced.closure and found.traced.stale):
            return found, leaves
        try:
            traced = trace_forward(f, args, kwargs, statics)
        except Exception as error:
            return None, (in_tree, error, take_needed())
        derivative = build(traced, leaves)
        if per_f is not None and not traced.per_trace:  # closures are per-trace
            per_f[key] = derivative
            if statics:
                for old in auto.admit(key, statics):  # type: ignore[union-attr]
                    per_f.pop(old, None)
    return derivative, leaves


def _learn(
    f: Any,
    per_f: dict | None,
    auto: AutoStatic | None,
    in_tree: Any,
    error: Exception,
    use: ConcreteUse | None,
    n_args: int,
    fixed: Collection[int] | None,
) -> AutoStatic:
    """After a failed trace: learn the Python int arguments it needed the values of
    (tracegrad.specialize), or raise its error."""
    if fixed is None or use is None:
        raise error
    if auto is None:
        auto = AutoStatic(f)
        if per_f is not None:
            with _LOCK:
                auto = per_f.setdefault(_AUTO, auto)
    if not auto.learn(use, in_tree, range(n_args), exclude=fixed):
        raise error
    return auto


def _take_statics(auto: AutoStatic, args: tuple, kwargs: dict) -> tuple[tuple, dict, tuple]:
    """The auto-static arguments replaced by None (no leaf), and ``(position or name, value)``
    pairs of them, which key the derivative and are baked into its trace."""
    statics = [(i, a) for i, a in enumerate(args) if auto.applies(i, a)]
    statics += [(k, v) for k, v in kwargs.items() if auto.applies(k, v)]
    if not statics:
        return args, kwargs, ()
    taken = {where for where, _ in statics}
    args = tuple(None if i in taken else a for i, a in enumerate(args))
    kwargs = {k: None if k in taken else v for k, v in kwargs.items()}
    return args, kwargs, tuple(statics)


_BUILDING: dict[tuple[int, Any], threading.RLock] = {}  # (id(per_f), key) -> its build lock


@contextlib.contextmanager
def _building(per_f: dict | None, key: Any) -> Iterator[None]:
    """Hold the build lock of ``key`` in ``per_f`` (re-entrant: a derivative whose function
    differentiates itself recurses as it would without the lock)."""
    if per_f is None:
        yield
        return
    slot = (id(per_f), key)
    with _LOCK:
        lock = _BUILDING.setdefault(slot, forksafe.reset_in_child(threading.RLock()))
    try:
        with lock:
            yield
    finally:
        with _LOCK:
            if _BUILDING.get(slot) is lock:
                del _BUILDING[slot]


def _per_function(f: Any) -> dict[Any, Derivative] | None:
    try:
        with _LOCK:
            return _CACHE.setdefault(f, {})
    except TypeError:  # not weak-referenceable: no caching
        return None


def execute(function: Function, inputs: list[Any]) -> list[np.ndarray]:
    """Run ``function`` on concrete inputs with the default backend (compiled once)."""
    executable = _EXECUTABLES.get(function)
    if executable is None:
        runnable = optimize(strip_stop_gradients(function), opt_level=2)
        executable = get_backend().compile(runnable)
        _EXECUTABLES[function] = executable
    arrays = [as_array(x, p.dtype.numpy) for x, p in zip(inputs, function.params, strict=True)]
    return executable(arrays)


def fresh_params(types: Sequence[TensorType], prefix: str) -> list[Value]:
    tid = new_trace_id()
    return [param(i, t, f"{prefix}{i}", tid) for i, t in enumerate(types)]


def make_function(
    name: str, params: Sequence[Value], outputs: Sequence[Value], zeroed: Sequence[Value] = ()
) -> Function:
    """A Function over ``params`` (renumbered 0..n-1 as the verifier wants) computing
    ``outputs``, with the params in ``zeroed`` replaced by zero constants."""
    if not zeroed and all(p.attr("index") == i for i, p in enumerate(params)):
        return Function(name, tuple(params), tuple(outputs))
    tid = new_trace_id()
    renamed = [param(i, p.type, p.attr("name"), tid) for i, p in enumerate(params)]
    zeros = [_zeros(z.type) for z in zeroed]
    raw = Function(name, tuple(params) + tuple(zeroed), tuple(outputs))
    with no_locations():
        return Function(name, tuple(renamed), tuple(inline(raw, renamed + zeros)))


def _zeros(t: TensorType) -> Value:
    from tracegrad.ir import build as b

    return b.full(t.shape, 0, t.dtype)


def leaf_types(leaves: Sequence[Any]) -> list[tuple[TensorType, bool]]:
    return [abstract_type(x) for x in leaves]


def arg_leaf_ranges(in_tree: tree.TreeDef) -> list[range]:
    """For the ``((args...), kwargs)`` tree of trace_forward: the leaf range of each arg."""
    ranges, start = [], 0
    for child in in_tree.children[0].children:
        ranges.append(range(start, start + child.num_leaves))
        start += child.num_leaves
    return ranges


def require_float_args(traced: Traced, argnums: Sequence[int], what: str) -> None:
    """JAX's rule: differentiated arguments must be floats (an int has no tangent space)."""
    ranges = arg_leaf_ranges(traced.in_tree)
    for i in argnums:
        if i >= len(ranges):
            raise TypeError(
                f"{what}: differentiating with respect to argnums={i} requires at least "
                f"{i + 1} positional arguments, got {len(ranges)}"
            )
        for leaf in ranges[i]:
            p = traced.function.params[leaf]
            if not p.dtype.is_float:
                raise TypeError(
                    f"{what} requires float inputs, but argument {i} has a leaf of dtype "
                    f"{p.dtype.value} and shape {format_shape(p.shape)}; pass floats "
                    "(e.g. 1.0 or x.astype(float)) or leave it out of argnums"
                )
