"""The primitive table. Importing this package registers every row."""

from tracegrad.ir.prims import (  # noqa: F401  (registers rows)
    control,
    elementwise,
    linalg,
    sorting,
    structural,
)
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
    "BINARY_ELEMENTWISE", "COMPARISONS", "ELEMENTWISE", "HIGHER_ORDER", "NONDIFF", "PRIMS",
    "REDUCTIONS", "UNARY_ELEMENTWISE", "Batching", "Emitter", "Lowering", "MathRoutine", "Prim",
    "Promotion", "Scalar",
]  # fmt: skip


# Op classes, derived from the rows
UNARY_ELEMENTWISE = ops_where(lambda p: p.is_elementwise and p.arity == 1)
BINARY_ELEMENTWISE = ops_where(lambda p: p.is_elementwise and p.arity == 2)
ELEMENTWISE = ops_where(lambda p: p.is_elementwise)
REDUCTIONS = ops_where(lambda p: p.batching is Batching.AXES)
COMPARISONS = ops_where(lambda p: p.scalar is not None and p.scalar.emitter is Emitter.COMPARE)
HIGHER_ORDER = ops_where(lambda p: p.is_higher_order)
