"""The optimization pipeline: ``optimize(function, opt_level)`` runs ``DEFAULT_PIPELINE``.

Levels: 0 = canonicalize + stabilize + control flow (stability is never left to an opt level;
every rule set also runs inside loop bodies and branches); 1 and 2 (default) = + constant
folding, exact algebra, simplification and loop slimming (dead carries, invariant hoisting);
3 = + rules that are not bit-exact. No pass forms kernels: the backend's planner does that,
once. ``explain(function)`` returns the IR after each pass with the rule-fire counts (and,
given ``planner=``, the backend's kernels); ``TRACEGRAD_DUMP_PASSES=1`` prints the same to
stderr during ``optimize``; ``verify=True`` (or ``TRACEGRAD_VERIFY_PASSES=1``) runs the IR
verifier after every pass.

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
canonicalize     4 ops  sub_const x1
fold_constants   2 ops  fold_constants x2
exact_algebra    1 ops  pow_one x1
stabilize        1 ops
simplify         1 ops
control_flow     1 ops
slim_loops       1 ops
"""

from tracegrad.ir.passes.driver import Explanation, Planner, StageReport, explain, optimize
from tracegrad.ir.passes.pipeline import (
    DEFAULT_PIPELINE,
    Stage,
    canonicalize,
    exact_algebra,
    fold_constants,
    inexact_algebra,
    simplify,
    stabilize,
)

__all__ = [
    "DEFAULT_PIPELINE", "Explanation", "Planner", "Stage", "StageReport", "canonicalize",
    "exact_algebra", "explain", "fold_constants", "inexact_algebra", "optimize", "simplify",
    "stabilize",
]  # fmt: skip
