"""Planning: split an optimized Function into kernels and numpy steps. This is the only place
kernels are formed (the IR passes leave a plain graph); ``describe`` puts the plan in words
for ``tracegrad.ir.passes.explain``.

1. stop_gradient ops (identities when running) are replaced by their operands.
2. A Value is *materialized* (gets a buffer) when it is a function output, when a
   non-elementwise op uses it (except a reduction that is its only user: then it is
   computed inline inside the reduction loop), or when a view op (broadcast, transpose,
   slice) reads it at other indices.
3. Every materialized elementwise Value is a kernel root; consecutive roots of the same
   shape are merged into one multi-output loop kernel; every lowerable reduction is a
   reduction kernel; MATMUL calls BLAS through numpy; every other op (reshape, concatenate,
   gather, cumsum, integer pow, max over an empty axis...) is an interpreter step that runs
   the numpy reference implementation of that node; a loop or branch is one interpreter step
   for all its outputs (its bodies run through the interpreter, once per iteration).

>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.value import param, Function
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> x = param(0, TensorType(DType.FLOAT64, (4,)), "x")
>>> steps = plan(Function("f", (x,), (b.exp(b.mul(x, 2.0)),))).steps
>>> [type(s).__name__ for s in steps]
['KernelGroup']
"""

from __future__ import annotations

import functools
import math
from collections.abc import Container, Sequence
from dataclasses import dataclass, field

from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import ELEMENTWISE, HIGHER_ORDER
from tracegrad.ir.prims.control import group_key
from tracegrad.ir.printer import format_type, numbering_of
from tracegrad.ir.rebuild import strip_stop_gradients
from tracegrad.ir.value import Function, Value, users
from tracegrad.llvm.codegen import (
    ARG_OPS,
    LOWERED_REDUCTIONS,
    VIEW_OPS,
    Expr,
    IdSet,
    is_static,
    reduced_axes,
    scalar_supported,
)
from tracegrad.llvm.machine import engine


@dataclass
class KernelGroup:
    kind: str  # "elementwise" or "reduce"
    roots: list[Value]
    computed: Container[int] = field(repr=False)  # ids of values evaluated inline (shared)
    ops: int = 1  # size estimate of the body (see MAX_KERNEL_OPS)

    @property
    def shape(self) -> tuple:
        return tuple(self.roots[0].shape if self.kind == "elementwise" else ())


@dataclass
class InterpretStep:
    """Runs ``values`` (in order) with the numpy reference implementations."""

    function: Function


@dataclass
class MatmulStep:
    value: Value
    # per operand: the TRANSPOSE perm when the operand is read as a numpy view of its base
    # (BLAS takes transposed matrices as they are; a copying kernel would cost more)
    views: tuple = (None, None)


@dataclass
class LapackStep:
    """A SOLVE or SLOGDET served by the one LU factorization of ``matrix`` that every such
    step on the same matrix shares, or a TRIANGULAR_SOLVE through trsm
    (:mod:`tracegrad.llvm.plan.lapack`); ``transposed``: the op reads ``matrix`` transposed
    (a view, as matmuls read them: getrs and trsm solve with A^T)."""

    value: Value
    matrix: Value
    transposed: bool = False


@dataclass
class Plan:
    function: Function
    steps: list[KernelGroup | InterpretStep | MatmulStep | LapackStep] = field(default_factory=list)


FACTOR_OPS = (Op.SOLVE, Op.SLOGDET)  # the LAPACK rows that share one LU per matrix
SOLVE_OPS = (Op.SOLVE, Op.TRIANGULAR_SOLVE)


def fusible(v: Value) -> bool:
    if v.op in VIEW_OPS:
        return True
    if v.op not in ELEMENTWISE or not scalar_supported(v):
        return False
    return all(u.dtype is not DType.FLOAT16 for u in (v, *v.operands)) or half_native()


@functools.cache
def half_native() -> bool:
    """Whether LLVM converts half <-> float inline here (x86 F16C, any aarch64): without
    it, it calls compiler-rt helpers no library here provides, so float16 arithmetic stays
    with numpy (an interpreter step)."""
    host = engine.key_host()  # the disk's host record: no LLVM load for a warm cache
    return host.triple.startswith("aarch64") or "+f16c" in host.features.split(",")


