"""One specialization cache and one call path into compiled code, shared by ``jit``, the
un-jitted derivative API (``grad(f)(x)``, ``jacobian``, ``vjp``...) and ``tracegrad.function``.

- :class:`Compiled`: a Function prepared (stop-gradients stripped, the optimizer run at an opt
  level) and compiled by a backend once, on first use. ``run(inputs)`` converts the inputs to
  the parameters' dtypes and calls the executable, which binds shapes with the one shape
  binder (:mod:`tracegrad.ir.shapes`). Every entry into compiled code from Python goes through
  a ``Compiled`` or through the hot paths of its executable.
- :class:`Specialization`: what one abstract signature of a traced function runs: its
  ``Traced``, its ``Compiled``, and how its flat outputs become the caller's result.
- :class:`SpecializationCache`: one function's specializations by key, each traced once
  (threads that miss at once wait for the first), with Python ints specialized on their value
  when the trace needs it (:mod:`tracegrad.specialize`) and captured arrays re-checked.

>>> import numpy as np
>>> from tracegrad.tracing.trace import trace
>>> cache = SpecializationCache(np.sin)
>>> def build(call: CallSplit) -> Specialization:
...     traced = trace(call.bind(np.sin), call.tree_args, name="sin")
...     return Specialization(traced, Compiled(traced.function, backend="interpret"))
>>> spec, leaves = cache.lookup((np.zeros(2),), {}, build)
>>> spec.run(leaves)[0].tolist()
[0.0, 0.0]
>>> cache.lookup((np.ones(2),), {}, build)[0] is spec  # same dtype and shape: cached
True
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegrad import tree
from tracegrad.backend import get_backend
from tracegrad.ir import forksafe
from tracegrad.ir.executable import Executable
from tracegrad.ir.passes import optimize
from tracegrad.ir.rebuild import strip_stop_gradients
from tracegrad.ir.value import Function
from tracegrad.signature import as_array, leaf_key
from tracegrad.specialize import AutoStatic, CallSplit, split_call
from tracegrad.tracing.concrete import take_needed
from tracegrad.tracing.trace import Traced, call, is_leaf

__all__ = [
    "CallSplit", "Compiled", "Specialization", "SpecializationCache", "compiled_for", "prepare",
]  # fmt: skip


def prepare(function: Function, opt_level: int) -> Function:
    """What runs for ``function``: stop-gradients are identities once nothing differentiates
    the graph any more, then the optimizer (tracegrad.ir.passes) at ``opt_level``."""
    return optimize(strip_stop_gradients(function), opt_level=opt_level)


class Compiled:
    """``function`` prepared and compiled once, on first use (thread-safe). ``spent_s``: what
    the caller already spent on it (tracing), for the backend's tier-up bound."""

    def __init__(
        self,
        function: Function,
        opt_level: int = 2,
        backend: str | None = None,
        spent_s: float = 0.0,
    ) -> None:
        self.function = function
        self.opt_level = opt_level
        self.backend = backend
        self.spent_s = spent_s
        self.optimized: Function | None = None
        self._executable: Executable | None = None
        self._dtypes = [p.dtype.numpy for p in function.params]
        self._lock = forksafe.reset_in_child(threading.Lock())

    def executable(self) -> Executable:
        found = self._executable
        if found is None:
            with self._lock:
                if self._executable is None:
                    started = time.perf_counter()
                    self.optimized = prepare(self.function, self.opt_level)
                    spent_s = self.spent_s + time.perf_counter() - started
                    backend = get_backend(self.backend)
                    self._executable = backend.compile(self.optimized, spent_s=spent_s)
                found = self._executable
        return found

    def run(self, inputs: Sequence[Any]) -> list[np.ndarray]:
        """The outputs for concrete ``inputs`` (arrays or Python scalars), fresh arrays."""
        arrays = [as_array(x, d) for x, d in zip(inputs, self._dtypes, strict=True)]
        return self.executable()(arrays)


_COMPILED: weakref.WeakKeyDictionary[Function, Compiled] = weakref.WeakKeyDictionary()


def compiled_for(function: Function) -> Compiled:
    """The default backend's ``Compiled`` of ``function`` at opt level 2, one per Function
    (for one-off Functions such as a vjp's backward pass)."""
    found = _COMPILED.get(function)
    if found is None:
        found = _COMPILED.setdefault(function, Compiled(function))
    return found


def _plain(outs: list[Any]) -> list[Any]:
    return outs


