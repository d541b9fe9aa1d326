"""Symbolic variables for the Theano-style front end.

A symbolic variable is a ``Tracer`` whose Value is an IR parameter with symbolic dims and whose
trace is ``None``: it belongs to no jit/grad trace, so it is never popped and never leaks. Every
operator and ``tracegrad.numpy`` function works on it and returns another symbolic Tracer (the
namespace wraps results with the current trace, which is ``None`` at top level). A dim declared
as 1 (``T.row``/``T.col``) broadcasts; a symbolic dim never does, as in Theano.

>>> import tracegrad.tensor as T
>>> x = T.dmatrix('x')
>>> x
x
>>> x.ndim, x.dtype
(2, dtype('float64'))
>>> (x * 2).ndim
2

Dims are named after the variable (``x.0``, ``x.1``); a later variable with the same name gets
``x#2.0``..., because dims with equal names are the same dim.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir import forksafe
from tracegrad.ir import types as ir_types
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import DTypeError, UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.types import Dim, DimLike, format_shape
from tracegrad.ir.value import Value, new_trace_id, param
from tracegrad.numpy._core import dtype_arg
from tracegrad.tracing.tracer import Tracer

# The trace id shared by every symbolic parameter (so they never intern with jit's params).
SYMBOLIC_TRACE = new_trace_id()
FLOATX = "float64"

_indices = itertools.count()
_names_lock = forksafe.reset_in_child(threading.Lock())
_dim_prefixes: set[str] = set()


class Expression(Tracer):
    """A symbolic expression: what ``T.*`` and numpy functions build from symbolic variables.
    It has Theano's methods besides numpy's.

    >>> import numpy as np, tracegrad.tensor as T
    >>> x = T.dmatrix('x')
    >>> (x * 2).dimshuffle(1, 'x', 0).ndim
    3
    >>> (x.sum() * 2).eval({x: np.ones((2, 3))})
    array(12.)
    """

    __slots__ = ()
    # dict keys in Theano's API (givens, copy(swap=...)): hashed by identity, and dicts
    # compare identity before == (which stays elementwise, as for any array)
    __hash__ = object.__hash__

    def dimshuffle(self, *pattern: int | str) -> Any:
        """Reorder axes, add length-1 axes (``'x'``) and drop length-1 axes (left out)."""
        from tracegrad import numpy as tnp

        if len(pattern) == 1 and isinstance(pattern[0], list | tuple):
            pattern = tuple(pattern[0])
        kept = [p for p in pattern if p != "x"]
        if len(set(kept)) != len(kept) or any(
            not isinstance(p, int) or not 0 <= p < self.ndim for p in kept
        ):
            raise ValueError(f"dimshuffle{pattern}: axes must be distinct, 0..{self.ndim - 1}")
        dropped = [a for a in range(self.ndim) if a not in kept]
        if any(self.value.shape[a] != 1 for a in dropped):
            raise ValueError(f"dimshuffle{pattern} drops an axis whose length is not 1")
        out = tnp.squeeze(self, tuple(dropped)) if dropped else self
        order = sorted(kept)
        out = tnp.transpose(out, tuple(order.index(p) for p in kept))
        for position, p in enumerate(pattern):
            if p == "x":
                out = tnp.expand_dims(out, position)
        return out

    @property
    def shape(self) -> SymbolicShape:  # type: ignore[override]
        """Theano's symbolic shape: a tuple of ints (static lengths) and ``DimScalar``
        expressions (symbolic lengths), usable in arithmetic: ``x.sum() / x.shape[0]``."""
        return SymbolicShape(self.value.shape)

    @property
    def size(self) -> Any:  # type: ignore[override]
        """The number of elements: an int, or a symbolic int64 scalar."""
        total: Any = 1
        for n in self.shape:
            total = total * n
        return total

    def reshape(self, *shape: Any, ndim: int | None = None, order: str = "C") -> Any:
        """``x.reshape((x.shape[0], -1))``: the lengths may be ints or symbolic lengths."""
        from tracegrad import numpy as tnp

        if len(shape) == 1 and isinstance(shape[0], list | tuple):
            shape = tuple(shape[0])
        if ndim is not None and ndim != len(shape):
            raise ValueError(f"reshape: ndim={ndim} but the new shape has {len(shape)} entries")
        return tnp.reshape(self, reshape_dims(self.value, shape), order=order)

    def eval(self, inputs_to_values: dict | None = None) -> Any:
        """The value for these inputs (``{variable: value}``), compiled and run once."""
        given = dict(inputs_to_values or {})
        return _COMPILER.function(list(given), self)(*given.values())


class DimScalar(Expression):
    """The length of a symbolic dim as a symbolic int64 scalar (``x.shape[0]``): usable in
    arithmetic like any expression, and as a length (``T.arange(x.shape[0])``, reshape).

    >>> import numpy as np, tracegrad.tensor as T
    >>> x = T.dmatrix('x')
    >>> (x.sum() / x.shape[0]).eval({x: np.ones((4, 3))})
    array(3.)
    """

    __slots__ = ("dim",)

    dim: Dim

    def __repr__(self) -> str:
        return f"<length of dim {self.dim.name}>"


class SymbolicShape(tuple):
    """``x.shape`` of a symbolic variable: ints and ``DimScalar`` lengths."""

    __slots__ = ()

    def __new__(cls, dims: Sequence[DimLike]) -> SymbolicShape:
        return super().__new__(cls, (dim_scalar(d) if isinstance(d, Dim) else d for d in dims))


def dim_scalar(d: Dim) -> DimScalar:
    """The symbolic length of dim ``d`` (computed at call time as a count of ones)."""
    value = bs.sum(b.full((d,), 1, DType.INT64))
    out = DimScalar(value, None)  # type: ignore[arg-type]
    out.dim = d
    return out


def dims_of(shape: Sequence[Any]) -> tuple[Any, ...]:
    """A shape for the numpy layer: symbolic lengths (``x.shape[0]``) become their dims."""
    out = []
    for n in shape:
        if isinstance(n, DimScalar):
            out.append(n.dim)
        elif isinstance(n, Tracer):
            raise TypeError(
                "a length must be an int or the symbolic length of a dim (x.shape[k]); "
                "a length computed from values is not supported"
            )
        else:
            out.append(n)
    return tuple(out)


def reshape_dims(source: Value, shape: Sequence[Any]) -> tuple[Any, ...]:
    """The new shape of a reshape of ``source``, its symbolic lengths as dims. Keeping as many
    axes longer than 1 as before (``(x.shape[0], 1)``), the dims must stay in order: the
    call-time checks take those dims of a reshape to be the same lengths."""
    new = dims_of(shape)
    if any(isinstance(d, Dim) for d in (*new, *source.shape)):
        kept_in = [d for d in source.shape if d != 1]
        kept_out = [d for d in new if d != 1]
        if len(kept_in) == len(kept_out) and kept_in != kept_out:
            raise UnsupportedError(
                f"reshape from {format_shape(source.shape)} to {format_shape(new)}: with "
                "symbolic lengths, a reshape that keeps the number of axes longer than 1 may only "
                "add or drop length-1 axes"
            )
    return new


class _Compiler:
    """``tracegrad.function``, which registers itself here when it is imported
    (``use_compiler``): it is built on this module, so this module cannot import it."""

    function: Any = None


_COMPILER = _Compiler()


def use_compiler(function: Any) -> None:
    _COMPILER.function = function


class Variable(Expression):
    """A named symbolic input (``T.dmatrix('x')``). Expressions built from it are
    ``Expression`` objects."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return str(self.value.attr("name"))

    @property
    def type(self) -> TensorType:
        """Theano's type of the variable: ``T.dscalar('x').type is T.dscalar``."""
        flags = tuple(d == 1 for d in self.value.shape)
        return TensorType(self.value.dtype.numpy, flags)

    def __repr__(self) -> str:
        return self.name or f"<{self.type!r}>"  # Theano: <TensorType(int64, scalar)>


