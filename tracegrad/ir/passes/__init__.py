"""The optimization pipeline: ``optimize(function, opt_level)`` runs ``DEFAULT_PIPELINE``.

Levels: 0 = canonicalize + stabilize (stability is never left to an opt level); 1 = + constant
folding, exact algebra and simplification; 2 (default) = + fusion and buffer planning; 3 = +
rules that are not bit-exact. ``explain(function)`` returns the IR after each pass with the
rule-fire counts; ``TRACEGRAD_DUMP_PASSES=1`` prints the same to stderr during ``optimize``;
``verify=True`` (or ``TRACEGRAD_VERIFY_PASSES=1``) runs the IR verifier after every pass.

>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.pp import pp
>>> from tracegrad.ir.value import Function, param
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> x = param(0, TensorType(DType.FLOAT64, ()), "x")
>>> raw = b.mul(b.mul(1.0, 2.0), b.pow(x, b.sub(2.0, 1.0)))  # d(x**2)/dx, as autodiff builds it
>>> pp(optimize(Function("g", (x,), (raw,))))
'(2.0 * x)'
>>> print(explain(Function("g", (x,), (raw,))).summary())
canonicalize     4 ops  4 kernels  sub_const x1
fold_constants   2 ops  2 kernels  fold_constants x2
exact_algebra    1 ops  1 kernels  pow_one x1
stabilize        1 ops  1 kernels
simplify         1 ops  1 kernels
fuse             1 ops  1 kernels
plan_buffers     1 ops  1 kernels
"""

from tracegrad.ir.passes.inspect import Explanation, StageReport, count_kernels, explain, optimize
from tracegrad.ir.passes.pipeline import (
    DEFAULT_PIPELINE,
    Stage,
    canonicalize,
    exact_algebra,
    fold_constants,
    fuse,
    inexact_algebra,
    simplify,
    stabilize,
)
from tracegrad.ir.passes.plan import BufferPlan, buffer_plan, plan_buffers

__all__ = [
    "DEFAULT_PIPELINE", "BufferPlan", "Explanation", "Stage", "StageReport", "buffer_plan",
    "canonicalize", "count_kernels", "exact_algebra", "explain", "fold_constants", "fuse",
    "inexact_algebra", "optimize", "plan_buffers", "simplify", "stabilize",
]  # fmt: skip
