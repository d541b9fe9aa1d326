"""The steps of an executable plan (tracegrad.llvm.backend): compiled kernels, numpy steps,
BLAS matmuls, and the per-signature fast closures that call one kernel directly.

Each step's ``run(env, use_threads, dims)`` reads its inputs from the plan's slot list
``env`` and stores its outputs there; ``dims`` binds the symbolic dims of this call
(runtime extents, see :mod:`tracegrad.llvm.codegen.extents`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tracegrad.ir.interpreter import bind_dims
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import HIGHER_ORDER, PRIMS
from tracegrad.ir.types import Dim
from tracegrad.ir.value import Function, Value
from tracegrad.llvm.callpath import wrapper as callpath
from tracegrad.llvm.codegen import KernelText, evaluate
from tracegrad.llvm.machine import engine
from tracegrad.llvm.plan.module import arg_specs
from tracegrad.llvm.runtime import threads
from tracegrad.llvm.runtime.blas import matmul
from tracegrad.llvm.runtime.pool import MIN_BYTES, output_pool

_empty = output_pool().empty

# work units (elements weighted by body cost): below ~0.5 ms the pool hand-off does not pay
THREAD_MIN_WORK = 1 << 19


class KernelRun:
    """One compiled kernel inside a plan."""

    def __init__(
        self, kt: KernelText, symbol: str, module: engine.CompiledModule, slots: dict
    ) -> None:
        self.in_slots = [slots[id(v)] for v in kt.inputs]
        self.out_slots = [slots[id(v)] for v in kt.outputs]
        self.outs = [(tuple(v.shape), v.dtype.numpy) for v in kt.outputs]
        # static outputs below the pool's threshold skip its Python call (~0.4 us each)
        self.allocs = [
            np.empty
            if all(isinstance(d, int) for d in shape) and math.prod(shape) * dt.itemsize < MIN_BYTES
            else _empty
            for shape, dt in self.outs
        ]
        self.outer, self.work = kt.outer, kt.work
        self.range_address = module.address(symbol + ".range")
        self.symbolic = bool(kt.dims)  # runtime extents: sizes are evaluated per call
        self.threaded = kt.splittable and (self.symbolic or _worth_threads(kt.work, kt.outer))
        self.kernel, self.symbol = kt, symbol
        self.native: Any = None  # the METH_FASTCALL builtin, once compiled
        self.slow = callpath.ctypes_callable(
            module.address(symbol),
            len(kt.inputs) + len(kt.outputs),
            len(kt.dims),
            arg_specs=arg_specs(kt),
            keepalive=module,
        )
        self.empty_check = self.symbolic and _needs_empty_check(kt)

    def run(self, env: list, use_threads: bool, dims: dict) -> None:
        ins = [env[s] for s in self.in_slots]
        outer, work = self.outer, self.work
        if self.symbolic:
            outs = [_empty(bind_dims(shape, dims), dtype) for shape, dtype in self.outs]
            outer, work = evaluate(outer, dims), evaluate(work, dims)
            if self.empty_check:
                _raise_if_empty(self.kernel, dims)
        else:
            outs = [alloc(*out) for alloc, out in zip(self.allocs, self.outs, strict=True)]
        if use_threads and self.threaded and _worth_threads(work, outer):
            self._parallel(ins + outs, outer, work, [dims[d] for d in self.kernel.dims])
        elif self.native is not None:
            self.native(*ins, *outs)
        else:
            self.slow(ins + outs)
        for s, o in zip(self.out_slots, outs, strict=True):
            env[s] = o

    def _parallel(self, arrays: list[np.ndarray], outer: int, work: int, ext: list) -> None:
        per_row = max(1, work // outer)
        threads.parallel_for(
            self.range_address,
            [a.ctypes.data for a in arrays],
            ext,
            outer,
            min_rows=max(1, (THREAD_MIN_WORK // 2) // per_row),
            align=max(1, 64 // per_row),
        )


def _worth_threads(work: int, outer: int) -> bool:
    return work >= THREAD_MIN_WORK and outer > 1


def _needs_empty_check(kt: KernelText) -> bool:
    """max/min/argmax/argmin over a symbolic reduced extent: numpy raises when it is 0."""
    ops = (Op.REDUCE_MAX, Op.REDUCE_MIN, Op.ARGMAX, Op.ARGMIN)
    return len(kt.outputs) == 1 and kt.outputs[0].op in ops


def _raise_if_empty(kt: KernelText, dims: dict) -> None:
    """An empty operand: numpy's own error when it has one, raised by running numpy's
    reduction on an empty array of the operand's shape (numpy raises for an empty reduced
    extent even when the result is empty too, as for a (0, 0) array over either axis)."""
    (r,) = kt.outputs
    x = r.operands[0]
    shape = bind_dims(tuple(x.shape), dims)
    if math.prod(shape) == 0:
        attrs = {k: bind_dims(a, dims) for k, a in r.attrs}
        PRIMS[r.op].numpy_impl(np.empty(shape, x.dtype.numpy), **attrs)


class InterpretRun:
    def __init__(self, function: Function, slots: dict) -> None:
        from tracegrad.ir.interpreter import evaluate

        self.evaluate = evaluate
        self.function = function
        self.in_slots = [slots[id(p)] for p in function.params]
        self.out_slots = [slots[id(o)] for o in function.outputs]

    def run(self, env: list, use_threads: bool, dims: dict) -> None:
        outs = self.evaluate(self.function, [env[s] for s in self.in_slots], dims)
        for s, o in zip(self.out_slots, outs, strict=True):
            # kernels read C-contiguous buffers only (ascontiguousarray would make 0-d 1-d)
            env[s] = o if o.flags.c_contiguous else np.array(o, order="C")


class OpRun(InterpretRun):
    """A step that is one op of its parameters: its numpy reference called directly, without
    the interpreter's per-call setup (about 15 us a step; pad, concatenate, gather...)."""

    def __init__(self, function: Function, slots: dict) -> None:
        (out,) = function.outputs
        self.in_slots = [slots[id(o)] for o in out.operands]
        self.out_slots = [slots[id(out)]]
        self.impl = PRIMS[out.op].numpy_impl
        self.attrs = dict(out.attrs)
        self.dtype = out.dtype.numpy

    def run(self, env: list, use_threads: bool, dims: dict) -> None:
        out = np.asarray(self.impl(*[env[s] for s in self.in_slots], **self.attrs))
        out = out.astype(self.dtype, copy=False)
        # kernels read C-contiguous buffers only (ascontiguousarray would make 0-d 1-d)
        env[self.out_slots[0]] = out if out.flags.c_contiguous else np.array(out, order="C")


