"""The primitive table. Importing this package registers every row."""

from tracegrad.ir.prims import elementwise, linalg, structural  # noqa: F401  (registers rows)
from tracegrad.ir.prims.table import (
    NONDIFF,
    PRIMS,
    Batching,
    Emitter,
    Lowering,
    MathRoutine,
    Prim,
    Promotion,
    Scalar,
    ops_where,
)

__all__ = [
    "BINARY_ELEMENTWISE", "COMPARISONS", "ELEMENTWISE", "NONDIFF", "PRIMS", "REDUCTIONS",
    "UNARY_ELEMENTWISE", "Batching", "Emitter", "Lowering", "MathRoutine", "Prim", "Promotion",
    "Scalar",
]  # fmt: skip


# Op classes, derived from the rows
UNARY_ELEMENTWISE = ops_where(lambda p: p.is_elementwise and p.arity == 1)
BINARY_ELEMENTWISE = ops_where(lambda p: p.is_elementwise and p.arity == 2)
ELEMENTWISE = ops_where(lambda p: p.is_elementwise)
REDUCTIONS = ops_where(lambda p: p.batching is Batching.AXES)
COMPARISONS = ops_where(lambda p: p.scalar is not None and p.scalar.emitter is Emitter.COMPARE)
