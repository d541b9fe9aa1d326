"""The LLVM text of native loops (:mod:`tracegrad.llvm.plan.loops`): the buffers a driver gets
(``Driver``, ``Extra``) and ``StepText``, which writes the calls of one Function's planned steps
(kernels, BLAS products, reshapes as aliases, nested loops) into a driver's body.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tracegrad.ir.ops import Op
from tracegrad.ir.prims.control import OUTPUT
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, Value
from tracegrad.llvm.codegen import KernelText
from tracegrad.llvm.plan.kernels import InterpretStep, KernelGroup, MatmulStep, Plan
from tracegrad.llvm.plan.module import PLACEHOLDER
from tracegrad.llvm.plan.runs import lone_reshape
from tracegrad.llvm.runtime.blas import CBLAS_NO_TRANS, CBLAS_ROW_MAJOR, CBLAS_TRANS, gemm_address

MEMCPY_DECL = "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)\n"


def nbytes(t: TensorType) -> int:
    return math.prod(t.concrete_shape) * t.dtype.numpy.itemsize


def memcpy(dest: str, source: str, size: int) -> str:
    return f"  call void @llvm.memcpy.p0.p0.i64(ptr {dest}, ptr {source}, i64 {size}, i1 false)"


@dataclass
class Extra:
    """A buffer beyond a driver's operands and outputs: a constant, or scratch of a type."""

    const: np.ndarray | None = None
    type: TensorType | None = None

    def allocate(self) -> np.ndarray:
        if self.const is not None:
            return self.const
        assert self.type is not None
        return np.empty(self.type.concrete_shape, self.type.dtype.numpy)


@dataclass
class Driver:
    """One native loop function ``void @name(ptr %bufs)``: its operands, outputs, extras."""

    name: str  # placeholder symbol of the driver function
    n_operands: int
    types: list[TensorType]  # of the outputs
    extras: list[Extra] = field(default_factory=list)
    kernels: list[KernelText] = field(default_factory=list)
    text: list[str] = field(default_factory=list)  # this driver's and its nested drivers'

    @property
    def first_extra(self) -> int:
        return self.n_operands + len(self.types)


# build_inner(scan output Value, operand types) -> the nested loop's Driver, or None
InnerBuilder = Callable[[Value, list[TensorType]], "Driver | None"]


