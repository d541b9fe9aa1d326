"""Elementwise (loop) kernels: a fused DAG of elementwise ops with one or more outputs of
the same shape, broadcasts and transposes as strided reads.

The body function is ``void @<name>.body(ptr noalias %b0, ..., ptr %ext, i64 %start,
i64 %stop)`` and loops over ``[start, stop)`` of the first coalesced dim; inputs come
first, then outputs (fresh, C-contiguous); ``%ext`` holds the runtime extents of the
symbolic dims (:mod:`tracegrad.llvm.codegen.extents`), unused when every shape is concrete.
``noalias`` lets LLVM vectorize without runtime checks: the plan guarantees outputs never
overlap an input.
"""

from __future__ import annotations

import math
from collections.abc import Container
from dataclasses import dataclass

from tracegrad.ir.types import Dim
from tracegrad.ir.value import Value
from tracegrad.llvm.codegen.builder import KernelBuilder
from tracegrad.llvm.codegen.extents import Sym, ext_shape, slots_of
from tracegrad.llvm.codegen.kernel import Expr, IdSet, coalesce, contiguous_strides, nest

MARK = "<<innermost loop>>"
LOOP_MD = "!<<interleave 4>>"  # numbered per module by plan.module.number_loop_metadata
INTERLEAVE_MATH = 4


@dataclass
class KernelText:
    """The LLVM body of one kernel and what the plan needs to call it."""

    name: str
    text: str
    inputs: list[Value]  # buffer arguments, in order
    outputs: list[Value]
    outer: int | Sym  # extent of the split dim (threads divide [0, outer))
    work: int | Sym  # elements weighted by body cost, for the threading threshold
    splittable: bool
    math: set[tuple[str, str]]
    dims: tuple[Dim, ...] = ()  # symbolic dims in extent-slot order (see extents.py)


def signature(n_buffers: int) -> str:
    """The body's parameters: noalias buffers, the extents array, the outer range."""
    params = "".join(f"ptr noalias %buf{i}, " for i in range(n_buffers))
    return f"({params}ptr %ext, i64 %start, i64 %stop)"


def kernel_slots(inputs: list[Value], outputs: list[Value]) -> tuple[Dim, ...]:
    return slots_of([v.shape for v in inputs] + [v.shape for v in outputs])


def elementwise_kernel(name: str, roots: list[Value], computed: Container[int]) -> KernelText:
    shape = tuple(roots[0].shape)
    expr = Expr(IdSet(computed, {id(r) for r in roots}), shape)
    for r in roots:
        expr.collect(r)
    n_in = len(expr.buffers)
    accesses = [(buf, strides, off) for buf, strides, off in expr.accesses]
    out_strides = contiguous_strides(shape)
    all_strides = [s for _, s, _ in accesses] + [out_strides] * len(roots)
    cshape, cstrides, _ = coalesce(shape, all_strides)
    if not cshape:  # 0-d or all extents 1: one iteration
        cshape, cstrides = (1,), [(0,) for _ in cstrides]
    b = KernelBuilder()
    n_buf = n_in + len(roots)
    b.lines.append(f'define internal void @"{name}.body"{signature(n_buf)} noinline nounwind {{')
    b.label("entry")
    ptrs = [f"%buf{i}" for i in range(n_buf)]
    bases = [b.ext(off) for _, _, off in accesses] + ["0"] * len(roots)
    uses: set[tuple[str, str]] = set()

    def inner(offs: list[str]) -> None:
        memo: dict = {}
        for k, r in enumerate(roots):
            value = expr.emit(b, r, offs, ptrs, memo, uses)
            b.store(r.dtype, value, ptrs[n_in + k], offs[len(accesses) + k])

    nest(b, cshape, cstrides, bases, inner, range_dim0=("%start", "%stop"), innermost_mark=MARK)
    b.op("ret void")
    b.lines.append("}")
    slots = kernel_slots(expr.buffers, roots)
    # transcendental bodies are latency-bound chains of FMAs: four interleaved vectors per
    # iteration hide the latency (logistic gradient, one thread: 222 -> 167 us at 1e5, for
    # 13 ms more LLVM time); arithmetic-only loops keep LLVM's own choice
    text = b.finish(slots).replace(MARK, f", !llvm.loop {LOOP_MD}" if uses else "")
    return KernelText(
        name=name,
        text=text,
        inputs=list(expr.buffers),
        outputs=list(roots),
        outer=cshape[0],
        work=math.prod(ext_shape(shape)) * (1 + 8 * len(uses)),  # exp & co cost ~10 adds
        splittable=True,
        math=uses,
        dims=slots,
    )
