"""Code generation: the kernels' text builder (``builder``: the ``text`` room's builder with
typed loads, stores and runtime extents), scalar ops from the primitive rows
(``scalar_ops``), runtime extents (``extents``), and the kernel emitters: one loop nest per
kernel (``kernel``), elementwise (``elementwise``) and reduction (``reduce``) kernels, and
concretizing symbolic dims (``symbolic``). Uses the math library; knows nothing of plans or
calls.

Public face (what other rooms import): this package, ``tracegrad.llvm.codegen``, and only
it. The planner composes kernels from the pieces re-exported here: which ops an emitter
supports (``scalar_supported``, ``VIEW_OPS``, ``LOWERED_REDUCTIONS``, ``ARG_OPS``), the loop
nest's expressions (``Expr``, ``IdSet``, ``reduced_axes``), the kernel emitters
(``elementwise_kernel``, ``reduce_kernel``, ``KernelText``, ``KernelBuilder``, ``LOOP_MD``,
``INTERLEAVE_MATH``), runtime extents (``Sym``, ``prologue``, ``evaluate``, ``is_static``)
and ``concretize``; ``EMITTERS`` is the scalar emitter table the row tests check."""

from tracegrad.llvm.codegen.builder import KernelBuilder
from tracegrad.llvm.codegen.elementwise import (
    INTERLEAVE_MATH,
    LOOP_MD,
    KernelText,
    elementwise_kernel,
)
from tracegrad.llvm.codegen.extents import Sym, evaluate, is_static, prologue
from tracegrad.llvm.codegen.kernel import VIEW_OPS, Expr, IdSet
from tracegrad.llvm.codegen.reduce import (
    ARG_OPS,
    LOWERED_REDUCTIONS,
    reduce_kernel,
    reduced_axes,
)
from tracegrad.llvm.codegen.scalar_ops import EMITTERS
from tracegrad.llvm.codegen.scalar_ops import supported as scalar_supported
from tracegrad.llvm.codegen.symbolic import concretize

__all__ = [
    "ARG_OPS", "EMITTERS", "INTERLEAVE_MATH", "LOOP_MD", "LOWERED_REDUCTIONS", "VIEW_OPS",
    "Expr", "IdSet", "KernelBuilder", "KernelText", "Sym", "concretize", "elementwise_kernel",
    "evaluate", "is_static", "prologue", "reduce_kernel", "reduced_axes", "scalar_supported",
]  # fmt: skip
