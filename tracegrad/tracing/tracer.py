"""Tracer: the stand-in for an array while a function is traced.

A Tracer holds the current SSA Value of one array variable and speaks numpy: operators,
``__array_ufunc__`` (``np.exp(x)``), ``__array_function__`` (``np.sum(x)``), methods and
properties. In-place updates (``x += 1``, ``x[i] = v``) rebind the Tracer to a new Value, so
numpy code that assigns works while the IR stays immutable. Python control flow on a Tracer
raises ``TracerBoolError`` naming the user's line.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

from tracegrad.ir.errors import ConcretizationError, TracegradError, TracerBoolError
from tracegrad.ir.ops import Op
from tracegrad.ir.types import format_shape
from tracegrad.ir.value import Value
from tracegrad.tracing import views
from tracegrad.tracing.concrete import note
from tracegrad.tracing.context import Trace, is_active
from tracegrad.tracing.location import user_line_text, user_location


class _Concretized(threading.local):
    where: str | None = None


CONCRETIZED = _Concretized()


class LeakedTracerError(TracegradError, RuntimeError):
    """A Tracer was used after the trace that made it had finished."""


class Tracer:
    __slots__ = ("value", "trace", "weak", "alias", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, value: Value, trace: Trace, weak: bool = False) -> None:
        self.value = value
        self.trace = trace
        self.weak = weak
        self.alias: views.Alias | None = None  # its view family (tracing/views.py)

    def value_in(self, trace: Trace | None) -> Value:
        """This tracer's Value as seen from ``trace`` (lifting it if it is from outside)."""
        if trace is self.trace:
            return self.value
        if self.trace is None:
            if trace is not None and trace.lifts_symbolic:  # a loop body over symbolic values
                return trace.lift(Tracer(self.value, None, self.weak), self.value)
            raise TracegradError(
                "a symbolic tracegrad.tensor variable was used inside a jit/grad-traced "
                "function; compile symbolic graphs with tracegrad.function(inputs, outputs)"
            )
        if not is_active(self.trace):
            raise LeakedTracerError(
                "a traced value escaped its trace (stored in a global or returned through a "
                "side channel) and was used later; return it from the function instead"
            )
        if trace is None or trace.level < self.trace.level:
            raise LeakedTracerError("internal error: tracer used outside of its trace")
        return trace.lift(Tracer(self.value, self.trace, self.weak), self.value)

    # ---- properties ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.value.shape

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype.numpy

    @property
    def size(self) -> int:
        return self.value.type.size

    @property
    def T(self) -> Tracer:  # noqa: N802
        return _viewed(self, tnp.transpose(self), lambda g: g.T)

    @property
    def mT(self) -> Tracer:  # noqa: N802
        return _viewed(self, tnp.swapaxes(self, -1, -2), lambda g: g.swapaxes(-1, -2))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        if not isinstance(self.shape[0], int):
            raise ConcretizationError("len() of a symbolic dimension")
        return self.shape[0]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        weak = ", weak" if self.weak else ""
        return f"Tracer<{self.value.type}{weak}>"

    # ---- concrete conversions are errors ------------------------------------------------
    def _control_flow_error(self, what: str) -> TracerBoolError:
        where = user_line_text(user_location())
        note(self.value, where)  # a Python int argument may be specialized on (jit, grad)
        return TracerBoolError(
            f"{what} on a traced value of shape {format_shape(self.shape)} at {where}\n"
            "Its value is not known while tracing. Use tracegrad.numpy.where(cond, a, b) "
            "(or np.where) to select between values, or mark the argument static "
            "(jit(f, static_argnums=...))."
        )

    def __bool__(self) -> bool:
        raise self._control_flow_error("Python `if`/`while`/bool()")

    def __int__(self) -> int:
        raise self._control_flow_error("int()")

    def __float__(self) -> float:
        # numpy calls float() when a Tracer is stored into a concrete array and replaces our
        # error with its own; remember where, so trace() can report it properly.
        CONCRETIZED.where = user_line_text(user_location())
        raise self._control_flow_error("float()")

    def __index__(self) -> int:
        raise self._control_flow_error("using it as a Python index")

    def item(self) -> Any:
        raise self._control_flow_error(".item()")

    def tolist(self) -> Any:
        raise self._control_flow_error(".tolist()")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        where = user_line_text(user_location())
        note(self.value, where)
        raise ConcretizationError(
            f"a traced value cannot become a concrete numpy array (at {where}). "
            "np.asarray(x)/np.array(x) on a traced value: drop the call (traced values "
            "already act as arrays) or use tracegrad.numpy.asarray. Filling a numpy array "
            "(out = np.zeros(3); out[0] = x): build it with np.zeros_like(x) instead, or use "
            "np.stack. Indexing a numpy array by a traced value (table[i]): write "
            "tracegrad.numpy.asarray(table)[i]. A list of traced values given to a numpy "
            "function (np.sum([a, b])): use tracegrad.numpy.asarray([a, b])."
        )

    # ---- numpy protocols ----------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return _NUMPY.dispatch_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        result = _NUMPY.dispatch_function(func, args, kwargs)
        if func in views.VIEW_FUNCTIONS and args and args[0] is self:
            rest = args[1:]
            views.link(self, result, lambda g: func(g, *rest, **kwargs))
        return result

    # ---- indexing -----------------------------------------------------------------------
    def __getitem__(self, index: Any) -> Tracer:
        result = tnp.getitem(self, index)
        parts = index if type(index) is tuple else (index,)
        # numpy: a basic index gives a view, except a scalar for integers only (x[0] of 1-d)
        if views.is_basic(parts) and (result.ndim or any(p is None or p is ... for p in parts)):
            traced = tuple(p.value for p in parts if isinstance(p, Tracer))
            views.link_index(self, result, index, traced)
        return result

    def __setitem__(self, index: Any, update: Any) -> None:
        result = tnp.setitem(self, index, update)
        self.rebind(result)

    def rebind(self, result: Tracer) -> None:
        """Make this Tracer stand for ``result``: numpy's in-place updates (``x += 1``,
        ``x[i] = v``, ``np.add.at(x, i, v)``) on a traced array."""
        if result.trace is not self.trace:
            raise TracegradError("in-place update of a value from an enclosing trace")
        if self.alias is not None:  # a view, or an array views were taken of
            views.write(self, result, tnp, _warn_argument_update)
            return
        if self.trace is not None and self.value.op is Op.PARAM:
            _warn_argument_update()
        self.value = result.value

    # ---- methods ------------------------------------------------------------------------
    def astype(self, dtype: Any, copy: bool = True) -> Tracer:
        return tnp.astype(self, dtype)

    def reshape(self, *shape: Any, order: str = "C") -> Tracer:
        new = shape[0] if len(shape) == 1 else shape
        return _viewed(self, tnp.reshape(self, new), lambda g: g.reshape(new))

    def transpose(self, *axes: Any) -> Tracer:
        perm = axes[0] if len(axes) == 1 else (axes or None)
        return _viewed(self, tnp.transpose(self, perm), lambda g: g.transpose(perm))

    def flatten(self) -> Tracer:
        return tnp.reshape(self, (-1,))  # always a copy

    def ravel(self) -> Tracer:
        return _viewed(self, tnp.reshape(self, (-1,)), lambda g: g.ravel())

    def squeeze(self, axis: Any = None) -> Tracer:
        return _viewed(self, tnp.squeeze(self, axis), lambda g: g.squeeze(axis))

    def sum(self, axis: Any = None, keepdims: bool = False, dtype: Any = None) -> Tracer:
        return tnp.sum(self, axis=axis, keepdims=keepdims, dtype=dtype)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return tnp.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return tnp.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return tnp.min(self, axis=axis, keepdims=keepdims)

    def prod(self, axis: Any = None, keepdims: bool = False) -> Tracer:
        return tnp.prod(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: Any = None) -> Tracer:
        return tnp.argmax(self, axis=axis)

    def argmin(self, axis: Any = None) -> Tracer:
        return tnp.argmin(self, axis=axis)

    def cumsum(self, axis: Any = None) -> Tracer:
        return tnp.cumsum(self, axis=axis)

    def var(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tracer:
        return tnp.var(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def std(self, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tracer:
        return tnp.std(self, axis=axis, keepdims=keepdims, ddof=ddof)

    def dot(self, other: Any) -> Tracer:
        return tnp.dot(self, other)

    def clip(self, a_min: Any = None, a_max: Any = None) -> Tracer:
        return tnp.clip(self, a_min, a_max)

    def copy(self) -> Tracer:
        return Tracer(self.value, self.trace, self.weak)

    # ---- operators ----------------------------------------------------------------------
    def __neg__(self) -> Tracer:
        return tnp.negative(self)

    def __pos__(self) -> Tracer:
        return Tracer(self.value, self.trace, self.weak)  # a new array, like numpy's +x

    def __abs__(self) -> Tracer:
        return tnp.abs(self)

    def __invert__(self) -> Tracer:
        return tnp.invert(self)


def _viewed(source: Tracer, result: Tracer, apply: Any) -> Tracer:
    """``result``, linked to ``source`` when numpy's ``apply`` would make it a view."""
    views.link(source, result, apply)
    return result


def _binary(name: str, reflected: bool = False):  # type: ignore[no-untyped-def]
    def method(self: Tracer, other: Any) -> Tracer:
        fn = getattr(tnp, name)
        return fn(other, self) if reflected else fn(self, other)

    return method


class InPlaceArgumentWarning(UserWarning):
    """An in-place update (``x += 1``, ``x[i] = v``) of a traced function's argument: numpy
    changes the caller's array, a traced function cannot (it returns new arrays)."""


def _warn_argument_update() -> None:
    location = user_location()
    filename, _, line = (location or "<unknown>:0").rpartition(":")
    warnings.warn_explicit(  # once per line (Python's default filter)
        f"in-place update of an argument at {user_line_text(location)}: under "
        "tracegrad.jit/grad the caller's array does not change (with numpy it would); "
        "return the new value instead",
        InPlaceArgumentWarning,
        filename,
        int(line) if line.isdigit() else 0,
    )


def _inplace(name: str):  # type: ignore[no-untyped-def]
    def method(self: Tracer, other: Any) -> Tracer:
        result = getattr(tnp, name)(self, other)
        if result.value.dtype is not self.value.dtype:
            if not np.can_cast(result.dtype, self.dtype, casting="same_kind"):
                raise TypeError(
                    f"Cannot cast ufunc '{name}' output from {result.dtype} to {self.dtype} "
                    "with casting rule 'same_kind'"
                )
            result = tnp.astype(result, self.dtype)
        self.rebind(result)
        return self

    return method


_OPERATORS = {
    "add": "add", "sub": "subtract", "mul": "multiply", "truediv": "divide",
    "floordiv": "floor_divide", "mod": "remainder", "pow": "power", "matmul": "matmul",
    "and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor",
}  # fmt: skip
for _dunder, _name in _OPERATORS.items():
    setattr(Tracer, f"__{_dunder}__", _binary(_name))
    setattr(Tracer, f"__r{_dunder}__", _binary(_name, reflected=True))
    setattr(Tracer, f"__i{_dunder}__", _inplace(_name))
_COMPARISONS = {
    "lt": "less", "le": "less_equal", "gt": "greater",
    "ge": "greater_equal", "eq": "equal", "ne": "not_equal",
}  # fmt: skip
for _dunder, _name in _COMPARISONS.items():
    setattr(Tracer, f"__{_dunder}__", _binary(_name))
Tracer.__hash__ = None  # type: ignore[assignment]  # like ndarray: == is elementwise


class _Numpy:
    """The numpy namespace a Tracer's methods and protocols forward to. ``tracegrad.numpy``
    sits above this module (it builds IR on Tracers), so it is installed here when the
    package loads (``install_numpy``) instead of imported: no import cycle."""

    namespace: Any = None
    dispatch_ufunc: Any = None
    dispatch_function: Any = None


_NUMPY = _Numpy()
tnp: Any = None  # the namespace itself, read by the methods above at call time


def numpy_entry(fun: Any) -> Any:
    """``fun``, or for a numpy function or ufunc traced on top-level lists or tuples
    (``jit(np.sum)([1.0, 2.0])``) a call of tracegrad's implementation: numpy never
    dispatches a list of Tracers (it would try to make an array of them), while eager numpy
    takes such a list as the array ``np.asarray([1.0, 2.0])``, and so does tracegrad's."""
    if isinstance(fun, np.ufunc):

        def ufunc(*args: Any, **kwargs: Any) -> Any:
            if not _has_sequence(args, kwargs):
                return fun(*args, **kwargs)
            return _NUMPY.dispatch_ufunc(fun, "__call__", args, kwargs)

        return ufunc
    module = getattr(fun, "__module__", None) or ""
    if not (module == "numpy" or module.startswith("numpy.")) or not callable(fun):
        return fun

    def function(*args: Any, **kwargs: Any) -> Any:
        for a in (*args[1:], *kwargs.values()):
            if type(a) is Tracer and a.weak and a.dtype.kind in "biu":
                # an int parameter (axis, ddof, k): jit and grad specialize on its value
                raise a._control_flow_error(f"numpy.{fun.__name__}'s int parameter")
        if not _has_sequence(args, kwargs):
            return fun(*args, **kwargs)
        return _NUMPY.dispatch_function(fun, args, kwargs)

    return function


def _has_sequence(args: tuple, kwargs: dict) -> bool:
    return any(isinstance(a, (list, tuple)) for a in (*args, *kwargs.values()))


def install_numpy(namespace: Any, dispatch_ufunc: Any, dispatch_function: Any) -> None:
    """Route Tracer methods (``x.sum()``, ``x + y``) to ``namespace`` and numpy's protocols
    (``np.exp(x)``, ``np.sum(x)``) to the two dispatchers. Called once by ``tracegrad``."""
    global tnp
    tnp = _NUMPY.namespace = namespace
    _NUMPY.dispatch_ufunc = dispatch_ufunc
    _NUMPY.dispatch_function = dispatch_function
