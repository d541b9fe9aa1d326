"""The primitive table: one row per ``Op`` holding everything about it.

A row declares the op's type rule (operand types and attributes -> result type), its numpy
reference implementation (the interpreter and every oracle use it), its VJP rule (or
``NONDIFF``), and how the backend lowers it (``Lowering``). Rows are registered by the modules
``elementwise``, ``structural`` and ``special``; ``PRIMS`` maps every Op to its row.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegrad.errors import DTypeError
from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.types import TensorType

TypeRule = Callable[[tuple[TensorType, ...], dict[str, Any]], TensorType]
NumpyImpl = Callable[..., np.ndarray]
# vjp(ct, out, attrs) -> one cotangent (or None for a symbolic zero) per operand of ``out``
VjpRule = Callable[..., tuple[Any, ...]]


class Lowering(enum.Enum):
    """How the LLVM backend implements an op (the backend has one emitter per kind)."""

    LEAF = "leaf"  # params and constants become buffers
    ELEMENTWISE = "elementwise"  # a scalar expression inside a fused loop nest
    REDUCTION = "reduction"  # a loop nest with accumulators
    SCAN = "scan"  # cumulative along one axis
    MOVEMENT = "movement"  # index arithmetic only (broadcast, reshape, slice...)
    INDEXED = "indexed"  # data-dependent indices (gather, scatter-add)
    CONTRACTION = "contraction"  # BLAS


class _NonDiff:
    """Marker for ops whose output carries no gradient (ints, bools, piecewise constants)."""

    def __repr__(self) -> str:
        return "NONDIFF"


NONDIFF = _NonDiff()


@dataclass(frozen=True)
class Prim:
    op: Op
    type_rule: TypeRule
    numpy_impl: NumpyImpl
    lowering: Lowering
    vjp: VjpRule | _NonDiff | None = None
    infix: str | None = None  # Theano-style operator for pp, e.g. "+"
    doc: str = ""


PRIMS: dict[Op, Prim] = {}


def register(prim: Prim) -> Prim:
    if prim.op in PRIMS:
        raise ValueError(f"duplicate row for {prim.op}")
    PRIMS[prim.op] = prim
    return prim


def set_vjp(op: Op, rule: VjpRule | _NonDiff) -> None:
    """Fill the VJP slot of a row (used by the row modules, next to the row)."""
    PRIMS[op] = PRIMS[op].__class__(**{**PRIMS[op].__dict__, "vjp": rule})


def lazy_build() -> Any:
    """``tracegrad.ir.build`` for VJP rules: imported on use, since build imports the table."""
    from tracegrad.ir import build

    return build


def require(condition: bool, message: str) -> None:
    if not condition:
        raise DTypeError(message)


def require_dtype(op: Op, t: TensorType, allowed: tuple[DType, ...]) -> None:
    if t.dtype not in allowed:
        names = ", ".join(d.value for d in allowed)
        raise DTypeError(f"{op.value} needs {names} operands, got {t.dtype.value}")


FLOATS = (DType.FLOAT32, DType.FLOAT64)
INTS = (DType.INT32, DType.INT64)
NUMERIC = INTS + FLOATS
ALL = (DType.BOOL,) + NUMERIC
