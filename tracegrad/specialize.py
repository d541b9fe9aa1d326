"""Python ints used as Python ints: specializing on an argument's value when the function
needs it, and the recompile log that says why each trace happened.

autograd-style code passes an iteration number and uses it where only a concrete value works
(``data[i % n]``, ``x[: i + 1]``, ``range(i)``, ``if i:``). ``jit``, ``grad`` and the other
transforms trace a Python ``int``/``bool`` argument as a (weakly typed) array, so arithmetic on
it costs no retrace. When the trace fails because such an argument was asked for its value
(see ``tracing.concrete``), the function learns that argument as *auto-static*: it is traced
again with the value baked in, and from then on each new value is a new specialization, like
``static_argnums``. At most ``MAX_VALUES`` of those are kept per function (least recently used
first out); beyond that a warning says so once. Every trace is written to the function's
``recompile_log`` (and logged at INFO level on the ``tracegrad.recompile`` logger).

>>> import numpy as np, tracegrad
>>> data = np.arange(6.0).reshape(3, 2)
>>> @tracegrad.jit
... def row_dot(w, i):
...     return np.dot(data[i % 3], w)
>>> [float(row_dot(np.ones(2), i)) for i in range(4)]
[1.0, 5.0, 9.0, 1.0]
>>> row_dot.trace_count  # the failed first trace, then one per value of i % 3's i
5
>>> print(row_dot.recompile_log.entries[0].split(":")[0])
argument 1 (i) of row_dot is a Python int used as a concrete value at ...
"""

from __future__ import annotations

import inspect
import logging
import struct
import threading
import warnings
from collections import OrderedDict, deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegrad import tree
from tracegrad.tracing.concrete import ConcreteUse
from tracegrad.tracing.implicit import wrap_static

__all__ = [
    "MAX_VALUES", "AutoStatic", "CallSplit", "RecompileLog", "SpecializationWarning", "is_int",
    "split_call",
]  # fmt: skip

MAX_VALUES = 64  # specializations on auto-static values kept per function
_LOGGER = logging.getLogger("tracegrad.recompile")
_INTS = (int, bool)


def is_int(value: Any) -> bool:
    """A Python int or bool (not a numpy integer: those are typed arrays)."""
    return type(value) in _INTS


class SpecializationWarning(UserWarning):
    """A function was specialized on more values of an int argument than are kept."""


class RecompileLog:
    """Why each trace of one function happened, newest last (the last 256 entries).

    >>> log = RecompileLog()
    >>> log.add("traced f(f64[3])")
    >>> print(log)
    traced f(f64[3])
    """

    def __init__(self) -> None:
        self._entries: deque[str] = deque(maxlen=256)

    def add(self, entry: str) -> None:
        self._entries.append(entry)
        _LOGGER.info("%s", entry)

    @property
    def entries(self) -> list[str]:
        return list(self._entries)

    def __str__(self) -> str:
        return "\n".join(self._entries)

    def __repr__(self) -> str:
        return f"RecompileLog({len(self._entries)} entries)"


