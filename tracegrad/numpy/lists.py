"""numpy called on lists of traced values: ``np.array([x, y])``, ``np.sum([x, x + 2])``.

numpy's dispatch protocols look at arguments, not into them: for ``np.array([x, 1.0])`` (a C
function with no protocol at all), ``np.asarray(x)``, or ``np.mean([x, y])`` (whose dispatcher
sees a list) numpy builds the array itself and asks each Tracer for a concrete value, which it
cannot give. So while a function is traced, these numpy module attributes are swapped for thin
wrappers (as ``tracegrad.numpy.random`` swaps the samplers): the array constructors
(``array``, ``asarray``, ``asanyarray``, ``ascontiguousarray``, ``asfortranarray``), every
function of numpy's namespace (and ``numpy.linalg``'s) that tracegrad implements, and ``r_``
and ``c_``. A wrapper routes a call to tracegrad's implementation when a list or tuple argument
holds a Tracer (or a constructor gets a Tracer); anything else, any thread not tracing, and
calls from numpy's own code (``np.histogram``'s internal ``np.asarray``) or from inside a
routed call go to numpy's function unchanged.
Lists are stacked as numpy builds them: nested lists may mix constants and traced values,
Python scalars in them are float64/int64/bool (not weak), the dtype is numpy's.

>>> import numpy as np, tracegrad
>>> tracegrad.jit(lambda x: np.array([[x, 1.0], [2.0, x * 3]]))(2.0)
array([[2., 1.],
       [2., 6.]])
>>> float(tracegrad.grad(lambda x: np.mean([x, x**2]))(3.0))
3.5

The swap is reference-counted across threads and undone when the last trace ends, also when
it fails. A name bound before tracing (``from numpy import array``) is swapped too when the
function (or a helper it calls by name, three calls deep) reads it as a global or closure
variable; elsewhere (an attribute of an object) it is not intercepted, and numpy's
``ConcretizationError`` stands. numpy's ufuncs (``np.exp([x, y])``) are not swapped (they are
objects with methods, not functions): build the array first, ``np.exp(np.array([x, y]))``.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from tracegrad import numpy as tnp
from tracegrad.ir import forksafe
from tracegrad.numpy.notes import note
from tracegrad.tracing.context import current_trace
from tracegrad.tracing.implicit import TRACE_HOOKS, named_values, read_named, write_named
from tracegrad.tracing.tracer import Tracer

CONSTRUCTORS = ("array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray")


class _Inside(threading.local):
    """Whether this thread is inside a routed call: tracegrad's implementations see numpy's
    functions unchanged (they may call them on the very lists they were given)."""

    active = False


_INSIDE = _Inside()


def _from_numpy(depth: int = 2) -> bool:
    """Whether numpy's own Python code makes the call (``np.histogram``'s ``np.asarray``): it
    sees its functions unchanged, so a numpy function tracegrad does not implement fails as
    it did, with ``ConcretizationError``, rather than meeting a Tracer it does not expect."""
    module = sys._getframe(depth).f_globals.get("__name__", "")
    return module.partition(".")[0] == "numpy"


def _idle() -> bool:
    """No routing in this thread now: it does not trace (the cheap test first: threads that
    do not trace pay only this), or it is inside a routed call."""
    return current_trace() is None or _INSIDE.active


def _holds_tracer(x: Any) -> bool:
    if isinstance(x, Tracer):
        return True
    return isinstance(x, (list, tuple)) and any(_holds_tracer(i) for i in x)


def _listed_tracer(args: tuple, kwargs: dict) -> bool:
    """A Tracer inside a list or tuple argument (numpy's dispatch would not see it)."""
    values = (*args, *kwargs.values())
    return any(isinstance(a, (list, tuple)) and _holds_tracer(a) for a in values)


def _routed(original: Any, route: Callable[..., Any], wanted: Callable[..., bool]) -> Any:
    """A stand-in for ``original`` that calls ``route`` when ``wanted(args, kwargs)`` in a
    traced call, and ``original`` otherwise; it looks like numpy's (name, doc, __wrapped__)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _idle() or not wanted(args, kwargs) or _from_numpy():
            return original(*args, **kwargs)
        _INSIDE.active = True
        try:
            return route(*args, **kwargs)
        finally:
            _INSIDE.active = False

    functools.update_wrapper(wrapper, original)
    return wrapper


def _constructor(name: str) -> Callable[..., Any]:
    """``np.<name>`` on a Tracer or a (nested) list holding one."""

    def construct(a: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("like") is not None:
            raise TypeError(f"numpy.{name}(like=...) is not supported on traced values")
        ndmin = kwargs.get("ndmin", 0) if name == "array" else 0
        copies = name == "array" and kwargs.get("copy", True) is not False
        out = tnp.asarray(a, dtype)
        if copies or out.weak:  # a new array (writes to it stay off ``a``), strong dtype
            out = Tracer(out.value, out.trace)
        if name in ("ascontiguousarray", "asfortranarray"):
            ndmin = 1  # numpy: ndim >= 1
        if out.ndim < ndmin:
            out = tnp.reshape(out, (1,) * (ndmin - out.ndim) + out.shape)
        return out

    return construct


def _wants_constructor(args: tuple, kwargs: dict) -> bool:
    first = args[0] if args else kwargs.get("a", kwargs.get("object"))
    return _holds_tracer(first)


def _function_route(func: Any, route: Callable[[Any, tuple, dict], Any]) -> Callable[..., Any]:
    return lambda *args, **kwargs: route(func, args, kwargs)


class _RoutedConcatenator:
    """``np.r_``/``np.c_``: an index with a Tracer goes to ``tracegrad.numpy.r_``/``c_``."""

    def __init__(self, original: Any, traced: Any) -> None:
        self._original, self._traced = original, traced
        self.__doc__ = original.__doc__

    def __getitem__(self, key: Any) -> Any:
        if _idle() or not _holds_tracer(key) or _from_numpy():
            return self._original[key]
        _INSIDE.active = True
        try:
            return self._traced[key]
        finally:
            _INSIDE.active = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_original", "_traced"):  # copy/pickle probes
            raise AttributeError(name)
        return getattr(self._original, name)

    def __reduce__(self) -> Any:
        return type(self._original), ()  # numpy's own: a new RClass/CClass

    def __len__(self) -> int:
        return len(self._original)


def _swaps(functions: Any, route: Any) -> list[tuple[Any, str, Any, Any]]:
    """(module, name, numpy's object, its stand-in) for everything swapped while tracing."""
    out = []
    for name in CONSTRUCTORS:
        original = getattr(np, name)
        out.append((np, name, original, _routed(original, _constructor(name), _wants_constructor)))
    for func in functions:
        name = getattr(func, "__name__", "")
        for module in (np, np.linalg):
            if vars(module).get(name) is func:
                stand_in = _routed(func, _function_route(func, route), _listed_tracer)
                out.append((module, name, func, stand_in))
    out += [(np, n, getattr(np, n), _RoutedConcatenator(getattr(np, n), getattr(tnp, n)))
            for n in ("r_", "c_")]  # fmt: skip
    return out


SWAPS: list[tuple[Any, str, Any, Any]] = []  # filled by install()
_STAND_IN: dict[int, Any] = {}  # id(numpy's object) -> its stand-in


def install(functions: Any, route: Callable[[Any, tuple, dict], Any]) -> None:
    """Swap numpy's constructors, ``r_``/``c_`` and ``functions`` (numpy functions; a call
    with a Tracer in a list goes to ``route(func, args, kwargs)``) while tracing. Called once,
    by ``tracegrad.numpy.dispatch`` with its table (which imports this module, not the other
    way round: no import cycle)."""
    if SWAPS:
        return
    SWAPS.extend(_swaps(functions, route))
    _STAND_IN.update({id(original): stand_in for _, _, original, stand_in in SWAPS})
    TRACE_HOOKS.append(intercepting)


_LOCK = forksafe.reset_in_child(threading.Lock())
_count = 0
# (id(holder), name) -> [holder, name, numpy's object, traces using it]: a name the user bound
# to a numpy constructor or function before tracing (``from numpy import array``)
_NAMES: dict[tuple[int, Any], list] = {}


def _user_names(fn: Any) -> list[tuple[Any, str | None, Any]]:
    """The globals and cells ``fn`` reads that hold numpy's objects (or, swapped by another
    thread's trace, their stand-ins)."""
    if fn is None:
        return []
    found = named_values(fn)
    return [(h, n, v) for h, n, v in found if id(v) in _STAND_IN or (id(h), n) in _NAMES]


@contextlib.contextmanager
def intercepting(fn: Any) -> Iterator[None]:
    """Around one trace of ``fn``: numpy's constructors and functions route lists holding
    Tracers to tracegrad (see the module doc)."""
    global _count
    keys = []
    with _LOCK:
        if _count == 0:
            for module, name, _, stand_in in SWAPS:
                setattr(module, name, stand_in)
        _count += 1
        for holder, name, value in _user_names(fn):
            key = (id(holder), name)
            if key not in _NAMES:
                _NAMES[key] = [holder, name, value, 0]
                write_named(holder, name, _STAND_IN[id(value)])
            _NAMES[key][3] += 1
            keys.append(key)
    try:
        yield
    finally:
        with _LOCK:
            _count -= 1
            if _count == 0:
                for module, name, original, _ in SWAPS:
                    setattr(module, name, original)
            for key in keys:
                entry = _NAMES[key]
                entry[3] -= 1
                if entry[3] == 0:
                    del _NAMES[key]
                    if read_named(entry[0], entry[1]) is _STAND_IN[id(entry[2])]:  # not rebound
                        write_named(entry[0], entry[1], entry[2])


note("array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray",
     arguments="like=", deviation="numpy's np.array/np.asarray (and asanyarray, "
     "ascontiguousarray, asfortranarray) reach this while a function is traced, for a traced "
     "value or a (nested) list holding one (tracegrad.numpy.lists); numpy's function kept in "
     "an object's attribute is not intercepted")  # fmt: skip
