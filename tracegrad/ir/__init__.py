"""The IR: dtypes, types, the primitive table, Values and Functions, builders, passes.

Nothing here imports llvmlite (a test checks it).
"""

from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import PRIMS, Prim
from tracegrad.ir.types import Dim, TensorType
from tracegrad.ir.value import Function, Value, const, param

__all__ = [
    "PRIMS",
    "DType",
    "Dim",
    "Function",
    "Op",
    "Prim",
    "TensorType",
    "Value",
    "const",
    "param",
]
