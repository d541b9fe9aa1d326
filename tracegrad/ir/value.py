"""Values and Functions: the immutable, interned SSA graph.

A ``Value`` is one SSA node: an ``Op``, its ``TensorType``, operand Values and attributes.
Structurally equal Values are the same object (hash-consing), so common subexpressions are
shared by construction and a pass never mutates anything: it builds new Values.

>>> from tracegrad.ir.value import Value, const, param, Function
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> from tracegrad.ir.ops import Op
>>> x = param(0, TensorType(DType.FLOAT64, (3,)), "x")
>>> y1 = Value.make(Op.NEG, x.type, (x,))
>>> y1 is Value.make(Op.NEG, x.type, (x,))
True
"""

from __future__ import annotations

import itertools
import struct
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracegrad.ir import forksafe
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import TracerBoolError
from tracegrad.ir.ops import Op
from tracegrad.ir.types import TensorType

Attrs = tuple[tuple[str, Any], ...]


class ConstData:
    """A constant's array, hashed and compared by dtype, shape and bit pattern.

    Keying by bits keeps -0.0 and 0.0 apart and lets NaN constants be interned.
    """

    __slots__ = ("array", "_key", "_hash")

    def __init__(self, array: np.ndarray) -> None:
        array = np.array(array, copy=True, order="C")
        array.setflags(write=False)
        self.array = array
        self._key = (array.dtype.str, array.shape, array.tobytes())
        self._hash = hash(self._key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConstData) and self._key == other._key

    def __repr__(self) -> str:
        return f"ConstData({self.array!r})"


# The intern table: key -> weak reference; an entry dies with its Value. Keys hold operand
# ids, which stay valid because a live Value keeps its operands alive.
_TABLE: dict[tuple, weakref.ref] = {}


def _forget(key: tuple) -> Callable[[weakref.ref], None]:
    def drop(ref: weakref.ref) -> None:
        if _TABLE.get(key) is ref:
            del _TABLE[key]

    return drop


class Value:
    """An immutable, interned SSA node. Build one with ``Value.make``."""

    __slots__ = ("op", "type", "operands", "attrs", "loc", "__weakref__")

    op: Op
    type: TensorType
    operands: tuple[Value, ...]
    attrs: Attrs
    loc: str | None

    _lock = forksafe.reset_in_child(threading.Lock())

    def __new__(cls, *args: object, **kwargs: object) -> Value:
        raise TypeError("use Value.make(...) so equal values are shared")

    @classmethod
    def make(
        cls,
        op: Op,
        type: TensorType,
        operands: tuple[Value, ...] = (),
        attrs: Attrs | dict[str, Any] = (),
        loc: str | None = None,
    ) -> Value:
        """The unique Value with these fields (created on first request)."""
        if attrs.__class__ is dict:
            attrs = tuple(sorted(attrs.items()))  # type: ignore[union-attr]
        key = (op, type, tuple(map(id, operands)), _attrs_key(attrs) if attrs else ())  # type: ignore[arg-type]
        ref = _TABLE.get(key)  # a plain dict read: lookups of existing Values take no lock
        if ref is not None:
            found = ref()
            if found is not None:
                return found
        with cls._lock:
            ref = _TABLE.get(key)
            found = None if ref is None else ref()
            if found is not None:
                return found
            value = object.__new__(cls)
            for name, item in (("op", op), ("type", type), ("operands", operands)):
                object.__setattr__(value, name, item)
            object.__setattr__(value, "attrs", attrs)
            object.__setattr__(value, "loc", loc)
            _TABLE[key] = weakref.ref(value, _forget(key))
            return value

    def __setattr__(self, name: str, item: object) -> None:
        raise AttributeError("Value is immutable")

    def attr(self, name: str, default: Any = ...) -> Any:
        for key, item in self.attrs:
            if key == name:
                return item
        if default is ...:
            raise KeyError(f"{self.op.value} has no attribute {name!r}")
        return default

    @property
    def dtype(self) -> DType:
        return self.type.dtype

    @property
    def shape(self) -> tuple:
        return self.type.shape

    @property
    def ndim(self) -> int:
        return len(self.type.shape)

    def __bool__(self) -> bool:
        raise TracerBoolError("an IR Value has no truth value; use where() to select")

    def __repr__(self) -> str:
        return f"<Value {self.op.value} {self.type}>"


def _attr_key(item: Any) -> Any:
    """Floats by bit pattern (so -0.0 and 0.0 differ and NaN equals itself)."""
    if type(item) is float:
        return ("float", struct.pack("<d", item))
    if type(item) is tuple:
        return tuple(_attr_key(i) for i in item)
    return item


def _attrs_key(attrs: Attrs) -> Any:
    return tuple((name, _attr_key(item)) for name, item in attrs)


def const(array: object, dtype: DType | None = None) -> Value:
    """The interned constant Value holding ``array`` (cast to ``dtype`` when given)."""
    data = np.asarray(array, dtype=None if dtype is None else dtype.numpy)
    kind = DType.from_numpy(data.dtype)
    return Value.make(
        Op.CONST, TensorType(kind, tuple(data.shape)), (), (("data", ConstData(data)),)
    )


_trace_ids = itertools.count(1)


def new_trace_id() -> int:
    """A fresh id; params of different traces never intern to the same Value."""
    return next(_trace_ids)


def param(index: int, type: TensorType, name: str = "", trace: int = 0) -> Value:
    return Value.make(Op.PARAM, type, (), (("index", index), ("name", name), ("trace", trace)))


def const_value(value: Value) -> np.ndarray | None:
    """The array of a CONST Value, or None for any other Value."""
    return value.attr("data").array if value.op is Op.CONST else None


@dataclass(frozen=True, eq=False)
class Function:
    """A DAG of Values with parameters and outputs; ``order`` is a deterministic topological
    order of every Value the outputs depend on (params first, in parameter order)."""

    name: str
    params: tuple[Value, ...]
    outputs: tuple[Value, ...]
    order: tuple[Value, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "order", topological_order(self.outputs, self.params))

    def _key(self) -> tuple:
        return (self.name, tuple(map(id, self.params)), tuple(map(id, self.outputs)))

    def __eq__(self, other: object) -> bool:
        # Values are interned, so equal ids mean structurally equal graphs
        return isinstance(other, Function) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        from tracegrad.ir.printer import print_function

        return print_function(self)

    def ops(self) -> Iterator[Value]:
        """Values that are neither params nor constants."""
        return (v for v in self.order if v.op not in (Op.PARAM, Op.CONST))

    def count_ops(self) -> int:
        return sum(1 for _ in self.ops())


def topological_order(outputs: Iterable[Value], params: Iterable[Value] = ()) -> tuple[Value, ...]:
    """Iterative post-order DFS (no recursion, so 10^5-node graphs are fine)."""
    seen: set[int] = set()
    order: list[Value] = []
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            order.append(p)
    for root in outputs:
        if id(root) in seen:
            continue
        stack: list[tuple[Value, int]] = [(root, 0)]
        seen.add(id(root))
        while stack:
            node, i = stack[-1]
            if i < len(node.operands):
                stack[-1] = (node, i + 1)
                child = node.operands[i]
                if id(child) not in seen:
                    seen.add(id(child))
                    stack.append((child, 0))
            else:
                stack.pop()
                order.append(node)
    return tuple(order)


def users(function: Function) -> dict[int, list[Value]]:
    """Map id(value) -> the Values in ``function`` that use it (in order)."""
    result: dict[int, list[Value]] = {id(v): [] for v in function.order}
    for v in function.order:
        for operand in v.operands:
            result[id(operand)].append(v)
    return result
