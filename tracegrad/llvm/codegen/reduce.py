"""Reduction kernels: sum, prod, max, min, argmax, argmin over any axes, with an optional
fused elementwise prologue (the reduced operand is computed inline, never stored).

Two loop orders, chosen after dim coalescing:

* **Inner** (the last coalesced dim is reduced, or argmax/argmin): outer loops over the kept
  dims; per output element, the outer reduced dims run serially and the innermost one is
  reduced in lanes: ``W`` independent accumulators ``acc[j] op= f(x[i + j])`` written as a
  loop over ``j`` that LLVM vectorizes (no reassociation needed, no fast-math). Float sums
  work in blocks of ``W * 128`` elements whose lane partials are combined by a fixed tree
  and then by an exact binary-counter pairwise cascade, so the rounding error grows like
  numpy's pairwise summation (O(log n)), and the result is the same bits on every run.
* **Outer** (the last coalesced dim is kept): the output is the accumulator,
  ``out[j] op= f(x[i, j])``; the inner loop over kept ``j`` vectorizes as an elementwise
  loop, each output accumulates serially along the reduced axes (as numpy does for
  non-contiguous reductions).

Max/min follow numpy's NaN rule (``(acc > v || isnan(acc)) ? acc : v``); argmax/argmin
keep (value, index) lanes and combine them with a total order: larger value, then smaller
index; a NaN beats any number and the first NaN wins, as in numpy.
"""

from __future__ import annotations

import math
from collections.abc import Container

from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.value import Value
from tracegrad.llvm.codegen import scalar_ops
from tracegrad.llvm.codegen.builder import (
    ITEMSIZE,
    MEM_TYPE,
    REG_TYPE,
    KernelBuilder,
    float_literal,
)
from tracegrad.llvm.codegen.elementwise import KernelText, kernel_slots, signature
from tracegrad.llvm.codegen.extents import Sym, ext_shape, is_static
from tracegrad.llvm.codegen.kernel import Expr, coalesce, contiguous_strides, nest
from tracegrad.llvm.codegen.scalar_ops import vector_types

ARG_OPS = frozenset({Op.ARGMAX, Op.ARGMIN})
LOWERED_REDUCTIONS = frozenset(
    {Op.REDUCE_SUM, Op.REDUCE_PROD, Op.REDUCE_MAX, Op.REDUCE_MIN, Op.ARGMAX, Op.ARGMIN}
)
PAIRWISE_STEPS = 128  # lane steps per pairwise block


def reduced_axes(r: Value) -> tuple[int, ...]:
    return (r.attr("axis"),) if r.op in ARG_OPS else tuple(r.attr("axes"))


def identity(op: Op, dt: DType) -> str:
    """Initial accumulator value (for max/min and arg ops: the worst possible value)."""
    is_max = op in (Op.REDUCE_MAX, Op.ARGMAX)
    if op in (Op.REDUCE_SUM, Op.REDUCE_PROD):
        one = op is Op.REDUCE_PROD
        if dt is DType.BOOL:
            return "true" if one else "false"
        return (float_literal(1.0 if one else 0.0)) if dt.is_float else ("1" if one else "0")
    if dt is DType.BOOL:
        return "false" if is_max else "true"
    if dt.is_float:
        return float_literal(-math.inf if is_max else math.inf)
    if dt.is_unsigned:
        return "0" if is_max else "-1"  # all ones: the largest unsigned value
    bits = 8 * ITEMSIZE[dt]
    return str(-(2 ** (bits - 1))) if is_max else str(2 ** (bits - 1) - 1)


def combine(b: KernelBuilder, op: Op, dt: DType, acc: str, v: str, lanes: int = 0) -> str:
    """``acc op v`` (numpy's maximum/minimum rule for max/min) on scalars or vectors."""
    ty, _ = vector_types(dt, lanes)
    if op in (Op.REDUCE_MAX, Op.REDUCE_MIN):
        return scalar_ops.minmax(b, op is Op.REDUCE_MAX, dt, acc, v, lanes)
    add = op is Op.REDUCE_SUM
    if dt is DType.BOOL:
        return b.emit(f"{'or' if add else 'and'} {ty} {acc}, {v}")
    code = ("fadd" if add else "fmul") if dt.is_float else ("add" if add else "mul")
    return b.emit(f"{code} {ty} {acc}, {v}")