def reduction_lowerable(r: Value) -> bool:
    """Reductions with an empty reduced extent and no identity (max, argmax...) raise in
    numpy; they stay with numpy to raise the same error."""
    if r.op not in LOWERED_REDUCTIONS or r.operands[0].dtype is DType.FLOAT16:
        return False  # numpy's float16 sums accumulate in float per block: numpy's own loop
    x = r.operands[0]
    if r.op in (Op.REDUCE_SUM, Op.REDUCE_PROD):
        return True
    reduced = [x.shape[a] for a in reduced_axes(r)]
    if not (is_static(reduced) and is_static(r.shape)):
        return True  # runtime extents: the plan checks for an empty extent per call
    return math.prod(reduced) > 0 or math.prod(r.shape) == 0


MAX_KERNEL_OPS = 400  # inline ops per kernel expression; longer chains are cut
SHARED_MATERIALIZE_OPS = 64  # a value used twice or more is materialized above this size


def materialized(fn: Function) -> tuple[set[int], dict[int, int]]:
    """Ids of the Values that get a buffer (see the module docstring).

    Also cuts very long elementwise chains (an unrolled loop of 10^5 ops): a Value whose
    inline expression would exceed ``MAX_KERNEL_OPS`` ops is materialized, so no kernel
    body grows without bound (LLVM's compile time and stack depth grow with it).
    """
    used_by = users(fn)
    outputs = {id(o) for o in fn.outputs}
    mat: set[int] = set()
    cost: dict[int, int] = {}
    for v in fn.order:
        if v.op in (Op.PARAM, Op.CONST):
            continue
        if not fusible(v):
            mat.add(id(v))
            continue
        # upper bound of the expression size (shared operands counted twice)
        cost[id(v)] = 1 + sum(cost.get(id(o), 0) for o in v.operands if id(o) not in mat)
        if cost[id(v)] > MAX_KERNEL_OPS:
            mat.add(id(v))
            continue
        us = used_by[id(v)]
        foreign = [u for u in us if not fusible(u)]
        if id(v) in outputs:
            mat.add(id(v))
        elif len(us) > 1 and cost[id(v)] >= SHARED_MATERIALIZE_OPS:
            # a shared subexpression of some size gets a buffer: inlined, every user would
            # recompute it, and the size estimate (a tree count) would grow exponentially
            mat.add(id(v))
        elif foreign:
            only_reduction = len(us) == 1 and reduction_lowerable(us[0])
            if not only_reduction and not blas_view(v, foreign):
                mat.add(id(v))
        elif v.op not in VIEW_OPS and any(u.op in VIEW_OPS for u in us):
            mat.add(id(v))
    return mat, cost


def blas_view(v: Value, foreign: list[Value]) -> bool:
    """A transpose of the last two axes of a buffer, used by float matmuls and as the matrix
    of 2-d solves only (besides kernels that read it inline): numpy.matmul takes the
    transposed view directly, and a solve with A^T uses the LU of A."""
    if not swaps_last_axes(v) or v.operands[0].op in VIEW_OPS:
        return False
    return all(
        (u.op is Op.MATMUL and u.dtype.is_float) or (transposed_solve(u) and u.operands[0] is v)
        for u in foreign
    )


def swaps_last_axes(v: Value) -> bool:
    perm = tuple(v.attr("perm")) if v.op is Op.TRANSPOSE else ()
    n = len(perm)
    return n >= 2 and perm == (*range(n - 2), n - 1, n - 2)


def transposed_solve(u: Value) -> bool:
    """A 2-d solve whose matrix (only) is a transpose of the last two axes of a buffer."""
    if u.op not in SOLVE_OPS or u.ndim != 2:
        return False
    matrix, rhs = u.operands
    return swaps_last_axes(matrix) and rhs is not matrix and matrix.operands[0].op not in VIEW_OPS


def plan(function: Function) -> Plan:
    fn = strip_stop_gradients(function)
    mat, cost = materialized(fn)
    inline_ids = frozenset(id(v) for v in fn.order if fusible(v) and id(v) not in mat)
    result = Plan(fn)
    groups = _groups(fn)
    for v in fn.order:
        if v.op in (Op.PARAM, Op.CONST):
            continue
        if fusible(v):
            if id(v) in mat:
                _add_root(result, v, inline_ids, cost.get(id(v), 1))
        elif reduction_lowerable(v):
            result.steps.append(KernelGroup("reduce", [v], inline_ids))
        elif v.op is Op.MATMUL and v.dtype.is_float:
            views = tuple(
                o.attr("perm") if o.op is Op.TRANSPOSE and id(o) not in mat else None
                for o in v.operands
            )
            result.steps.append(MatmulStep(v, views))
        elif v.op in FACTOR_OPS or v.op is Op.TRIANGULAR_SOLVE:
            # a transposed matrix is read as a view of its base (even when it also has a
            # buffer for other users: the base's LU is the one shared)
            matrix = v.operands[0]
            view = transposed_solve(v)
            result.steps.append(LapackStep(v, matrix.operands[0] if view else matrix, view))
        elif v.op in HIGHER_ORDER:
            # a loop or branch runs once for all its outputs: one step at its first output
            members = groups[group_key(v)]
            if members[0] is v:
                result.steps.append(InterpretStep(Function(v.op.value, v.operands, tuple(members))))
        else:
            result.steps.append(InterpretStep(Function(v.op.value, v.operands, (v,))))
    return result