class AutoStatic:
    """One function's auto-static arguments (positions, or names for keywords), its
    specializations on their values in least-recently-used order, and its recompile log."""

    def __init__(self, fun: Callable[..., Any]) -> None:
        # the name and parameter names only: caches keyed weakly by ``fun`` hold this object,
        # and a reference to ``fun`` from there would keep it alive forever
        self._name: str = getattr(fun, "__name__", "f")
        self._params = _positional_names(fun)
        self.names: frozenset[int | str] = frozenset()  # read on the call path: no lock
        self.log = RecompileLog()
        self._keys: OrderedDict[Any, None] = OrderedDict()
        self._lock = threading.Lock()
        self._warned = False

    def applies(self, name: int | str, value: Any) -> bool:
        """Whether argument ``name`` holding ``value`` is specialized on its value."""
        return name in self.names and is_int(value)

    def learn(
        self,
        use: ConcreteUse | None,
        in_tree: tree.TreeDef,
        positions: Sequence[int],
        exclude: Iterable[int] = (),
    ) -> bool:
        """After a failed trace of arguments shaped ``in_tree`` (``((args...), kwargs)``,
        ``positions`` the original position of each of those args): learn the Python int
        arguments the trace needed the value of. True if there is something new to retrace
        for (else the error stands)."""
        if use is None:
            return False
        new = [
            name
            for name, start, child in _top_level(in_tree, positions)
            if child == tree.LEAF and start in use.leaves
            and name not in self.names and name not in exclude
        ]  # fmt: skip
        if not new:
            return False
        with self._lock:
            self.names = self.names | frozenset(new)
        for name in new:
            self.log.add(
                f"{self.label(name)} of {self._fun_name()} is a Python int used as a concrete "
                f"value at {use.where}: traced again with its value fixed, once per value "
                f"(up to {MAX_VALUES} kept)"
            )
        return True

    def admit(self, key: Any, values: Iterable[tuple[int | str, Any]]) -> list[Any]:
        """A new specialization ``key`` on the auto-static ones among ``values`` ((position
        or name, value) pairs): log it; returns the keys to drop (the least recently used
        beyond ``MAX_VALUES``)."""
        self.log.add(f"traced {self._fun_name()} for {self.describe(values)}")
        with self._lock:
            self._keys[key] = None
            evicted = []
            while len(self._keys) > MAX_VALUES:
                evicted.append(self._keys.popitem(last=False)[0])
            warn = bool(evicted) and not self._warned
            self._warned = self._warned or warn
        if evicted:
            self.log.add(f"dropped {len(evicted)} older specialization(s): over {MAX_VALUES}")
        if warn:
            names = ", ".join(self.label(n) for n in sorted(self.names, key=str))
            warnings.warn(
                f"tracegrad: {self._fun_name()} was specialized on more than {MAX_VALUES} "
                f"values of {names} (a Python int used as a concrete value: an index, a slice "
                f"bound, range(), if); only the {MAX_VALUES} most recently used are kept and "
                "others are traced again. Use it only arithmetically to trace it once, or see "
                "f.recompile_log",
                SpecializationWarning,
                stacklevel=4,
            )
        return evicted

    def touch(self, key: Any) -> None:
        """``key`` was used again: keep it longest."""
        with self._lock:
            if key in self._keys:
                self._keys.move_to_end(key)

    def describe(self, values: Iterable[tuple[int | str, Any]]) -> str:
        """``i=3, flag=True``: the auto-static values among ``values``."""
        return ", ".join(f"{self._short(n)}={v!r}" for n, v in values if self.applies(n, v))

    def label(self, name: int | str) -> str:
        return (
            f"argument {name!r}"
            if isinstance(name, str)
            else f"argument {name} ({self._short(name)})"
        )

    def _short(self, name: int | str) -> str:
        if isinstance(name, str):
            return name
        return self._params[name] if name < len(self._params) else f"#{name}"

    def _fun_name(self) -> str:
        return self._name


def _positional_names(fun: Callable[..., Any]) -> tuple[str, ...]:
    """The names of ``fun``'s leading positional parameters (none if it has no signature)."""
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        return ()
    names = []
    for p in params:
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            break
        names.append(p.name)
    return tuple(names)


def _top_level(in_tree: tree.TreeDef, positions: Sequence[int]) -> list[tuple[Any, int, Any]]:
    """(argument name, index of its first leaf, its subtree) per top-level argument of the
    ``((args...), kwargs)`` tree."""
    found, start = [], 0
    args, kwargs = in_tree.children
    for position, child in zip(positions, args.children, strict=True):
        found.append((position, start, child))
        start += child.num_leaves
    for key, child in zip(kwargs.keys, kwargs.children, strict=True):
        found.append((key, start, child))
        start += child.num_leaves
    return found