def arg_better(
    b: KernelBuilder, op: Op, dt: DType, v: str, i: str, w: str, j: str, lanes: int = 0
) -> str:
    """(v, i) beats the incumbent (w, j) under numpy's argmax/argmin order (i1 or a mask)."""
    ty, cty = vector_types(dt, lanes)
    ity = f"<{lanes} x i64>" if lanes else "i64"
    lt = op is Op.ARGMIN
    earlier = b.emit(f"icmp slt {ity} {i}, {j}")
    if dt.is_float:
        better = b.emit(f"fcmp {'olt' if lt else 'ogt'} {ty} {v}, {w}")
        tie = b.emit(f"fcmp oeq {ty} {v}, {w}")
    else:
        unsigned = dt is DType.BOOL or dt.is_unsigned
        pred = ("ult" if lt else "ugt") if unsigned else ("slt" if lt else "sgt")
        better = b.emit(f"icmp {pred} {ty} {v}, {w}")
        tie = b.emit(f"icmp eq {ty} {v}, {w}")
    tie_first = b.emit(f"and {cty} {tie}, {earlier}")
    take = b.emit(f"or {cty} {better}, {tie_first}")
    if not dt.is_float:
        return take
    vnan = b.emit(f"fcmp uno {ty} {v}, {v}")
    wnum = b.emit(f"fcmp ord {ty} {w}, {w}")
    nan_wins = b.emit(f"or {cty} {wnum}, {earlier}")
    nan_take = b.emit(f"and {cty} {vnan}, {nan_wins}")
    return b.emit(f"or {cty} {take}, {nan_take}")


