"""Pickling tracegrad's callables (``jit``, ``grad`` and the other transforms, ``vjp``
functions, ``tracegrad.function``) for process pools, Dask and Ray.

Only what defines a callable travels, never its compiled state (executables, caches, locks,
native entries): the receiving process starts cold and traces, then compiles or loads the
object code from the disk cache, on first call. A Python function travels by reference
(module and qualified name) when the other process can import it; otherwise (a lambda, a
closure, a function of ``__main__``) by value with cloudpickle, an optional dependency.

Each process keeps the last objects it restored by value under a token chosen by the sender,
so a worker that receives the same jitted function with every task traces and compiles it
once, not once per task.

>>> import pickle, numpy as np, tracegrad
>>> f = tracegrad.jit(np.exp)
>>> g = pickle.loads(pickle.dumps(f))
>>> g is f, float(g(0.0))
(False, 1.0)
>>> pickle.loads(pickle.dumps(f)) is g  # restored once per process
True
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from tracegrad.ir import forksafe

MAX_RESTORED = 64  # objects restored by value that a process keeps alive for reuse

_LOCK = forksafe.reset_in_child(threading.Lock())
_TOKENS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_RESTORED: OrderedDict[str, Any] = OrderedDict()
_dumping = threading.local()  # ids of the functions this thread is pickling by value


def _cloudpickle_available() -> bool:
    try:
        import cloudpickle  # noqa: F401
    except ImportError:
        return False
    return True


def global_name(obj: Any) -> str | None:
    """The name under which ``obj``'s module holds ``obj``: its ``__qualname__``, else any
    module-level name (``f = jit(g)`` names ``f``, while the qualname stays ``g``)."""
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    if module is None:
        return None
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(qualname, str) and "<" not in qualname:  # no "<locals>", "<lambda>"
        found: Any = module
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if found is obj:
            return qualname
    if isinstance(obj, types.FunctionType):
        return None  # pickle itself only looks functions up by their qualname
    return next((name for name, item in vars(module).items() if item is obj), None)


def by_reference(obj: Any) -> str | None:
    """The name to pickle ``obj`` by, if any. ``__main__`` is the user's script here but not
    in a Dask or Ray worker, so its objects go by value when cloudpickle can do that."""
    name = global_name(obj)
    if name is None or (obj.__module__ == "__main__" and _cloudpickle_available()):
        return None
    return name


def portable(fun: Any) -> Any:
    """``fun`` itself if pickle can handle it, else a stand-in that pickles it by value."""
    if isinstance(fun, types.FunctionType) and not by_reference(fun):
        return _ByValue(fun)
    return fun  # importable functions, builtins, ufuncs, tracegrad's own callables...


def unwrap(fun: Any) -> Any:
    """The function behind a ``portable`` stand-in (``copy.copy`` passes stand-ins through)."""
    return fun.fun if isinstance(fun, _ByValue) else fun


class _ByValue:
    __slots__ = ("fun",)

    def __init__(self, fun: Callable[..., Any]) -> None:
        self.fun = fun

    def __reduce__(self) -> tuple[Any, ...]:
        try:
            import cloudpickle
        except ImportError:
            name = getattr(self.fun, "__qualname__", repr(self.fun))
            raise pickle.PicklingError(
                f"cannot pickle {name!r}: a lambda, closure or function of __main__ is not "
                "importable by name in another process, and pickling it by value needs "
                "cloudpickle (pip install cloudpickle), or define it at module level"
            ) from None
        active = _dumping.__dict__.setdefault("ids", set())
        if id(self.fun) in active:  # each dumps below is a new pickler: no memo ends a cycle
            raise pickle.PicklingError(
                f"cannot pickle {self.fun.__qualname__!r} by value: it refers to its own "
                "jitted or differentiated version; define it in an importable module"
            )
        active.add(id(self.fun))
        try:
            data = cloudpickle.dumps(self.fun)
        finally:
            active.discard(id(self.fun))
        return (_load_by_value, (token_of(self.fun), data))

    def __deepcopy__(self, memo: dict) -> _ByValue:
        return self  # functions are immutable: copy.deepcopy keeps them too


def _load_by_value(token: str, data: bytes) -> Any:
    return restore_once(token, lambda: pickle.loads(data))


def token_of(obj: Any) -> str:
    """The name under which processes that unpickle ``obj`` keep their copy of it."""
    with _LOCK:
        token = _TOKENS.get(obj)
        if token is None:
            token = _TOKENS[obj] = os.urandom(16).hex()
        return token


def restore_once(token: str, build: Callable[[], Any]) -> Any:
    """The object this process restored under ``token``, built now if it has none."""
    with _LOCK:
        found = _RESTORED.get(token)
        if found is not None:
            _RESTORED.move_to_end(token)
            return found
    built = build()  # outside the lock: unpickling may restore nested objects
    with _LOCK:
        found = _RESTORED.setdefault(token, built)
        _RESTORED.move_to_end(token)
        _TOKENS[found] = token  # pickled again from here, it keeps its identity
        while len(_RESTORED) > MAX_RESTORED:
            _RESTORED.popitem(last=False)
    return found
