"""Kernel descriptions shared by the emitters: strided views, dim coalescing, expressions.

A kernel iterates over a concrete *iteration shape*. Every array it reads or writes is an
:class:`Access`: a buffer argument plus one stride (in elements, possibly 0 or negative)
per iteration dim and an offset. BROADCAST (stride 0), TRANSPOSE (permuted strides) and
SLICE (offset and scaled strides) never move data: they only change an access's strides.

Before loops are emitted, dims are *coalesced*: extent-1 dims are dropped and adjacent
dims merged when every access walks them as one (``stride[d] == stride[d+1] * n[d+1]``),
so a contiguous elementwise kernel of any rank becomes one flat loop that LLVM's loop
vectorizer turns into packed AVX-512 code.
"""

from __future__ import annotations

import math
from collections.abc import Container
from dataclasses import dataclass, field

import numpy as np

from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.value import Value
from tracegrad.llvm.codegen import scalar_ops
from tracegrad.llvm.codegen.builder import KernelBuilder, literal
from tracegrad.llvm.codegen.extents import Sym, ext_shape, is_static

VIEW_OPS = frozenset({Op.BROADCAST, Op.TRANSPOSE, Op.SLICE})


def contiguous_strides(shape: tuple) -> tuple:
    """C-order strides in elements (symbolic dims give symbolic strides)."""
    strides = []
    step: int | Sym = 1
    for n in reversed(ext_shape(shape)):
        strides.append(step)
        step = step * n
    return tuple(reversed(strides))


def scalar_const(v: Value) -> str | None:
    """The immediate of a one-element constant (any shape), else None."""
    if v.op is Op.CONST and is_static(v.shape) and math.prod(v.shape) == 1:
        return literal(v.attr("data").array.reshape(-1)[0], v.dtype)
    return None


@dataclass(frozen=True)
class Access:
    """One strided read or write of a kernel buffer."""

    buffer: int
    dtype: DType
    strides: tuple[int | Sym, ...]
    offset: int | Sym = 0


def view_of(v: Value) -> tuple[Value, tuple[int, ...], int] | str:
    """(base buffer Value, strides over ``v.shape``, offset) of a view chain, or the
    immediate when the chain starts at a one-element constant."""
    imm = scalar_const(v)
    if imm is not None:
        return imm
    if v.op not in VIEW_OPS:
        return v, contiguous_strides(v.shape), 0  # type: ignore[arg-type]
    inner = view_of(v.operands[0])
    if isinstance(inner, str):
        return inner
    base, strides, offset = inner
    src_shape = v.operands[0].shape
    if v.op is Op.BROADCAST:
        lead = v.ndim - len(src_shape)
        new = [0] * lead + [0 if n == 1 else s for n, s in zip(src_shape, strides, strict=True)]
        return base, tuple(new), offset
    if v.op is Op.TRANSPOSE:
        return base, tuple(strides[p] for p in v.attr("perm")), offset
    new_strides = []
    for (start, _stop, step), s in zip(v.attr("slices"), strides, strict=True):
        if not (isinstance(start, int) and isinstance(step, int)):
            raise NotImplementedError("slice with symbolic bounds")
        offset += start * s if start >= 0 else 0
        new_strides.append(s * step)
    return base, tuple(new_strides), offset


def coalesce(
    shape: tuple, strides: list[tuple], keep: set[int] | None = None
) -> tuple[tuple, list[tuple], list[int]]:
    """Drop extent-1 dims and merge dims every access walks contiguously.

    Returns (shape, strides per access, original index of each kept dim's last member).
    ``keep``: dims that must not be dropped even when of extent 1.
    """
    shape = ext_shape(shape)
    dims = [d for d in range(len(shape)) if shape[d] != 1 or (keep and d in keep)]
    out_shape: list = []
    out_strides: list[list] = [[] for _ in strides]
    origin: list[int] = []
    for d in dims:
        mergeable = out_shape and all(
            st[-1] == s[d] * shape[d] for st, s in zip(out_strides, strides, strict=True)
        )
        if mergeable:
            out_shape[-1] = out_shape[-1] * shape[d]
            for st, s in zip(out_strides, strides, strict=True):
                st[-1] = s[d]
            origin[-1] = d
        else:
            out_shape.append(shape[d])
            for st, s in zip(out_strides, strides, strict=True):
                st.append(s[d])
            origin.append(d)
    return tuple(out_shape), [tuple(s) for s in out_strides], origin


