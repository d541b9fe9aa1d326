"""The primitive table. Importing this package registers every row."""

from tracegrad.ir.prims import elementwise, structural  # noqa: F401  (registers rows)
from tracegrad.ir.prims.table import NONDIFF, PRIMS, Lowering, Prim

__all__ = ["NONDIFF", "PRIMS", "Lowering", "Prim"]
