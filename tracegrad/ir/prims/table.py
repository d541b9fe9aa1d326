"""The primitive table: one row per ``Op`` holding everything about it.

A row (:class:`Prim`, frozen) declares the op's signature (operand count and attribute names),
its type rule with the builders' promotion kind, its numpy reference implementation (the
interpreter and every oracle use it), its VJP rule (or ``NONDIFF``) given at registration, how
the backend lowers it (``Lowering`` and, for elementwise ops, a :class:`Scalar` spec naming the
emitter and the math-library routine with its ulp bound: data only, ``tracegrad.llvm`` reads
it), how the batching transform maps it (``Batching``), its Theano infix and its numpy names.
The verifier, the builders, the numpy namespace and ufunc dispatch, the LLVM scalar emitter,
the batching transform and the test lists derive from the rows. Rows are registered by the
modules ``elementwise`` and ``structural``; ``PRIMS`` maps every Op to its row.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import DTypeError
from tracegrad.ir.ops import Op
from tracegrad.ir.types import TensorType

TypeRule = Callable[[tuple[TensorType, ...], dict[str, Any]], TensorType]
NumpyImpl = Callable[..., np.ndarray]
# vjp(ct, out, attrs) -> one cotangent (or None for a symbolic zero) per operand of ``out``
VjpRule = Callable[..., Any]  # a tuple; higher-order rows' rules return a list


class Lowering(enum.Enum):
    """How the LLVM backend implements an op (the backend has one emitter per kind)."""

    LEAF = "leaf"  # params and constants become buffers
    ELEMENTWISE = "elementwise"  # a scalar expression inside a fused loop nest
    REDUCTION = "reduction"  # a loop nest with accumulators
    SCAN = "scan"  # cumulative along one axis
    MOVEMENT = "movement"  # index arithmetic only (broadcast, reshape, slice...)
    INDEXED = "indexed"  # data-dependent indices (gather, scatter-add)
    CONTRACTION = "contraction"  # BLAS
    CONTROL = "control"  # loops and branches: sub-Functions run per iteration (prims.control)
    LAPACK = "lapack"  # numpy.linalg (LAPACK) called from the execution plan, no kernel


class Promotion(enum.Enum):
    """How ``build.unary``/``build.binary`` prepare operands before applying the op (NEP 50
    promotion to the common dtype first, then this kind's adjustment)."""

    NONE = "none"  # not built by unary/binary (structural ops have their own builders)
    SAME = "same"  # the common dtype as is
    FLOAT = "float"  # non-float -> its float loop (numpy's exp, arctan2: int8 -> float16)
    TRUE_DIVIDE = "true_divide"  # non-float -> float64 (numpy's true_divide on ints, bools)
    BOOL_IDENTITY = "bool_identity"  # unary: a bool operand is returned unchanged (abs, floor)
    TRUTH = "truth"  # operands become bool by x != 0 (logical ops)
    BOOL_TO_INT = "bool_to_int"  # bool -> int8 (numpy's floor_divide, remainder, power)
    NO_BOOL = "no_bool"  # bool is rejected (numpy's boolean subtract)


class Emitter(enum.Enum):
    """The scalar emitter of ``tracegrad.llvm.codegen.scalar_ops`` an elementwise row uses."""

    MATH = "math"  # a call of the row's math-library routine (float dtypes only)
    NEG = "neg"
    ABS = "abs"
    SIGN = "sign"
    FLOOR = "floor"
    SQRT = "sqrt"
    NOT = "not"
    CAST = "cast"
    ARITH = "arith"  # one instruction per dtype class: args = (float, int, bool) opcodes
    DIV = "div"
    DIVMOD = "divmod"  # numpy's floor_divide / remainder
    MINMAX = "minmax"
    COMPARE = "compare"
    LOGICAL = "logical"
    WHERE = "where"
    INTRINSIC = "intrinsic"  # float: the LLVM intrinsic args[0]; int operands pass through
    FMOD = "fmod"  # C fmod: frem; integer remainder truncates, 0 for a zero divisor


@dataclass(frozen=True)
class MathRoutine:
    """A math-library routine and its asserted error bound in ulp of the result dtype
    (``tests/llvm/test_mathlib.py`` checks it against a long-double reference)."""

    name: str
    ulp_f64: float
    ulp_f32: float = 0.501  # float32 routines are the float64 one rounded once


@dataclass(frozen=True)
class Scalar:
    """An elementwise row's LLVM lowering, as data: the emitter, its instruction arguments,
    and the math routine where it has one."""

    emitter: Emitter
    args: tuple[str, ...] = ()
    routine: MathRoutine | None = None


class Batching(enum.Enum):
    """How the batching transform (``tracegrad.tensor._graph.batch``) rebuilds the op when
    its operands gain leading batch dims."""

    NONE = "none"  # leaves: never batched
    POINTWISE = "pointwise"  # every operand broadcast to the batch; an ``axis`` attr shifts
    AXES = "axes"  # reductions: the ``axes`` attr shifts
    AXIS = "axis"  # one-operand ops with an ``axis`` attr (argmax, cumsum)
    INDEXED = "indexed"  # gather/scatter: the indices may not be batched
    MOVEMENT = "movement"  # a per-op rule in the batching transform (shape attributes)


class _NonDiff:
    """Marker for ops whose output carries no gradient (ints, bools, piecewise constants)."""

    def __repr__(self) -> str:
        return "NONDIFF"


NONDIFF = _NonDiff()


@dataclass(frozen=True)
class Prim:
    op: Op
    arity: int | None  # operand count; None: one or more
    type_rule: TypeRule
    numpy_impl: NumpyImpl
    lowering: Lowering
    vjp: VjpRule | _NonDiff  # a rule, or NONDIFF: every row decides
    attrs: tuple[str, ...] = ()  # attribute names, sorted (the verifier checks them)
    promotion: Promotion = Promotion.NONE
    scalar: Scalar | None = None  # elementwise rows: the LLVM scalar lowering
    batching: Batching = Batching.POINTWISE
    infix: str | None = None  # Theano-style operator for pp, e.g. "+"
    numpy_names: tuple[str, ...] = ()  # tracegrad.numpy functions (and numpy ufuncs) = op
    doc: str = ""
    # attributes holding sub-Functions (loop bodies, branches): the verifier checks them, the
    # printer prints them, passes optimize them; such rows have several outputs (``output``)
    subfunctions: tuple[str, ...] = ()

    @property
    def is_elementwise(self) -> bool:
        return self.lowering is Lowering.ELEMENTWISE

    @property
    def is_higher_order(self) -> bool:
        return bool(self.subfunctions)


PRIMS: dict[Op, Prim] = {}


def register(prim: Prim) -> Prim:
    if prim.op in PRIMS:
        raise ValueError(f"duplicate row for {prim.op}")
    if list(prim.attrs) != sorted(prim.attrs):
        raise ValueError(f"{prim.op}: attribute names must be sorted, got {prim.attrs}")
    PRIMS[prim.op] = prim
    return prim


def ops_where(predicate: Callable[[Prim], bool]) -> frozenset[Op]:
    """The ops whose rows satisfy ``predicate`` (derived sets such as ``ELEMENTWISE``)."""
    return frozenset(op for op, prim in PRIMS.items() if predicate(prim))


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


FLOATS = (DType.FLOAT16, DType.FLOAT32, DType.FLOAT64)
SIGNED = (DType.INT8, DType.INT16, DType.INT32, DType.INT64)
UNSIGNED = (DType.UINT8, DType.UINT16, DType.UINT32, DType.UINT64)
INTS = SIGNED + UNSIGNED
NUMERIC = INTS + FLOATS
ALL = (DType.BOOL,) + NUMERIC


def cumulative_rule(op: Op) -> TypeRule:
    """The type rule of a cumulative op along one ``axis`` (cumsum, cumprod): its operand's."""

    def rule(types: tuple[TensorType, ...], attrs: dict[str, Any]) -> TensorType:
        (t,) = types
        require_dtype(op, t, NUMERIC)
        require(0 <= attrs["axis"] < t.ndim, f"{op.value}: bad axis for {t}")
        return t

    return rule
