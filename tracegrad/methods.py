"""``@tracegrad.jit`` on methods: the bound instance is an argument whose array attributes are
traced (read at every call, so training updates are seen) and whose other attributes are
static (a change of one retraces).

>>> import numpy as np, tracegrad
>>> class Linear:
...     def __init__(self, w, activation):
...         self.w, self.activation = w, activation
...     @tracegrad.jit
...     def __call__(self, x):
...         y = x @ self.w
...         return np.tanh(y) if self.activation == "tanh" else y
>>> layer = Linear(np.eye(2) * 2.0, "none")
>>> layer(np.ones(2))
array([2., 2.])
>>> layer.w = np.eye(2) * 3.0  # new weights: read at the next call
>>> layer(np.ones(2))
array([3., 3.])
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["BoundMethod", "InstanceKey", "bind_method", "split_instance"]

# jitted method -> the Jitted of its (instance key, arrays, *args) form, shared by instances
_METHOD_JITS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def bind_method(jitted: Any, instance: Any) -> BoundMethod:
    """``instance.method`` for a jitted ``method``."""
    inner = _METHOD_JITS.get(jitted)
    if inner is None:
        inner = type(jitted)(
            call_with_state(jitted.fun),
            static_argnums=(0,),
            backend=jitted.backend,
            opt_level=jitted.opt_level,
        )
        inner = _METHOD_JITS.setdefault(jitted, inner)
    return BoundMethod(inner, instance)


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind in "biuf"


def split_instance(instance: Any) -> tuple[dict[str, np.ndarray], InstanceKey]:
    """The instance's array attributes (traced) and a key of everything else (static)."""
    state = vars(instance) if hasattr(instance, "__dict__") else {}
    arrays = {name: value for name, value in state.items() if _is_array(value)}
    others = tuple(
        (name, _key_of(value)) for name, value in sorted(state.items()) if name not in arrays
    )
    return arrays, InstanceKey(instance, (type(instance), others))


def _key_of(value: Any) -> Any:
    """A static attribute's key: its value, through lists, tuples and dicts (an in-place
    change of a list attribute retraces too); other unhashable objects by identity."""
    if isinstance(value, list | tuple):
        return (type(value), tuple(_key_of(v) for v in value))
    if isinstance(value, dict):
        return (dict, tuple(sorted(((repr(k), _key_of(v)) for k, v in value.items()))))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))  # the same object; a change inside it is not seen
    return (type(value), value)


class InstanceKey:
    """A static jit argument: the instance, compared by its class and static attributes (two
    instances configured alike share one trace; their arrays are inputs)."""

    __slots__ = ("instance", "key")

    def __init__(self, instance: Any, key: tuple) -> None:
        self.instance, self.key = instance, key

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InstanceKey) and self.key == other.key


def call_with_state(fun: Callable[..., Any]) -> Callable[..., Any]:
    """``fun(self, *args)`` as ``g(instance_key, arrays, *args)``: a shallow copy of the
    instance whose array attributes are the traced ``arrays``."""

    def with_state(instance_key: InstanceKey, arrays: dict, *args: Any, **kwargs: Any) -> Any:
        proxy = copy.copy(instance_key.instance)
        for name, value in arrays.items():
            object.__setattr__(proxy, name, value)
        return fun(proxy, *args, **kwargs)

    with_state.__name__ = getattr(fun, "__name__", "method")
    return with_state


class BoundMethod:
    """A jitted method bound to an instance (what ``instance.method`` returns)."""

    def __init__(self, jitted: Any, instance: Any) -> None:
        self.jitted, self.instance = jitted, instance

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        arrays, key = split_instance(self.instance)
        return self.jitted(key, arrays, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<jitted method {self.jitted.fun.__name__} of {self.instance!r}>"