@dataclass(frozen=True)
class CallSplit:
    """A call split into what is traced and what is keyed by value. ``args``/``kwargs`` hold
    ``None`` (no leaves) in place of each static argument; ``statics`` are those arguments as
    ``(position or name, value)`` pairs; ``key`` is their hashable key."""

    args: tuple
    kwargs: dict
    statics: tuple[tuple[int | str, Any], ...]
    key: Any

    @property
    def tree_args(self) -> tuple[tuple, dict]:
        """The ``((args...), kwargs)`` pytree the trace takes (its leaves are the params)."""
        return self.args, self.kwargs

    def bind(self, fun: Callable[..., Any]) -> Callable[[tuple, dict], Any]:
        """``fun`` taking ``tree_args``-shaped values, with the static values put back (a
        random generator wrapped to record its draws, see tracegrad.numpy.random)."""
        statics = self.statics

        def run(args: tuple, kwargs: dict) -> Any:
            if statics:
                args, kwargs = list(args), dict(kwargs)  # type: ignore[assignment]
                for where, value in statics:
                    if isinstance(where, str):
                        kwargs[where] = wrap_static(value)
                    else:
                        args[where] = wrap_static(value)  # type: ignore[index]
            return fun(*args, **kwargs)

        return run


def split_call(
    args: tuple,
    kwargs: dict,
    static_argnums: Collection[int],
    static_argnames: Collection[str],
    auto: AutoStatic,
    also_auto: frozenset[int | str] = frozenset(),
) -> CallSplit:
    """Split a call (see CallSplit): static are the ``static_argnums``/``static_argnames``,
    the auto-static ints of ``auto`` and the Python ints at ``also_auto`` (names a caller
    learned), big ints and random generators."""

    def is_static(name: int | str, value: Any, forced: Collection[Any]) -> bool:
        return (
            name in forced
            or _auto_static(value)
            or auto.applies(name, value)
            or (name in also_auto and is_int(value))
        )

    statics: list[tuple[int | str, Any]] = [
        (i, a) for i, a in enumerate(args) if is_static(i, a, static_argnums)
    ]
    statics += [(k, v) for k, v in kwargs.items() if is_static(k, v, static_argnames)]
    if not statics:
        return CallSplit(args, kwargs, (), ())
    taken = {where for where, _ in statics}
    key = (
        tuple((i, _static_key(a)) for i, a in statics if isinstance(i, int)),
        tuple(sorted((k, _static_key(v)) for k, v in statics if isinstance(k, str))),
    )
    try:
        hash(key)
    except TypeError:
        raise TypeError("static arguments must be hashable (tuples, numbers, strings)") from None
    return CallSplit(
        tuple(None if i in taken else a for i, a in enumerate(args)),
        {k: None if k in taken else v for k, v in kwargs.items()},
        tuple(statics),
        key,
    )


def _static_key(value: Any) -> Any:
    """Static values keyed by type and, for floats, by bits: 2, 2.0 and True trace
    differently in numpy (int vs float vs bool), and so do 0.0 and -0.0; NaN equals itself."""
    kind = type(value)
    if kind is float:
        return (float, struct.pack("<d", value))
    if kind in (tuple, list):
        return (kind, tuple(_static_key(v) for v in value))
    return (kind, value)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_GENERATORS = (np.random.Generator, np.random.RandomState)


def _auto_static(value: Any) -> bool:
    """Arguments jit keys by value without being asked: big ints and random generators
    (whose draws become implicit inputs, see tracegrad.numpy.random)."""
    return _big_int(value) or isinstance(value, _GENERATORS)


def _big_int(value: Any) -> bool:
    """A Python int outside int64. numpy gives it no int64 form (``x + 2**63`` is uint64 or
    an OverflowError, ``float_array * 2**63`` is exact), so jit specializes on its value
    like a static argument and the traced code sees the Python int, as eager numpy does."""
    return type(value) is int and not _INT64_MIN <= value <= _INT64_MAX