class IdSet:
    """A union of id sets, without copying them: kernel formation asks "is this value
    computed inline?" against the set of every inlined id, and copying that set per kernel
    is quadratic on unrolled graphs (10^4 steps: 17 s of 75)."""

    __slots__ = ("parts",)

    def __init__(self, *parts: Container[int]) -> None:
        self.parts = parts

    def __contains__(self, key: object) -> bool:
        return any(key in part for part in self.parts)


@dataclass
class Expr:
    """Scalar expression DAG of a kernel: which Values are computed, which are loaded."""

    computed: Container[int]  # ids of Values evaluated inline (elementwise ops, group roots)
    shape: tuple  # iteration shape (dims may be symbolic)
    buffers: list[Value] = field(default_factory=list)  # input buffers, in argument order
    accesses: list[tuple[int, tuple[int, ...], int]] = field(default_factory=list)
    _leaf: dict[int, int | str] = field(default_factory=dict)  # value id -> access | imm
    _buffer_index: dict[int, int] = field(default_factory=dict)

    def collect(self, root: Value) -> None:
        """Register every load ``root`` needs (iterative DFS over computed Values)."""
        stack = [root]
        seen: set[int] = set()
        while stack:
            v = stack.pop()
            if id(v) in seen:
                continue
            seen.add(id(v))
            if self.is_computed(v):
                stack.extend(v.operands)
            else:
                self._add_leaf(v)

    def is_computed(self, v: Value) -> bool:
        return id(v) in self.computed and v.op not in VIEW_OPS and v.op is not Op.CONST

    def _add_leaf(self, v: Value) -> None:
        view = view_of(v)
        if isinstance(view, str):
            self._leaf[id(v)] = view
            return
        base, strides, offset = view
        if id(base) not in self._buffer_index:
            self._buffer_index[id(base)] = len(self.buffers)
            self.buffers.append(base)
        key = (self._buffer_index[id(base)], _align(strides, v.shape, self.shape), offset)
        if key not in self.accesses:
            self.accesses.append(key)
        self._leaf[id(v)] = self.accesses.index(key)

    def emit(
        self,
        b: KernelBuilder,
        root: Value,
        offsets: list[str],
        ptrs: list[str],
        memo: dict,
        uses: set[tuple[str, str]],
    ) -> str:
        """Emit ``root`` at the current index; ``offsets[k]`` is access k's element offset."""
        stack: list[tuple[Value, bool]] = [(root, False)]
        while stack:
            v, ready = stack.pop()
            if id(v) in memo:
                continue
            if not self.is_computed(v):
                leaf = self._leaf[id(v)]
                if isinstance(leaf, str):
                    memo[id(v)] = leaf
                else:
                    buf, _, _ = self.accesses[leaf]
                    memo[id(v)] = b.load(v.dtype, ptrs[buf], offsets[leaf])
            elif ready:
                args = [memo[id(o)] for o in v.operands]
                memo[id(v)] = scalar_ops.emit(b, v, args, uses)
            else:
                stack.append((v, True))
                stack.extend((o, False) for o in v.operands if id(o) not in memo)
        return memo[id(root)]


def _align(strides: tuple[int, ...], vshape: tuple, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Strides of a value of shape ``vshape`` read at the kernel's iteration shape (the
    value has the iteration shape, or it is a reduction operand of the same shape)."""
    if tuple(vshape) != tuple(shape):
        raise ValueError(f"shape {vshape} read in a kernel over {shape}")
    return strides


def buffer_dtype(v: Value) -> np.dtype:
    return v.dtype.numpy


def nest(
    b: KernelBuilder,
    shape: tuple,
    strides: list[tuple],
    bases: list[str],
    inner: object,
    range_dim0: tuple[str, str] | None = None,
    innermost_mark: str = "",
) -> None:
    """Loop nest over ``shape``; calls ``inner(offsets)`` with each access's offset.

    ``range_dim0`` replaces the bounds of dim 0 (the threaded split point);
    ``innermost_mark`` goes on the innermost loop's back edge (the one LLVM vectorizes).
    """

    def level(d: int, offs: list[str]) -> None:
        if d == len(shape):
            inner(offs)  # type: ignore[operator]
            return
        lo, hi = range_dim0 if (d == 0 and range_dim0) else ("0", b.ext(shape[d]))

        def body(i: str) -> None:
            level(d + 1, [b.mul_add(o, i, s[d]) for o, s in zip(offs, strides, strict=True)])

        mark = innermost_mark if d == len(shape) - 1 else ""
        b.loop(lo, hi, body, hint=f"d{d}_", latch_mark=mark)

    level(0, bases)