class _Reduce:
    """Emits one reduction kernel body."""

    def __init__(self, name: str, r: Value, computed: Container[int]) -> None:
        self.name, self.r = name, r
        self.x = r.operands[0]
        self.op, self.dt = r.op, self.x.dtype
        self.ty = REG_TYPE[self.dt]
        self.expr = Expr(computed, tuple(self.x.shape))
        self.expr.collect(self.x)
        self.b = KernelBuilder()
        self.uses: set[tuple[str, str]] = set()
        itemsize = 1 if self.dt is DType.BOOL else ITEMSIZE[self.dt]
        self.lanes = min(64, 256 // itemsize)  # 32 doubles: 4 zmm (8 ymm) independent chains

    def build(self) -> KernelText:
        axes = set(reduced_axes(self.r))
        shape = tuple(self.x.shape)
        kept = [d for d in range(len(shape)) if d not in axes]
        out_c = contiguous_strides(tuple(shape[d] for d in kept))
        out_strides = tuple(0 if d in axes else out_c[kept.index(d)] for d in range(len(shape)))
        acc_strides = [s for _, s, _ in self.expr.accesses] + [out_strides]
        cshape, cstrides, origin = coalesce(shape, acc_strides)
        roles = [o in axes for o in origin]
        b = self.b
        n_in = len(self.expr.buffers)
        b.lines.append(
            f'define internal void @"{self.name}.body"{signature(n_in + 1)} noinline nounwind {{'
        )
        b.label("entry")
        self.ptrs = [f"%buf{i}" for i in range(n_in + 1)]
        bases = [b.ext(off) for _, _, off in self.expr.accesses] + ["0"]
        static = is_static(shape)
        if static and math.prod(shape) == 0 and math.prod(self.r.shape) == 0:
            pass  # nothing to compute or store
        elif self.op not in ARG_OPS and roles and not roles[-1] and any(roles):
            self._outer(cshape, cstrides, bases)
        else:
            self._inner(cshape, cstrides, roles, bases)
        b.op("ret void")
        b.lines.append("}")
        slots = kernel_slots(self.expr.buffers, [self.r])
        return KernelText(
            name=self.name,
            text=b.finish(slots),
            inputs=list(self.expr.buffers),
            outputs=[self.r],
            outer=1,
            work=math.prod(ext_shape(shape)),
            splittable=False,
            math=self.uses,
            dims=slots,
        )

    # -- strategy "outer": out[j] op= f(x[i, j]) ------------------------------------------

    def _outer(self, cshape: tuple, cstrides: list, bases: list[str]) -> None:
        b, out = self.b, self.ptrs[-1]
        size = math.prod(ext_shape(self.r.shape))
        init = identity(self.op, self.dt)
        b.loop("0", b.ext(size), lambda i: b.store(self.dt, init, out, i), hint="z")

        def inner(offs: list[str]) -> None:
            v = self.expr.emit(b, self.x, offs, self.ptrs, {}, self.uses)
            acc = b.load(self.dt, out, offs[-1])
            b.store(self.dt, combine(b, self.op, self.dt, acc, v), out, offs[-1])

        nest(b, cshape, cstrides, bases, inner)

    # -- strategy "inner": kept loops outside, lane-parallel reduction inside -----------------

    def _inner(self, cshape: tuple, cstrides: list, roles: list[bool], bases: list[str]) -> None:
        b = self.b
        kept = [d for d, red in enumerate(roles) if not red]
        red = [d for d, is_red in enumerate(roles) if is_red]
        self._allocas()
        kshape = tuple(cshape[d] for d in kept)
        kstrides = [tuple(s[d] for d in kept) for s in cstrides]
        rstrides = [tuple(s[d] for d in red) for s in cstrides]
        rshape = tuple(cshape[d] for d in red)

        def per_output(offs: list[str]) -> None:
            self._init_total()
            if not rshape:
                self._accumulate_single(offs)
            else:
                outer_shape, outer_strides = rshape[:-1], [s[:-1] for s in rstrides]
                last = (rshape[-1], [s[-1] for s in rstrides])
                nest(b, outer_shape, outer_strides, offs, lambda o: self._lanes(o, *last))
            self._store_total(offs[-1])

        nest(b, kshape, kstrides, bases, per_output)

    def _allocas(self) -> None:
        b, w, ty = self.b, self.lanes, self.ty
        self.vty = f"<{w} x {ty}>"
        self.acc = b.emit(f"alloca {self.vty}, align 64", "acc")
        self.tmp = b.emit(f"alloca [{w} x {MEM_TYPE[self.dt]}], align 64", "tmp")
        self.total = b.emit(f"alloca {ty}", "tot")
        self.cur = b.emit(f"alloca {ty}", "cur")
        self.stack = b.emit(f"alloca [64 x {ty}], align 64", "stk")
        if self.op in ARG_OPS:
            self.idx = b.emit(f"alloca <{w} x i64>, align 64", "idx")
            self.total_i = b.emit("alloca i64", "toti")
        self.fold = b.emit(f"alloca {ty}", "fold")  # runtime-extent stack fold
        self.have = b.emit("alloca i1", "have")

    def _init_total(self) -> None:
        self.b.op(f"store {self.ty} {identity(self.op, self.dt)}, ptr {self.total}")
        if self.op in ARG_OPS:
            self.b.op(f"store i64 {2**63 - 1}, ptr {self.total_i}")

    def _accumulate_single(self, offs: list[str]) -> None:
        """No reduced extent left (all reduced dims have extent 1): the value itself."""
        v = self.expr.emit(self.b, self.x, offs, self.ptrs, {}, self.uses)
        self._fold_into_total(v, "0")

    def _fold_into_total(self, v: str, i: str) -> None:
        b = self.b
        t = b.emit(f"load {self.ty}, ptr {self.total}")
        if self.op in ARG_OPS:
            ti = b.emit(f"load i64, ptr {self.total_i}")
            take = arg_better(b, self.op, self.dt, v, i, t, ti)
            best = b.emit(f"select i1 {take}, {self.ty} {v}, {self.ty} {t}")
            b.op(f"store {self.ty} {best}, ptr {self.total}")
            b.op(f"store i64 {b.emit(f'select i1 {take}, i64 {i}, i64 {ti}')}, ptr {self.total_i}")
        else:
            b.op(f"store {self.ty} {combine(b, self.op, self.dt, t, v)}, ptr {self.total}")

    def _store_total(self, out_off: str) -> None:
        b = self.b
        if self.op in ARG_OPS:
            b.store(DType.INT64, b.emit(f"load i64, ptr {self.total_i}"), self.ptrs[-1], out_off)
        else:
            b.store(self.dt, b.emit(f"load {self.ty}, ptr {self.total}"), self.ptrs[-1], out_off)

    def _lanes(self, offs: list[str], extent: int | Sym, strides: list) -> None:
        """Reduce ``extent`` elements (access k at ``offs[k] + i * strides[k]``) into total.

        A runtime extent shorter than one lane step is folded serially: the lane machinery
        costs about a hundred instructions per output, which dominates short rows."""
        if isinstance(extent, int):
            self._blocks(offs, extent, strides)
            return
        b = self.b
        serial, blocked, join = (b.new_label(h) for h in ("serial", "blocked", "join"))
        short = b.emit(f"icmp slt i64 {b.ext(extent)}, {self.lanes}")
        b.op(f"br i1 {short}, label %{serial}, label %{blocked}")
        b.label(serial)

        def one(i: str) -> None:
            here = [b.mul_add(o, i, st) for o, st in zip(offs, strides, strict=True)]
            self._fold_into_total(self.expr.emit(b, self.x, here, self.ptrs, {}, self.uses), i)

        b.loop("0", b.ext(extent), one, hint="se")
        b.op(f"br label %{join}")
        b.label(blocked)
        self._blocks(offs, extent, strides)
        b.op(f"br label %{join}")
        b.label(join)

    def _blocks(self, offs: list[str], extent: int | Sym, strides: list) -> None:
        b, w = self.b, self.lanes
        pairwise = self.op is Op.REDUCE_SUM and self.dt.is_float
        n_blocks: int | str
        if isinstance(extent, int):
            block: int | str = w * PAIRWISE_STEPS if pairwise else max(extent, 1)
            n_blocks = -(-extent // block)  # type: ignore[operator]
        elif pairwise:  # runtime extent: ceil(extent / block) blocks
            block = w * PAIRWISE_STEPS
            n_blocks = b.emit(
                f"sdiv i64 {b.emit(f'add nsw i64 {b.ext(extent)}, {block - 1}')}, {block}"
            )
        else:  # one block of the whole extent, none when it is 0
            block = b.ext(extent)
            n_blocks = b.emit(f"zext i1 {b.emit(f'icmp sgt i64 {block}, 0')} to i64")
        extent = b.ext(extent)  # type: ignore[assignment]
        if pairwise:
            b.op(f"store {self.ty} {float_literal(0.0)}, ptr {self.cur}")

        def one_block(blk: str) -> None:
            start = b.emit(f"mul nsw i64 {blk}, {block}")
            left = b.emit(f"sub nsw i64 {extent}, {start}")
            small = b.emit(f"icmp slt i64 {left}, {block}")
            length = b.emit(f"select i1 {small}, i64 {left}, i64 {block}")
            self._block(offs, strides, start, length)
            s = self._tree()
            if pairwise:
                self._push(blk, s)
            else:
                self._fold_lanes_into_total(s)

        b.loop("0", str(n_blocks), one_block, hint="blk")
        if pairwise and isinstance(n_blocks, int):
            self._fold_stack(n_blocks)
        elif pairwise:
            self._fold_stack_runtime(n_blocks)

    def _block(self, offs: list[str], strides: list[int], start: str, length: str) -> None:
        """Lane-parallel reduction of one block: each step evaluates ``W`` consecutive
        elements into a small buffer (a loop LLVM vectorizes or SLP-packs), then combines
        it into the ``<W x T>`` accumulator with explicit vector instructions, so the
        reduction itself never depends on the vectorizer's cost model."""
        b, w = self.b, self.lanes
        b.op(f"store {self.vty} splat ({self.ty} {identity(self.op, self.dt)}), ptr {self.acc}")
        if self.op in ARG_OPS:
            b.op(f"store <{w} x i64> splat (i64 {2**63 - 1}), ptr {self.idx}")
        full = b.emit(f"udiv i64 {length}, {w}")

        def step(k: str) -> None:
            base = b.emit(f"mul nsw i64 {k}, {w}")
            i0 = b.emit(f"add nsw i64 {start}, {base}")
            b.loop("0", str(w), lambda j: self._fill(offs, strides, i0, j), hint="ln")
            self._combine_tmp(i0)

        b.loop("0", full, step, hint="stp")
        done = b.emit(f"mul nsw i64 {full}, {w}")
        tail0 = b.emit(f"add nsw i64 {start}, {done}")
        rem = b.emit(f"sub nsw i64 {length}, {done}")
        # the tail: identity in every lane, then the remaining elements, then one combine
        mem_id = (
            ("1" if identity(self.op, self.dt) == "true" else "0")
            if self.dt is DType.BOOL
            else identity(self.op, self.dt)
        )
        mty = MEM_TYPE[self.dt]
        b.op(f"store <{w} x {mty}> splat ({mty} {mem_id}), ptr {self.tmp}")
        b.loop("0", rem, lambda j: self._fill(offs, strides, tail0, j), hint="tl")
        self._combine_tmp(tail0)

    def _fill(self, offs: list[str], strides: list[int], i0: str, j: str) -> None:
        b = self.b
        i = b.emit(f"add nsw i64 {i0}, {j}")
        here = [b.mul_add(o, i, s) for o, s in zip(offs, strides, strict=True)]
        v = self.expr.emit(b, self.x, here, self.ptrs, {}, self.uses)
        b.store(self.dt, v, self.tmp, j)

    def _combine_tmp(self, i0: str) -> None:
        b, w, vty = self.b, self.lanes, self.vty
        raw = b.emit(f"load <{w} x {MEM_TYPE[self.dt]}>, ptr {self.tmp}, align 64")
        v = b.emit(f"icmp ne <{w} x i8> {raw}, zeroinitializer") if self.dt is DType.BOOL else raw
        a = b.emit(f"load {vty}, ptr {self.acc}, align 64")
        if self.op not in ARG_OPS:
            b.op(f"store {vty} {combine(b, self.op, self.dt, a, v, w)}, ptr {self.acc}, align 64")
            return
        ivty = f"<{w} x i64>"
        one = b.emit(f"insertelement {ivty} poison, i64 {i0}, i64 0")
        splat = b.emit(f"shufflevector {ivty} {one}, {ivty} poison, <{w} x i32> zeroinitializer")
        iota = ", ".join(f"i64 {k}" for k in range(w))
        idx = b.emit(f"add {ivty} {splat}, <{iota}>")
        ai = b.emit(f"load {ivty}, ptr {self.idx}, align 64")
        take = arg_better(b, self.op, self.dt, v, idx, a, ai, w)
        cty = f"<{w} x i1>"
        best = b.emit(f"select {cty} {take}, {vty} {v}, {vty} {a}")
        best_i = b.emit(f"select {cty} {take}, {ivty} {idx}, {ivty} {ai}")
        b.op(f"store {vty} {best}, ptr {self.acc}, align 64")
        b.op(f"store {ivty} {best_i}, ptr {self.idx}, align 64")

    def _tree(self) -> tuple[str, str | None]:
        """Combine the lanes by a fixed pairwise tree; returns (value, index or None)."""
        b, ty, w = self.b, self.ty, self.lanes
        acc = b.emit(f"load {self.vty}, ptr {self.acc}, align 64")
        vals = [b.emit(f"extractelement {self.vty} {acc}, i64 {j}") for j in range(w)]
        idxs: list[str | None] = [None] * w
        if self.op in ARG_OPS:
            ivec = b.emit(f"load <{w} x i64>, ptr {self.idx}, align 64")
            idxs = [b.emit(f"extractelement <{w} x i64> {ivec}, i64 {j}") for j in range(w)]
        while len(vals) > 1:
            half = len(vals) // 2
            nv, ni = [], []
            for j in range(half):
                if self.op in ARG_OPS:
                    take = arg_better(
                        b, self.op, self.dt, vals[j + half], idxs[j + half], vals[j], idxs[j]
                    )  # type: ignore[arg-type]
                    nv.append(b.emit(f"select i1 {take}, {ty} {vals[j + half]}, {ty} {vals[j]}"))
                    ni.append(b.emit(f"select i1 {take}, i64 {idxs[j + half]}, i64 {idxs[j]}"))
                else:
                    nv.append(combine(b, self.op, self.dt, vals[j], vals[j + half]))
                    ni.append(None)
            vals, idxs = nv, ni  # type: ignore[assignment]
        return vals[0], idxs[0]

    def _fold_lanes_into_total(self, s: tuple[str, str | None]) -> None:
        self._fold_into_total(s[0], s[1] or "0")

    def _push(self, blk: str, s: tuple[str, str | None]) -> None:
        """Binary-counter pairwise cascade: merge with the partials of equal weight."""
        b, ty = self.b, self.ty
        b.op(f"store {ty} {s[0]}, ptr {self.cur}")
        inv = b.emit(f"xor i64 {blk}, -1")
        levels = b.emit(f"call i64 @llvm.cttz.i64(i64 {inv}, i1 false)")

        def merge(level: str) -> None:
            p = b.emit(f"getelementptr inbounds {ty}, ptr {self.stack}, i64 {level}")
            older = b.emit(f"load {ty}, ptr {p}")
            c = b.emit(f"load {ty}, ptr {self.cur}")
            b.op(f"store {ty} {b.emit(f'fadd {ty} {older}, {c}')}, ptr {self.cur}")

        b.loop("0", levels, merge, hint="mg")
        p = b.emit(f"getelementptr inbounds {ty}, ptr {self.stack}, i64 {levels}")
        b.op(f"store {ty} {b.emit(f'load {ty}, ptr {self.cur}')}, ptr {p}")

    def _fold_stack(self, n_blocks: int) -> None:
        b, ty = self.b, self.ty
        acc: str | None = None
        for level in range(64):
            if n_blocks >> level & 1:
                p = b.emit(f"getelementptr inbounds {ty}, ptr {self.stack}, i64 {level}")
                v = b.emit(f"load {ty}, ptr {p}")
                acc = v if acc is None else b.emit(f"fadd {ty} {v}, {acc}")
        if acc is not None:
            t = b.emit(f"load {ty}, ptr {self.total}")
            b.op(f"store {ty} {b.emit(f'fadd {ty} {t}, {acc}')}, ptr {self.total}")

    def _fold_stack_runtime(self, n_blocks: str) -> None:
        """``_fold_stack`` for a block count known at run time: the same additions in the
        same order (ascending levels, ``v + acc``), so the same bits."""
        b, ty = self.b, self.ty
        b.op(f"store i1 false, ptr {self.have}")
        b.op(f"store {ty} {float_literal(0.0)}, ptr {self.fold}")
        bits = b.emit(f"sub i64 64, {b.emit(f'call i64 @llvm.ctlz.i64(i64 {n_blocks}, i1 false)')}")

        def level(k: str) -> None:
            bit = b.emit(f"and i64 {b.emit(f'lshr i64 {n_blocks}, {k}')}, 1")
            is_set = b.emit(f"icmp ne i64 {bit}, 0")
            p = b.emit(f"getelementptr inbounds {ty}, ptr {self.stack}, i64 {k}")
            v = b.emit(f"load {ty}, ptr {p}")
            acc = b.emit(f"load {ty}, ptr {self.fold}")
            have = b.emit(f"load i1, ptr {self.have}")
            new = b.emit(f"select i1 {have}, {ty} {b.emit(f'fadd {ty} {v}, {acc}')}, {ty} {v}")
            kept = b.emit(f"select i1 {is_set}, {ty} {new}, {ty} {acc}")
            b.op(f"store {ty} {kept}, ptr {self.fold}")
            b.op(f"store i1 {b.emit(f'or i1 {have}, {is_set}')}, ptr {self.have}")

        b.loop("0", bits, level, hint="lv")
        acc = b.emit(f"load {ty}, ptr {self.fold}")
        t = b.emit(f"load {ty}, ptr {self.total}")
        have = b.emit(f"load i1, ptr {self.have}")
        summed = b.emit(f"fadd {ty} {t}, {acc}")
        b.op(f"store {ty} {b.emit(f'select i1 {have}, {ty} {summed}, {ty} {t}')}, ptr {self.total}")


def reduce_kernel(name: str, r: Value, computed: Container[int]) -> KernelText:
    """The body of the reduction ``r``; ``computed``: ids of the inlined operand Values."""
    return _Reduce(name, r, computed).build()
