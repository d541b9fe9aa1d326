"""The primitive table. Importing this package registers every row."""

from tracegrad.ir.ops import Op
from tracegrad.ir.prims import elementwise, structural  # noqa: F401  (registers rows)
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
    "NONDIFF", "PRIMS", "Batching", "Emitter", "Lowering", "MathRoutine", "Prim", "Promotion",
    "Scalar", "op_classes",
]  # fmt: skip


def op_classes() -> dict[str, frozenset[Op]]:
    """The op classes of ``tracegrad.ir.ops``, derived from the rows."""
    elementwise_ops = ops_where(lambda p: p.is_elementwise)
    return {
        "UNARY_ELEMENTWISE": ops_where(lambda p: p.is_elementwise and p.arity == 1),
        "BINARY_ELEMENTWISE": ops_where(lambda p: p.is_elementwise and p.arity == 2),
        "ELEMENTWISE": elementwise_ops,
        "REDUCTIONS": ops_where(lambda p: p.batching is Batching.AXES),
        "COMPARISONS": ops_where(
            lambda p: p.scalar is not None and p.scalar.emitter is Emitter.COMPARE
        ),
    }
