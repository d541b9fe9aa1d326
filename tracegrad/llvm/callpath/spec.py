"""Argument specs of the native call path and the CPython/numpy object layout it reads.

Shared by the IR wrapper (:mod:`tracegrad.llvm.callpath.wrapper`) and its Python-side
counterpart (:mod:`tracegrad.llvm.callpath.checks`).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

# PyArrayObject_fields / PyArray_Descr offsets for a non-debug, GIL CPython (numpy 1.x
# and 2.x agree); verified at run time by layout_selftest().
OFF_OB_TYPE = 8
OFF_DATA = 16
OFF_ND = 24
OFF_DIMS = 32
OFF_DESCR = 56
OFF_FLAGS = 64
OFF_DESCR_BYTEORDER = 26
OFF_DESCR_TYPE_NUM = 28
NPY_C_CONTIGUOUS = 0x1
NPY_ALIGNED = 0x100
NPY_WRITEABLE = 0x400
METH_FASTCALL = 0x80


@dataclass(frozen=True)
class Extent:
    """A runtime dimension bound to ``extents[slot]`` by its first occurrence."""

    slot: int


Dim = int | Extent


@dataclass(frozen=True)
class ArgSpec:
    """What one array argument must look like for the kernel to run on it directly."""

    type_num: int  # numpy type number of the dtype (np.dtype(...).num)
    ndim: int
    dims: tuple[Dim, ...]
    writeable: bool = False  # outputs

    def __post_init__(self) -> None:
        dims = tuple(_normalize_dim(d) for d in self.dims)
        object.__setattr__(self, "dims", dims)  # numpy ints become ints
        if len(dims) != self.ndim:
            raise ValueError(f"ArgSpec: {len(dims)} dims given for ndim={self.ndim}")
        _dtype_of(self.type_num)  # raises for unknown type numbers

    @classmethod
    def of(cls, dtype: Any, dims: Sequence[Dim], *, writeable: bool = False) -> ArgSpec:
        """Build from a numpy dtype (or anything np.dtype accepts)."""
        return cls(np.dtype(dtype).num, len(dims), tuple(dims), writeable)

    @property
    def itemsize(self) -> int:
        return _dtype_of(self.type_num).itemsize


def _normalize_dim(d: object) -> Dim:
    if isinstance(d, Extent):
        if d.slot < 0:
            raise ValueError(f"ArgSpec: negative extent slot {d!r}")
        return d
    if isinstance(d, bool) or not hasattr(d, "__index__"):
        raise TypeError(f"ArgSpec: dim {d!r} is neither an int nor an Extent")
    n = operator.index(d)
    if n < 0:
        raise ValueError(f"ArgSpec: negative dim {n}")
    return n


@cache
def _type_table() -> dict[int, np.dtype]:
    table: dict[int, np.dtype] = {}
    for code in np.typecodes["All"]:
        dt = np.dtype(code)
        if dt.itemsize > 0 and dt.kind in "biufc":
            table.setdefault(dt.num, dt)
    return table


def _dtype_of(type_num: int) -> np.dtype:
    try:
        return _type_table()[type_num]
    except KeyError:
        raise ValueError(f"unsupported numpy type number {type_num}") from None


@cache
def accepted_type_nums(type_num: int) -> tuple[int, ...]:
    """Type numbers with the same kind and size (e.g. NPY_LONG and NPY_LONGLONG)."""
    want = _dtype_of(type_num)
    return tuple(
        sorted(
            num
            for num, dt in _type_table().items()
            if dt.kind == want.kind and dt.itemsize == want.itemsize
        )
    )


def dtype_msg(spec: ArgSpec) -> str:
    """The dtype part of a mismatch message (the native wrapper and the Python binder say
    the same)."""
    return f"expected dtype {_dtype_of(spec.type_num).name} in native byte order"


def check_slots(specs: tuple[ArgSpec, ...], n_extents: int) -> None:
    """Every extent slot in ``specs`` is below ``n_extents`` and each one is bound (a
    ValueError otherwise: a bug in the caller, not in the user's arguments)."""
    slots = {d.slot for s in specs for d in s.dims if isinstance(d, Extent)}
    bad = sorted(s for s in slots if s >= n_extents)
    unbound = sorted(set(range(n_extents)) - slots)
    if bad or unbound:
        raise ValueError(
            f"extent slots out of range {bad} or never bound {unbound} (n_extents={n_extents})"
        )
