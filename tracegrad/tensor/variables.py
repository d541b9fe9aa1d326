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

from tracegrad.ir import forksafe
from tracegrad.ir import types as ir_types
from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.types import Dim, DimLike
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
        if any(self.shape[a] != 1 for a in dropped):
            raise ValueError(f"dimshuffle{pattern} drops an axis whose length is not 1")
        out = tnp.squeeze(self, tuple(dropped)) if dropped else self
        order = sorted(kept)
        out = tnp.transpose(out, tuple(order.index(p) for p in kept))
        for position, p in enumerate(pattern):
            if p == "x":
                out = tnp.expand_dims(out, position)
        return out

    def eval(self, inputs_to_values: dict | None = None) -> Any:
        """The value for these inputs (``{variable: value}``), compiled and run once."""
        given = dict(inputs_to_values or {})
        return _COMPILER.function(list(given), self)(*given.values())


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
    def type(self) -> ir_types.TensorType:
        return self.value.type

    def __repr__(self) -> str:
        return self.name or f"<{self.value.type}>"


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
        from tracegrad.ir import build as b

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


def _maker(ndim: int, default: str | None, pattern: tuple[bool, ...] | None = None) -> Any:
    flags = pattern if pattern is not None else (False,) * ndim

    def make(name: str | None = None, dtype: Any = None) -> Variable:
        return tensor(dtype if dtype is not None else default, flags, name)

    return make


scalar = _maker(0, None)
vector = _maker(1, None)
matrix = _maker(2, None)
tensor3 = _maker(3, None)
tensor4 = _maker(4, None)
row = _maker(2, None, (True, False))
col = _maker(2, None, (False, True))

dscalar, dvector, dmatrix, dtensor3 = (_maker(n, "float64") for n in range(4))
fscalar, fvector, fmatrix, ftensor3 = (_maker(n, "float32") for n in range(4))
iscalar, ivector, imatrix, itensor3 = (_maker(n, "int32") for n in range(4))
lscalar, lvector, lmatrix, ltensor3 = (_maker(n, "int64") for n in range(4))
bscalar, bvector, bmatrix, btensor3 = (_maker(n, "int8") for n in range(4))  # Theano's 'b'
wscalar, wvector, wmatrix, wtensor3 = (_maker(n, "int16") for n in range(4))  # Theano's 'w'
drow, dcol = _maker(2, "float64", (True, False)), _maker(2, "float64", (False, True))
frow, fcol = _maker(2, "float32", (True, False)), _maker(2, "float32", (False, True))


def _plural(make: Any) -> Any:
    def many(*names: str | int) -> tuple[Variable, ...]:
        """Several variables at once: ``T.dmatrices('a', 'b')`` (or a count: ``(3)``)."""
        if len(names) == 1 and isinstance(names[0], int):
            return tuple(make() for _ in range(names[0]))
        return tuple(make(str(n)) for n in names)

    return many


scalars, vectors, matrices = _plural(scalar), _plural(vector), _plural(matrix)
dscalars, dvectors, dmatrices = _plural(dscalar), _plural(dvector), _plural(dmatrix)
fscalars, fvectors, fmatrices = _plural(fscalar), _plural(fvector), _plural(fmatrix)
iscalars, ivectors, imatrices = _plural(iscalar), _plural(ivector), _plural(imatrix)
lscalars, lvectors, lmatrices = _plural(lscalar), _plural(lvector), _plural(lmatrix)
bscalars, bvectors, bmatrices = _plural(bscalar), _plural(bvector), _plural(bmatrix)
wscalars, wvectors, wmatrices = _plural(wscalar), _plural(wvector), _plural(wmatrix)


class TensorType:
    """Theano's ``TensorType(dtype, broadcastable)``: call it with a name for a variable.

    >>> import tracegrad.tensor as T
    >>> T.TensorType('float64', (False, True))('x').shape[1]
    1
    """

    def __init__(self, dtype: Any, broadcastable: Sequence[bool]) -> None:
        self.dtype = str(np.dtype(dtype))
        self.broadcastable = tuple(bool(b) for b in broadcastable)

    @property
    def ndim(self) -> int:
        return len(self.broadcastable)

    def __call__(self, name: str | None = None) -> Variable:
        return tensor(self.dtype, self.broadcastable, name)

    def __repr__(self) -> str:
        return f"TensorType({self.dtype}, {self.broadcastable})"


def fresh_param(type_: ir_types.TensorType, name: str) -> Value:
    """A new symbolic parameter (used for dummy cotangents and substitutions)."""
    return param(next(_indices), type_, name, SYMBOLIC_TRACE)


def is_param(value: Value) -> bool:
    return value.op is Op.PARAM


__all__ = [
    "DType", "Expression", "TensorType", "Variable", "bmatrices", "bmatrix", "bscalar",
    "bscalars", "btensor3", "bvector", "bvectors", "wmatrices", "wmatrix", "wscalar",
    "wscalars", "wtensor3", "wvector", "wvectors", "col", "dcol", "dmatrices", "dmatrix",
    "drow", "dscalar", "dscalars", "dtensor3", "dvector", "dvectors", "fcol", "fmatrices",
    "fmatrix", "frow", "fscalar", "fscalars", "ftensor3", "fvector", "fvectors", "imatrices",
    "imatrix", "is_symbolic", "iscalar", "iscalars", "itensor3", "ivector", "ivectors",
    "lmatrices", "lmatrix", "lscalar", "lscalars", "ltensor3", "lvector", "lvectors",
    "matrices", "matrix", "row", "scalar", "scalars", "symbolic", "tensor", "tensor3",
    "tensor4", "value_of", "vector", "vectors",
]  # fmt: skip