def _groups(fn: Function) -> dict[tuple, list[Value]]:
    found: dict[tuple, list[Value]] = {}
    for v in fn.order:
        if v.op in HIGHER_ORDER:
            found.setdefault(group_key(v), []).append(v)
    return found


def _add_root(result: Plan, v: Value, inline_ids: frozenset[int], ops: int) -> None:
    last = result.steps[-1] if result.steps else None
    if (
        isinstance(last, KernelGroup)
        and last.kind == "elementwise"
        and tuple(last.roots[0].shape) == tuple(v.shape)
        and last.ops + ops <= MAX_KERNEL_OPS
    ):
        roots = {id(r) for r in last.roots}
        trial = Expr(IdSet(inline_ids, roots, {id(v)}), tuple(v.shape))
        trial.collect(v)
        if not any(id(buf) in roots for buf in trial.buffers):
            last.roots.append(v)
            last.ops += ops
            return
    result.steps.append(KernelGroup("elementwise", [v], inline_ids, ops))


def count_kinds(p: Plan) -> dict[str, int]:
    """Step counts by kind (for tests and inspection)."""
    counts: dict[str, int] = {}
    for s in p.steps:
        key = s.kind if isinstance(s, KernelGroup) else type(s).__name__
        counts[key] = counts.get(key, 0) + 1
    return counts


def describe(function: Function) -> list[str]:
    """The plan of ``function`` in words, one line per step in run order, naming the values
    each step writes as ``print_function`` numbers the planned graph (``function`` itself
    unless it holds stop_gradient ops, which the planner drops). These are the steps a
    PlanExecutable runs; ``tracegrad.ir.passes.explain(f, planner=describe)`` shows them
    after the passes.

    >>> from tracegrad.ir import build as b, build_shape as bs
    >>> from tracegrad.ir.value import param, Function
    >>> from tracegrad.ir.types import TensorType
    >>> from tracegrad.ir.dtypes import DType
    >>> x = param(0, TensorType(DType.FLOAT64, (2, 2)), "x")
    >>> for line in describe(Function("f", (x,), (b.exp(bs.matmul(x, x)), bs.sum(x, 0)))):
    ...     print(line)
    blas   matmul -> %1: f64[2,2]
    kernel elementwise -> %2: f64[2,2]  (1 ops)
    kernel reduce_sum -> %3: f64[2]
    """
    p = plan(function)
    number = numbering_of(p.function)

    def writes(values: Sequence[Value]) -> str:
        return ", ".join(f"%{number[id(v)]}: {format_type(v.type)}" for v in values)

    lines = []
    for step in p.steps:
        if isinstance(step, KernelGroup) and step.kind == "elementwise":
            lines.append(f"kernel elementwise -> {writes(step.roots)}  ({step.ops} ops)")
        elif isinstance(step, KernelGroup):
            lines.append(f"kernel {step.roots[0].op.value} -> {writes(step.roots)}")
        elif isinstance(step, MatmulStep):
            lines.append(f"blas   matmul -> {writes([step.value])}")
        elif isinstance(step, LapackStep):
            matrix = f"%{number[id(step.matrix)]}{'.T' if step.transposed else ''}"
            how = "trsm" if step.value.op is Op.TRIANGULAR_SOLVE else "LU"
            shared = f"  ({how} of {matrix})"
            lines.append(f"lapack {step.value.op.value} -> {writes([step.value])}{shared}")
        elif step.function.outputs[0].op in HIGHER_ORDER:  # native or numpy: plan.loops
            outputs = step.function.outputs
            lines.append(f"loop   {outputs[0].op.value} -> {writes(outputs)}")
        else:
            outputs = step.function.outputs
            lines.append(f"numpy  {outputs[0].op.value} -> {writes(outputs)}")
    return lines


__all__ = [
    "ARG_OPS", "InterpretStep", "KernelGroup", "LapackStep", "MatmulStep", "Plan", "count_kinds",
    "describe", "plan",
]  # fmt: skip
