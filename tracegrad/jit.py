"""``tracegrad.jit``: trace once per abstract signature, optimize, compile, and call.

>>> import numpy as np, tracegrad
>>> @tracegrad.jit
... def f(x, y):
...     return np.sum(x * y + 1.0)
>>> float(f(np.arange(3.0), 2.0))
9.0
"""

from __future__ import annotations

import functools
import threading
import time
import types
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegrad import tree
from tracegrad._pickling import by_reference, portable, restore_once, token_of, unwrap
from tracegrad.ir import forksafe
from tracegrad.ir.executable import Executable, HotPaths
from tracegrad.ir.value import Function
from tracegrad.methods import bind_method
from tracegrad.specialize import CallSplit, RecompileLog
from tracegrad.staging import Compiled, Specialization, SpecializationCache
from tracegrad.tracing.implicit import fold_captured
from tracegrad.tracing.trace import Traced, trace
from tracegrad.tracing.tracer import Tracer, numpy_entry


class Jitted:
    """A jit-compiled function (see ``tracegrad.jit``)."""

    def __init__(
        self,
        fun: Callable[..., Any],
        static_argnums: Sequence[int] = (),
        static_argnames: Sequence[str] = (),
        backend: str | None = None,
        opt_level: int = 2,
        traced_argnums: Sequence[int] = (),
    ) -> None:
        functools.update_wrapper(self, fun)
        self.fun = fun
        # never made static by themselves, even when an int is used as a value there (the
        # differentiated arguments of grad(f): see tracegrad.autodiff.api)
        self.traced_argnums = tuple(traced_argnums)
        self.static_argnums = tuple(static_argnums)
        self.static_argnames = tuple(static_argnames)
        self.backend = backend
        self.opt_level = opt_level
        self._cache = SpecializationCache(fun)
        self._lock = forksafe.reset_in_child(threading.Lock())
        self._fast: dict[tuple, Callable[..., Any]] = {}
        self._fast_one: dict[Any, Callable[..., Any]] = {}
        # the native whole-call entries of the hottest specializations, chained: the head
        # is this object's __call__ (see _install_entry)
        self._entry: Callable[..., Any] | None = None
        self._entries: list[tuple[Callable[..., Any], tuple, str]] = []  # (factory, key, out)
        self.trace_count = 0

    @property
    def recompile_log(self) -> RecompileLog:
        """Why each specialization was traced (see tracegrad.specialize)."""
        return self._cache.auto.log

    @property
    def auto_static(self) -> frozenset[int | str]:
        """The Python int arguments (positions, or names) learned to be static values."""
        return self._cache.auto.names

    def _specialize(self, args: tuple, kwargs: dict) -> tuple[Specialization, list[Any]]:
        return self._cache.lookup(
            args,
            kwargs,
            self._build,
            static_argnums=self.static_argnums,
            static_argnames=self.static_argnames,
            fixed=self.traced_argnums,
        )

    def _build(self, split: CallSplit) -> Specialization:
        started = time.perf_counter()
        traced = self._trace(split)
        trace_s = time.perf_counter() - started
        compiled = Compiled(traced.function, self.opt_level, self.backend, spent_s=trace_s)
        return Specialization(traced, compiled, _unflatten(traced))

    def _trace(self, split: CallSplit) -> Traced:
        fun = numpy_entry(self.fun)  # jit(np.sum)([1.0, 2.0]): numpy cannot dispatch a list
        self.trace_count += 1
        return trace(split.bind(fun), split.tree_args, name=self.fun.__name__, user_fn=self.fun)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        """On a method: bound to ``instance`` (see ``tracegrad.methods``)."""
        return self if instance is None else bind_method(self, instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # the fast paths exist only without kwargs and static arguments (see _call_slow)
        if not kwargs:
            if len(args) == 1:  # the commonest call, keyed without building tuples
                arg = args[0]
                kind = type(arg)
                fast = self._fast_one.get((arg.dtype, arg.shape) if kind is _NDARRAY else kind)
                if fast is not None and (kind is not int or _INT64_MIN <= arg <= _INT64_MAX):
                    return fast(arg)
            else:
                key = _fast_key(args)
                fast = self._fast.get(key) if key is not None else None
                if fast is not None:
                    return fast(*args)
        return self._call_slow(args, kwargs)

    def _call_slow(self, args: tuple, kwargs: dict) -> Any:
        spec, leaves = self._specialize(args, kwargs)
        outs = spec.run_flat(leaves)
        plain = not (kwargs or self.static_argnums or self._cache.auto.names)  # by types only
        if plain and outs and not isinstance(outs[0], Tracer):
            key = _fast_key(args)
            if key is not None and not spec.traced.per_trace:
                # one-argument keys live apart: no collision with tuples
                table, slot = (self._fast_one, key[0]) if len(args) == 1 else (self._fast, key)
                if slot not in table:
                    self._add_fast_path(spec, key, table, slot)
        return tree.unflatten(spec.traced.out_tree, outs)

    def _add_fast_path(self, spec: Specialization, key: tuple, table: dict, slot: Any) -> None:
        """The fast path for ``key`` from the executable's hot paths, rebuilt when it tiers
        up (possibly on a background thread), when the native entry is installed too."""
        executable = spec.compiled.executable()
        implicit = spec.traced.closure  # implicit inputs only (per_trace ones are not cached)

        def make(hot: HotPaths) -> Callable[..., Any]:
            fast = _make_fast_path(spec, executable, hot)
            return _with_implicit(fast, implicit, table, slot, self) if implicit else fast

        table[slot] = make(executable.hot)

        def tiered(hot: HotPaths) -> None:
            table[slot] = make(hot)
            if hot.entry is not None and not implicit:  # a native entry runs no Python
                self._install_entry(hot.entry, spec, key)

        executable.on_tier_up(tiered)

    def _install_entry(self, factory: Callable[..., Any], spec: Specialization, key: tuple) -> None:
        """Make the backend's native entry for arguments shaped like ``key`` (an ArgKind
        per argument, see ``_fast_key``) this object's ``__call__``.

        Python looks ``__call__`` up on the type, so the object moves to its own subclass
        of Jitted whose ``__call__`` is the builtin: a call then runs no Python at all
        (about 0.3 us instead of 1.1). The builtin forwards every call it does not take
        (other signatures, keywords) to the entry installed before it, the last one to
        ``Jitted.__call__`` bound to this object; the MAX_ENTRIES newest are kept.
        """
        out = _out_kind(spec.traced.out_tree)
        cls = type(self)
        overridden = "_own_class" not in cls.__dict__ and cls.__call__ is not Jitted.__call__
        if out is None or overridden:
            return  # a subclass's own __call__ must keep running: never bypass it
        with self._lock:
            chain = [(factory, key, out)] + [e for e in self._entries if e[1] != key]
            entry: Any = types.MethodType(Jitted.__call__, self)
            try:  # the newest entry first; each forwards what it declines to the next
                for make, k, o in reversed(chain[:MAX_ENTRIES]):
                    entry = make(k, o, entry)
                    if entry is None:
                        return
            except Exception as exc:  # noqa: BLE001 -- an optimization; the fast path works
                msg = f"tracegrad: no native entry for {self.__name__}: {exc!r}"
                warnings.warn(msg, stacklevel=3)
                return
            self._entries = chain[:MAX_ENTRIES]
            cls = type(self)
            if "_own_class" not in cls.__dict__:
                attrs = {"__slots__": (), "_own_class": True, "__doc__": cls.__doc__}
                attrs.update(__module__=cls.__module__, __qualname__=cls.__qualname__)
                cls = type(cls.__name__, (cls,), attrs)
                self.__class__ = cls
            cls.__call__ = entry  # type: ignore[method-assign]
            self._entry = entry

    def __reduce__(self) -> str | tuple[Any, ...]:
        """Pickle what defines this function, never its compiled state: by name when a
        module-level name holds this very object (``@jit`` on a module-level function, or
        ``f = jit(g)``), else ``fun`` (see tracegrad._pickling) and the options. The copy
        starts cold (its class is Jitted, not the hot subclass whose ``__call__`` is a
        native entry) and traces, then compiles or loads from the disk cache, on first call.

        >>> import pickle, numpy as np, tracegrad
        >>> f = tracegrad.jit(np.multiply, static_argnums=1)
        >>> g = pickle.loads(pickle.dumps(f))
        >>> g(np.ones(2), 3).tolist(), g.static_argnums, g.trace_count
        ([3.0, 3.0], (1,), 1)
        """
        name = by_reference(self)
        if name is not None:
            return name  # pickle stores the module and this name
        return (_restore_jitted, (token_of(self), *self._definition()))

    def __copy__(self) -> Jitted:
        """A fresh, cold Jitted of the same function and options (nothing compiled shared)."""
        return _new_jitted(*self._definition())

    def __deepcopy__(self, memo: dict) -> Jitted:
        return self.__copy__()

    def _definition(self) -> tuple[type, Any, tuple]:
        cls = type(self)
        if "_own_class" in cls.__dict__:  # the hot per-object subclass (see _install_entry)
            cls = cls.__bases__[0]
        options = (
            self.static_argnums, self.static_argnames, self.backend, self.opt_level,
            self.traced_argnums,
        )  # fmt: skip
        return cls, portable(self.fun), options

    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Inspect what runs for these arguments: traced IR, optimized IR, LLVM IR, assembly."""
        spec, _ = self._specialize(args, kwargs)
        executable = spec.compiled.executable()
        optimized = spec.compiled.optimized
        return Lowered(spec.traced.function, optimized, executable)  # type: ignore[arg-type]


def _new_jitted(cls: type, fun: Any, options: tuple) -> Jitted:
    obj = cls.__new__(cls)
    Jitted.__init__(obj, unwrap(fun), *options)
    return obj


def _restore_jitted(token: str, cls: type, fun: Any, options: tuple) -> Jitted:
    """Unpickle a Jitted sent by value; once per process and sender's object."""
    return restore_once(token, lambda: _new_jitted(cls, fun, options))  # type: ignore[no-any-return]


_SCALAR_TYPES = (float, int, bool)


def _unflatten(traced: Traced) -> Callable[[list[Any]], Any]:
    out_tree = traced.out_tree
    return lambda outs: tree.unflatten(out_tree, outs)


_NDARRAY = np.ndarray
MAX_ENTRIES = 4  # native entries chained per Jitted (a decline costs about 20 ns)


def _out_kind(out_tree: tree.TreeDef) -> str | None:
    """How a native entry returns the outputs: one array, or a flat tuple/list of them."""
    if out_tree == tree.LEAF:
        return "leaf"
    if out_tree.kind in ("tuple", "list") and all(c == tree.LEAF for c in out_tree.children):
        return out_tree.kind if out_tree.children else None
    return None


def _fast_key(args: tuple) -> tuple | None:
    """A cheap signature for the common call: top-level arrays and Python scalars only,
    one :data:`tracegrad.ir.executable.ArgKind` per argument (so it is also what a native
    entry is built for)."""
    key = []
    for a in args:
        kind = type(a)
        if kind is np.ndarray:
            key.append((a.dtype, a.shape))
        elif kind in _SCALAR_TYPES and (kind is not int or _INT64_MIN <= a <= _INT64_MAX):
            key.append(kind)
        else:
            return None
    return tuple(key)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _make_fast_path(
    spec: Specialization, executable: Executable, hot: HotPaths
) -> Callable[..., Any]:
    """The per-signature call path: convert scalars, run, rebuild the output tree."""
    dtypes = [p.dtype.numpy for p in spec.traced.function.params]
    out_tree = spec.traced.out_tree
    fast_call = hot.fast_call  # a list of fresh arrays, like executable(arrays)
    single = out_tree == tree.LEAF

    if single and len(dtypes) == 1:
        (dtype,) = dtypes

        def run_one(a: Any) -> Any:
            if type(a) is not np.ndarray or a.dtype != dtype:
                a = np.asarray(a, dtype)
            return fast_call(a)[0]

        return run_one

    def run(*args: Any) -> Any:
        arrays = [
            a if type(a) is np.ndarray and a.dtype == d else np.asarray(a, d)
            for a, d in zip(args, dtypes, strict=True)
        ]
        outs = fast_call(*arrays)
        return outs[0] if single else tree.unflatten(out_tree, outs)

    return run


def _with_implicit(
    fast: Callable[..., Any], implicit: tuple, table: dict, slot: Any, jitted: Jitted
) -> Callable[..., Any]:
    """The fast path of a Function with implicit inputs (random draws, captured arrays):
    produce them after the arguments, in order. When a captured name now holds another
    dtype or shape, this path is dropped and the general path traces again."""
    rereads = tuple(c for c in implicit if not c.fresh)

    def run(*args: Any) -> Any:
        for c in rereads:
            if c.stale():
                table.pop(slot, None)
                return jitted._call_slow(args, {})
        return fast(*args, *[c.produce() for c in implicit])

    return run


@dataclass(frozen=True)
class Lowered:
    """The stages of one compiled specialization, as text."""

    traced: Function
    optimized_function: Function
    executable: Executable

    @property
    def ir(self) -> str:
        return str(self.traced)

    @property
    def optimized(self) -> str:
        return str(self.optimized_function)

    @property
    def llvm_ir(self) -> str:
        return self.executable.llvm_ir

    @property
    def asm(self) -> str:
        return self.executable.asm


def jit(
    fun: Callable[..., Any] | None = None,
    *,
    static_argnums: int | Sequence[int] = (),
    static_argnames: str | Sequence[str] = (),
    backend: str | None = None,
    opt_level: int = 2,
) -> Any:
    """Compile ``fun`` for each abstract signature (dtypes, shapes, weak types, pytree
    structure, static argument values). Usable as ``@jit`` or ``@jit(static_argnums=1)``.
    A Python int argument used where only a concrete value works (``x[:n]``, ``range(n)``)
    is made static by itself, once per value (tracegrad.specialize; ``f.recompile_log``).

    >>> import numpy as np, tracegrad
    >>> @tracegrad.jit(static_argnums=1)
    ... def power(x, n):
    ...     return x ** n
    >>> power(np.array([2.0]), 3).tolist()
    [8.0]
    """
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)

    def wrap(f: Callable[..., Any]) -> Jitted:
        return Jitted(f, nums, names, backend, opt_level)

    return wrap(fun) if fun is not None else wrap


def make_ir(
    fun: Callable[..., Any], static_argnums: int | Sequence[int] = ()
) -> Callable[..., Function]:
    """``make_ir(f)(*example_args)`` returns the traced (unoptimized) Function. Arrays ``f``
    reads from its globals or closure (inputs read at each call under ``jit``) appear as
    constants of their current values; random draws are params after the arguments.

    >>> import numpy as np, tracegrad
    >>> print(tracegrad.make_ir(lambda x: np.exp(-x))(np.zeros(3)).count_ops())
    2
    """
    jitted = jit(fun, static_argnums=static_argnums)

    def build(*args: Any, **kwargs: Any) -> Function:
        spec, _ = jitted._specialize(args, kwargs)
        return fold_captured(spec.traced.function, spec.traced.closure)

    return build