def is_symbolic(x: Any) -> bool:
    """True for symbolic variables and the expressions built from them."""
    return isinstance(x, Tracer) and x.trace is None


def value_of(x: Any, what: str = "argument") -> Value:
    """The IR Value of a symbolic expression (or a constant for arrays and numbers)."""
    if isinstance(x, Value):
        return x
    if isinstance(x, Tracer):
        if x.trace is not None:
            raise TypeError(
                f"{what} is a value traced by jit/grad, not a symbolic variable; the "
                "tracegrad.tensor API works on T.dscalar(...)/T.dmatrix(...) expressions"
            )
        return x.value
    if isinstance(x, (bool, int, float, np.ndarray, np.generic, list, tuple)):
        return b.to_value(x)
    raise TypeError(f"{what} must be a symbolic expression, got {type(x).__name__}")


def symbolic(value: Value) -> Expression:
    """Wrap an IR Value as a symbolic expression."""
    return Expression(value, None)  # type: ignore[arg-type]


def _dim_prefix(name: str) -> str:
    """Dims are compared by name, so every variable gets its own prefix: ``x``, ``x#2``..."""
    base = name or "v"
    with _names_lock:
        prefix, n = base, 1
        while prefix in _dim_prefixes:
            n += 1
            prefix = f"{base}#{n}"
        _dim_prefixes.add(prefix)
    return prefix