class StepText:
    """The calls of one Function's planned steps, as LLVM lines of a driver (``tag`` keeps the
    SSA names of two Functions in one driver apart: a while loop's condition and body)."""

    def __init__(self, driver: Driver, tag: str, addresses: dict[int, str]) -> None:
        self.driver, self.tag = driver, tag
        self.addresses = addresses  # id(Value) -> the LLVM pointer holding it
        self.lines: list[str] = []
        self.calls = itertools.count()

    def constants(self, function: Function) -> None:
        for v in function.order:
            if v.op is Op.CONST and id(v) not in self.addresses:
                array = np.ascontiguousarray(v.attr("data").array)
                self.addresses[id(v)] = self.extra(Extra(const=array))

    def steps(self, plan: Plan, kernels: list[KernelText], build_inner: InnerBuilder) -> bool:
        """Write every step of ``plan``; False when one cannot run natively."""
        self.constants(plan.function)
        by_roots = {tuple(id(r) for r in k.outputs): k for k in kernels}
        for step in plan.steps:
            if isinstance(step, KernelGroup):
                self.kernel(by_roots[tuple(id(r) for r in step.roots)])
            elif isinstance(step, MatmulStep):
                if not self.matmul(step):
                    return False
            elif isinstance(step, InterpretStep) and lone_reshape(step.function):
                if not self.alias(step.function.outputs[0]):
                    return False
            elif isinstance(step, InterpretStep) and step.function.outputs[0].op is Op.SCAN:
                types = [o.type for o in step.function.params]
                inner = build_inner(step.function.outputs[0], types)
                if inner is None:
                    return False
                self.nested(inner, step.function)
            else:
                return False
        return True

    def extra(self, extra: Extra) -> str:
        self.driver.extras.append(extra)
        return f"%b{self.driver.first_extra + len(self.driver.extras) - 1}"

    def call(self, symbol: str, pointers: list[str]) -> None:
        k = f"{self.tag}{next(self.calls)}"
        self.lines.append(f"  %a{k} = alloca [{max(len(pointers), 1)} x ptr], align 8")
        for n, address in enumerate(pointers):
            self.lines.append(f"  %p{k}_{n} = getelementptr ptr, ptr %a{k}, i64 {n}")
            self.lines.append(f"  store ptr {address}, ptr %p{k}_{n}, align 8")
        extra = ", ptr null" if not symbol.startswith(f"{PLACEHOLDER}loop") else ""
        self.lines.append(f'  call void @"{symbol}"(ptr %a{k}{extra})')

    def kernel(self, kt: KernelText) -> None:
        for o in kt.outputs:
            self.addresses[id(o)] = self.extra(Extra(type=o.type))
        self.call(kt.name, [self.addresses[id(x)] for x in [*kt.inputs, *kt.outputs]])

    def alias(self, reshaped: Value) -> bool:
        """A reshape of a C-contiguous buffer is the same bytes: its address, no step."""
        source = reshaped.operands[0]
        if id(source) not in self.addresses:
            return False
        self.addresses[id(reshaped)] = self.addresses[id(source)]
        return True

    def matmul(self, step: MatmulStep) -> bool:
        """``C = A @ B`` of 2-d float matrices through numpy's ILP64 ``cblas_?gemm`` (an operand
        read as a transposed view of its buffer is passed with CblasTrans); False when the
        product is not one of those (the loop then stays a numpy step)."""
        v = step.value
        gemm = gemm_address(v.dtype.numpy.name) if v.dtype.is_float else None
        if gemm is None or v.ndim != 2:
            return False
        stored, trans = [], []
        for o, perm in zip(v.operands, step.views, strict=True):
            base = o.operands[0] if perm is not None else o
            if base.ndim != 2 or id(base) not in self.addresses:
                return False
            stored.append(base)
            trans.append(perm is not None)
        (m, k), n = v.operands[0].shape, v.shape[1]
        if min(m, n, k) < 1:
            return False  # BLAS refuses a leading dimension of 0
        pointer = self.extra(Extra(const=np.array([gemm], dtype=np.uintp)))
        out = self.extra(Extra(type=v.type))
        self.addresses[id(v)] = out
        c = f"{self.tag}{next(self.calls)}"
        real = "double" if v.dtype.numpy.itemsize == 8 else "float"
        flags = [CBLAS_TRANS if t else CBLAS_NO_TRANS for t in trans]
        lda, ldb = stored[0].shape[1], stored[1].shape[1]
        a, b = (self.addresses[id(x)] for x in stored)
        self.lines.append(f"  %gemm{c} = load ptr, ptr {pointer}, align 8")
        self.lines.append(
            f"  call void %gemm{c}(i32 {CBLAS_ROW_MAJOR}, i32 {flags[0]}, i32 {flags[1]}, "
            f"i64 {m}, i64 {n}, i64 {k}, {real} 1.0, ptr {a}, i64 {lda}, ptr {b}, i64 {ldb}, "
            f"{real} 0.0, ptr {out}, i64 {n})"
        )
        return True

    def nested(self, inner: Driver, group: Function) -> None:
        self.driver.kernels.extend(inner.kernels)
        self.driver.text.extend(inner.text)
        outs = [self.extra(Extra(type=t)) for t in inner.types]
        for member in group.outputs:
            self.addresses[id(member)] = outs[member.attr(OUTPUT)]
        extras = [self.extra(e) for e in inner.extras]
        pointers = [self.addresses[id(o)] for o in group.params] + outs + extras
        self.call(inner.name, pointers)