def lone_op(function: Function) -> bool:
    """The step is one first-order op of static shapes whose operands are exactly the step's
    parameters (symbolic dims stay with the interpreter, which binds them from the step's own
    arguments)."""
    if len(function.outputs) != 1:
        return False
    out = function.outputs[0]
    static = all(isinstance(d, int) for v in (out, *out.operands) for d in v.shape)
    return static and out.op not in HIGHER_ORDER and tuple(out.operands) == tuple(function.params)


class ReshapeRun:
    """A lone RESHAPE step: a numpy view of a C-contiguous buffer (which stays
    C-contiguous), without the interpreter's per-step overhead (~20 us)."""

    def __init__(self, function: Function, slots: dict) -> None:
        (out,) = function.outputs
        self.source = slots[id(out.operands[0])]
        self.out = slots[id(out)]
        self.shape = tuple(out.attr("shape"))

    def run(self, env: list, use_threads: bool, dims: dict) -> None:
        shape = bind_dims(self.shape, dims) if dims else self.shape
        env[self.out] = env[self.source].reshape(shape)  # type: ignore[arg-type]


def lone_reshape(function: Function) -> bool:
    """The step is one RESHAPE of one of its parameters."""
    if len(function.outputs) != 1:
        return False
    out = function.outputs[0]
    return out.op is Op.RESHAPE and out.operands[0] in function.params