def tensor(
    dtype: Any = None, broadcastable: Sequence[bool] = (), name: str | None = None
) -> Variable:
    """A symbolic tensor: one dim per entry of ``broadcastable`` (True means length 1).

    >>> import tracegrad.tensor as T
    >>> c = T.tensor('float32', (False, True), name='c')
    >>> c.dtype, c.shape[1]
    (dtype('float32'), 1)
    """
    kind = dtype_arg(dtype if dtype is not None else FLOATX)  # np.dtype(...) is falsy
    assert kind is not None
    prefix = _dim_prefix(name or "")
    shape: tuple[DimLike, ...] = tuple(
        1 if flag else Dim(f"{prefix}.{k}") for k, flag in enumerate(broadcastable)
    )
    value = param(next(_indices), ir_types.TensorType(kind, shape), name or "", SYMBOLIC_TRACE)
    return Variable(value, None)  # type: ignore[arg-type]


class TensorType:
    """Theano's ``TensorType(dtype, broadcastable)``: call it with a name for a variable.
    ``T.dscalar``, ``T.fmatrix``... are instances; types are equal when their dtype and
    broadcastable flags are, and one object stands for each (``x.type is T.dscalar``).

    >>> import tracegrad.tensor as T
    >>> T.TensorType('float64', (False, True))('x').shape[1]
    1
    >>> T.dscalar('x').type, T.dscalar('x').type is T.dscalar
    (TensorType(float64, scalar), True)
    """

    _canonical: dict[tuple[str, tuple[bool, ...]], TensorType] = {}

    def __new__(cls, dtype: Any, broadcastable: Sequence[bool]) -> TensorType:
        key = (str(np.dtype(dtype)), tuple(bool(b) for b in broadcastable))
        with _names_lock:
            found = cls._canonical.get(key)
            if found is None:
                found = cls._canonical[key] = super().__new__(cls)
                found.dtype, found.broadcastable = key
        return found

    dtype: str
    broadcastable: tuple[bool, ...]

    @property
    def ndim(self) -> int:
        return len(self.broadcastable)

    def __call__(self, name: str | None = None) -> Variable:
        if self.dtype == "int8" and not any(d.numpy == np.dtype("int8") for d in DType):
            raise DTypeError(
                "int8 variables (the b family: T.bscalar, T.bvector...) need an int8 dtype, "
                "which tracegrad does not have yet; use the i (int32) or l (int64) family"
            )
        return tensor(self.dtype, self.broadcastable, name)

    def __repr__(self) -> str:
        names = {(): "scalar", (False,): "vector", (False, False): "matrix"}
        names |= {(True, False): "row", (False, True): "col"}
        b = self.broadcastable
        shape = names.get(b) or (str(b) if any(b) else f"{len(b)}D")
        return f"TensorType({self.dtype}, {shape})"


def fresh_param(type_: ir_types.TensorType, name: str) -> Value:
    """A new symbolic parameter (used for dummy cotangents and substitutions)."""
    return param(next(_indices), type_, name, SYMBOLIC_TRACE)


def is_param(value: Value) -> bool:
    return value.op is Op.PARAM


__all__ = [
    "DimScalar", "DType", "Expression", "is_symbolic", "symbolic", "SymbolicShape", "tensor",
    "TensorType", "value_of", "Variable",
]  # fmt: skip