@dataclass
class Specialization:
    """One signature's traced Function, its Compiled, and ``finish`` (flat outputs -> the
    result; by default the flat list)."""

    traced: Traced
    compiled: Compiled
    finish: Callable[[list[Any]], Any] = _plain

    def run(self, leaves: Sequence[Any], more: Sequence[Any] = ()) -> Any:
        """The result for argument leaves (then ``more`` inputs: cotangents, tangents)."""
        return self.finish(self.run_flat(leaves, more))

    def run_flat(self, leaves: Sequence[Any], more: Sequence[Any] = ()) -> list[Any]:
        """The flat outputs: inlined into the current trace when a Tracer is among the
        inputs, else compiled (once) and executed."""
        compiled = self.compiled
        return call(self.traced, [*leaves, *more], lambda _, inputs: compiled.run(inputs))


Build = Callable[[CallSplit], Specialization]


class SpecializationCache:
    """One function's specializations (see the module doc). ``kind`` in a key separates the
    transforms of one function (grad, jacobian...) sharing the cache."""

    def __init__(self, fun: Callable[..., Any]) -> None:
        self.auto = AutoStatic(fun)
        self._entries: dict[Any, Specialization] = {}
        self._lock = forksafe.reset_in_child(threading.Lock())
        self._building: dict[Any, threading.RLock] = {}
        self._companions: dict[Any, Any] = {}

    def companion(self, key: Any, make: Callable[[], Any]) -> Any:
        """An object made once per function and ``key`` (the Jitted behind ``grad(f)``)."""
        with self._lock:
            found = self._companions.get(key)
            if found is None:
                found = self._companions[key] = make()
            return found

    def lookup(
        self,
        args: tuple,
        kwargs: dict,
        build: Build,
        kind: Any = None,
        static_argnums: Collection[int] = (),
        static_argnames: Collection[str] = (),
        fixed: Collection[int] | None = (),
        also_auto: frozenset[int | str] = frozenset(),
        store: bool = True,
    ) -> tuple[Specialization, list[Any]]:
        """The specialization for this call and the argument leaves it runs on. A Python
        int the trace needs the value of becomes static (then traced again), unless its
        position is in ``fixed`` (differentiated arguments); ``fixed=None``: never.
        ``also_auto``: Python ints static because a caller learned so (see split_call);
        ``store=False``: build without keeping (the caller caches the result itself)."""
        auto = self.auto
        while True:
            split = split_call(args, kwargs, static_argnums, static_argnames, auto, also_auto)
            leaves, in_tree = tree.flatten(split.tree_args, is_leaf=is_leaf)
            key = (kind, in_tree, tuple(leaf_key(x) for x in leaves), split.key)
            values = [(w, v) for w, v in split.statics if auto.applies(w, v)]
            spec = self._fresh(key) if store else None
            if spec is not None:
                if values:
                    auto.touch(key)
                return spec, leaves
            try:
                spec = self._build_once(key, split, build) if store else build(split)
            except Exception:
                use = take_needed()
                if fixed is None or not auto.learn(use, in_tree, range(len(args)), fixed):
                    raise
                continue
            if values and store:
                for old in auto.admit(key, values):
                    self._entries.pop(old, None)
            return spec, leaves

    def _fresh(self, key: Any) -> Specialization | None:
        spec = self._entries.get(key)
        if spec is not None and spec.traced.closure and spec.traced.stale:
            with self._lock:  # a captured name holds another dtype or shape now: trace again
                if self._entries.get(key) is spec:
                    del self._entries[key]
            return None
        return spec

    def _build_once(self, key: Any, split: CallSplit, build: Build) -> Specialization:
        with self._key_lock(key):  # threads arriving at once: one builds, the rest wait
            spec = self._fresh(key)
            if spec is None:
                spec = build(split)
                if not spec.traced.per_trace:  # closures over outer tracers are per-trace
                    with self._lock:
                        spec = self._entries.setdefault(key, spec)
            return spec

    @contextlib.contextmanager
    def _key_lock(self, key: Any) -> Iterator[None]:
        """Re-entrant: a function that calls itself with the same signature recurses (and
        fails) as it would without the lock instead of deadlocking."""
        with self._lock:
            lock = self._building.setdefault(key, forksafe.reset_in_child(threading.RLock()))
        try:
            with lock:
                yield
        finally:
            with self._lock:
                if self._building.get(key) is lock:
                    del self._building[key]


_CACHES: weakref.WeakKeyDictionary[Any, SpecializationCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = forksafe.reset_in_child(threading.Lock())


def cache_of(fun: Any) -> SpecializationCache:
    """The cache shared by every transform of ``fun`` (kept while ``fun`` lives); a fresh,
    unshared one for a function that cannot be weakly referenced."""
    try:
        with _CACHES_LOCK:
            found = _CACHES.get(fun)
            if found is None:
                found = _CACHES[fun] = SpecializationCache(fun)
            return found
    except TypeError:
        return SpecializationCache(fun)