class MatmulRun:
    """``a @ b`` through numpy's BLAS; an operand with a perm is a transposed view of the
    buffer in its slot (BLAS reads it transposed, nothing is copied)."""

    def __init__(self, v: Value, slots: dict, views: tuple = (None, None)) -> None:
        self.operands = [
            (slots[id(o.operands[0] if perm is not None else o)], perm)
            for o, perm in zip(v.operands, views, strict=True)
        ]
        self.out = slots[id(v)]

    def run(self, env: list, use_threads: bool, dims: dict) -> None:
        (a, pa), (b, pb) = self.operands
        x = env[a] if pa is None else env[a].transpose(pa)
        y = env[b] if pb is None else env[b].transpose(pb)
        env[self.out] = matmul(x, y)


def fast_closure(run: KernelRun, exe: Any) -> Any:
    """``fast_call`` specialized for one kernel: allocate, call the wrapper, done.

    One or two inputs and one output get closures without ``*args`` (unpacking a tuple
    into the call costs about 0.2 us, as much as everything else together).
    """
    native, slow, empty = run.native, exe.__call__, np.empty
    if len(run.outs) == 1 and len(run.in_slots) in (1, 2):
        ((shape, dtype),) = run.outs
        if len(run.in_slots) == 1:

            def fast_call1(a: Any) -> list[np.ndarray]:
                out = empty(shape, dtype)
                try:
                    native(a, out)
                except TypeError:  # not the common signature: convert in Python
                    return slow((a,))
                return [out]

            return fast_call1

        def fast_call2(a: Any, b: Any) -> list[np.ndarray]:
            out = empty(shape, dtype)
            try:
                native(a, b, out)
            except TypeError:
                return slow((a, b))
            return [out]

        return fast_call2

    def fast_call_n(*arrays: Any) -> list[np.ndarray]:
        outs = [empty(shape, dtype) for shape, dtype in run.outs]
        try:
            native(*arrays, *outs)
        except TypeError:
            return slow(arrays)
        return outs

    return fast_call_n


def symbolic_fast_closure(run: KernelRun, params: tuple[Value, ...]) -> Any:
    """``arrays -> outputs or None`` for a one-kernel plan with runtime extents: dims are
    read straight off the argument shapes, outputs allocated, the native wrapper called
    (it checks dtypes, layouts and that every dim agrees across arguments). None means
    "not this way": the caller takes the plan's full path, which threads large calls,
    checks empty reductions and raises the precise errors."""
    sources: dict[Dim, tuple[int, int]] = {}
    for i, p in enumerate(params):
        for axis, d in enumerate(p.shape):
            if isinstance(d, Dim):
                sources.setdefault(d, (i, axis))
    if any(isinstance(d, Dim) and d not in sources for shape, _ in run.outs for d in shape):
        return None
    # per output dim: (argument, axis) to read it from, or (-1, the static extent)
    outs = [
        (tuple(sources[d] if isinstance(d, Dim) else (-1, d) for d in shape), dt)
        for shape, dt in run.outs
    ]
    native, kt, empty, order = run.native, run.kernel, _empty, run.in_slots
    work, outer = kt.work, kt.outer
    may_thread = run.threaded  # large calls go the plan's threaded way

    def call(arrays: list[Any]) -> list[np.ndarray] | None:
        try:
            shapes = [
                tuple(n if i < 0 else arrays[i].shape[n] for i, n in spec) for spec, _ in outs
            ]
        except (AttributeError, IndexError):
            return None
        if may_thread:
            dims = {d: arrays[i].shape[a] for d, (i, a) in sources.items()}
            if _worth_threads(evaluate(work, dims), evaluate(outer, dims)):
                return None
        results = [empty(shape, dt) for shape, (_, dt) in zip(shapes, outs, strict=True)]
        try:
            native(*[arrays[i] for i in order], *results)
        except TypeError:
            return None
        return results

    return call
