"""Native loops: a ``scan`` whose body plans to compiled kernels and (recursively) such scans
runs as one LLVM function that loops over the iterations, calls the body's kernels and nested
loops (compiled in the same module), with no Python per iteration.

A driver ``void @D(ptr %bufs)`` gets one pointer per buffer: the loop's operands (consts,
initial carries, xs), its outputs (final carries, stacked ys), then its *extras*: the body's
constants, one scratch buffer per value a body kernel or nested loop writes, one staging buffer
per carry, and the extras of its nested loops, all allocated by the caller (Python allocates
them once per call of the outermost loop). It copies the initial carries into the output
carries (which hold the current carries from then on), and per iteration: calls each body
kernel or nested loop with the addresses of its inputs and outputs (an ``x`` is its slice of
``xs`` at this iteration), copies each ``y`` into its row of the stacked output, then each new
carry into the carry (through a staging buffer when the new carry is a param, so a body that
swaps carries never reads an overwritten one). Checkpointed scans (a scan of scans) run
natively this way. Loops with other body steps (numpy steps, BLAS matmuls), symbolic shapes,
or while loops (their trip count may be unbounded: they stay interruptible) keep the plan's
interpreter step, which runs the body on numpy.

>>> import numpy as np, tracegrad
>>> from tracegrad.llvm.backend import LLVMBackend
>>> f = lambda x: tracegrad.fori_loop(0, 1000, lambda i, v: np.sin(v) * 0.5 + 0.1, x)
>>> exe = LLVMBackend().compile(tracegrad.make_ir(f)(np.zeros(3)))
>>> [type(r).__name__ for r in exe.runs]
['LoopRun']
>>> exe([np.zeros(3)])[0].round(12)
array([0.19869517, 0.19869517, 0.19869517])
"""

from __future__ import annotations

import ctypes
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from tracegrad.ir.ops import Op
from tracegrad.ir.prims.control import OUTPUT, group_attrs, output_types
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, Value
from tracegrad.llvm.codegen.elementwise import KernelText
from tracegrad.llvm.machine import engine
from tracegrad.llvm.plan.kernels import InterpretStep, KernelGroup, MatmulStep, plan
from tracegrad.llvm.plan.module import PLACEHOLDER, build_module, lower_groups
from tracegrad.llvm.plan.runs import lone_reshape
from tracegrad.llvm.runtime.blas import CBLAS_NO_TRANS, CBLAS_ROW_MAJOR, CBLAS_TRANS, gemm_address

_Signature = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
MAX_DEPTH = 4  # nested native loops (a checkpointed scan's backward pass has depth 2)


def _nbytes(t: TensorType) -> int:
    return math.prod(t.concrete_shape) * t.dtype.numpy.itemsize


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
    name: str  # placeholder symbol of the driver function
    n_operands: int
    types: list[TensorType]  # of the outputs
    extras: list[Extra] = field(default_factory=list)
    kernels: list[KernelText] = field(default_factory=list)
    text: list[str] = field(default_factory=list)  # this driver's and its nested drivers'


def native_loop(group: Function, slots: dict) -> LoopRun | None:
    """A LoopRun for the interpreter step ``group`` (a loop's outputs), or None when the loop
    is not one this module runs natively."""
    members = group.outputs
    if not members or members[0].op is not Op.SCAN:
        return None
    driver = _driver(members[0], [p.type for p in group.params], itertools.count(), 0)
    return None if driver is None else LoopRun(group, slots, driver)


class LoopRun:
    """A scan run natively (see the module docstring)."""

    def __init__(self, group: Function, slots: dict, driver: Driver) -> None:
        mt = build_module(driver.kernels, extra="\n".join([*driver.text, _MEMCPY_DECL]))
        symbol = driver.name.replace(PLACEHOLDER, mt.prefix)
        self.module = engine.compile_module(
            mt.text, opt_level=3, name_hint="loop", exports=[symbol]
        )
        self.call = _Signature(self.module.address(symbol))
        self.in_slots = [slots[id(p)] for p in group.params]
        self.members = [(slots[id(m)], m.attr(OUTPUT)) for m in group.outputs]
        self.driver = driver
        self.source_ir = mt.text

    def run(self, env: list, use_threads: bool, dims: dict) -> None:
        ins = [np.ascontiguousarray(env[s]) for s in self.in_slots]
        outs = [np.empty(t.concrete_shape, t.dtype.numpy) for t in self.driver.types]
        arrays = [*ins, *outs, *(e.allocate() for e in self.driver.extras)]
        pointers = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
        self.call(ctypes.addressof(pointers))  # ctypes releases the GIL meanwhile
        for slot, k in self.members:
            env[slot] = outs[k]


# ---- building drivers ---------------------------------------------------------------------


def _driver(
    v: Value, operand_types: list[TensorType], ids: itertools.count, depth: int
) -> Driver | None:
    attrs = group_attrs(v)
    body: Function = attrs["body"]
    types = output_types(Op.SCAN, operand_types, attrs)
    if depth > MAX_DEPTH or not all(t.is_concrete for t in [*operand_types, *types]):
        return None
    if not all(x.type.is_concrete for x in body.order):
        return None
    body_plan = plan(body)
    index = next(ids)
    kernels, reasons = lower_groups(body_plan, prefix=f"l{index}_")
    if reasons or not body_plan.steps:
        return None
    driver = Driver(f"{PLACEHOLDER}loop{index}", len(operand_types), types, kernels=list(kernels))
    builder = _Body(driver, body_plan.function, attrs)
    by_roots = {tuple(id(r) for r in k.outputs): k for k in kernels}
    for step in body_plan.steps:
        if isinstance(step, KernelGroup):
            builder.kernel(by_roots[tuple(id(r) for r in step.roots)])
        elif isinstance(step, MatmulStep):
            if not builder.matmul(step):
                return None
        elif isinstance(step, InterpretStep) and lone_reshape(step.function):
            if not builder.alias(step.function.outputs[0]):
                return None
        elif isinstance(step, InterpretStep) and step.function.outputs[0].op is Op.SCAN:
            inner = _driver(
                step.function.outputs[0], [o.type for o in step.function.params], ids, depth + 1
            )
            if inner is None:
                return None
            builder.nested(inner, step.function)
        else:
            return None
    driver.text.insert(0, builder.finish())
    return driver


class _Body:
    """The LLVM text of one driver, built step by step."""

    def __init__(self, driver: Driver, body: Function, attrs: dict) -> None:
        self.driver, self.body, self.attrs = driver, body, attrs
        self.n_consts, self.n_carry = attrs["num_consts"], attrs["num_carry"]
        self.lines: list[str] = []
        self.calls = itertools.count()
        self.addresses: dict[int, str] = {}
        length, n_out = attrs["length"], len(driver.types)
        n_ops = driver.n_operands
        self.index = "%i"
        if attrs["reverse"]:
            self.lines.append(f"  %idx = sub i64 {length - 1}, %i")
            self.index = "%idx"
        self.carry_buf = [f"%b{n_ops + k}" for k in range(self.n_carry)]
        for j, p in enumerate(body.params):
            if j < self.n_consts:
                self.addresses[id(p)] = f"%b{j}"
            elif j < self.n_consts + self.n_carry:
                self.addresses[id(p)] = self.carry_buf[j - self.n_consts]
            else:
                self.lines.append(f"  %off{j} = mul i64 {self.index}, {_nbytes(p.type)}")
                self.lines.append(f"  %x{j} = getelementptr i8, ptr %b{j}, i64 %off{j}")
                self.addresses[id(p)] = f"%x{j}"
        self.first_extra = n_ops + n_out
        for v in body.order:
            if v.op is Op.CONST:
                self.addresses[id(v)] = self._extra(
                    Extra(const=np.ascontiguousarray(v.attr("data").array))
                )

    def _extra(self, extra: Extra) -> str:
        self.driver.extras.append(extra)
        return f"%b{self.first_extra + len(self.driver.extras) - 1}"

    def _call(self, symbol: str, pointers: list[str]) -> None:
        k = next(self.calls)
        self.lines.append(f"  %a{k} = alloca [{max(len(pointers), 1)} x ptr], align 8")
        for n, address in enumerate(pointers):
            self.lines.append(f"  %p{k}_{n} = getelementptr ptr, ptr %a{k}, i64 {n}")
            self.lines.append(f"  store ptr {address}, ptr %p{k}_{n}, align 8")
        extra = ", ptr null" if not symbol.startswith(f"{PLACEHOLDER}loop") else ""
        self.lines.append(f'  call void @"{symbol}"(ptr %a{k}{extra})')

    def kernel(self, kt: KernelText) -> None:
        for o in kt.outputs:
            self.addresses[id(o)] = self._extra(Extra(type=o.type))
        self._call(kt.name, [self.addresses[id(x)] for x in [*kt.inputs, *kt.outputs]])

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
        pointer = self._extra(Extra(const=np.array([gemm], dtype=np.uintp)))
        out = self._extra(Extra(type=v.type))
        self.addresses[id(v)] = out
        c = next(self.calls)
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
        outs = [self._extra(Extra(type=t)) for t in inner.types]
        for member in group.outputs:
            self.addresses[id(member)] = outs[member.attr(OUTPUT)]
        extras = [self._extra(e) for e in inner.extras]
        pointers = [self.addresses[id(o)] for o in group.params] + outs + extras
        self._call(inner.name, pointers)

    def finish(self) -> str:
        body, n_carry, types = self.body, self.n_carry, self.driver.types
        for j, out in enumerate(body.outputs[n_carry:]):  # ys first: they may be old carries
            step = _nbytes(out.type)
            dest = self.driver.n_operands + n_carry + j
            self.lines.append(f"  %yo{j} = mul i64 {self.index}, {step}")
            self.lines.append(f"  %y{j} = getelementptr i8, ptr %b{dest}, i64 %yo{j}")
            self.lines.append(_memcpy(f"%y{j}", self.addresses[id(out)], step))
        sources = [self.addresses[id(out)] for out in body.outputs[:n_carry]]
        for k, out in enumerate(body.outputs[:n_carry]):
            if out.op is Op.PARAM:  # another carry, say: staged before any carry is written
                stage = self._extra(Extra(type=types[k]))
                self.lines.append(_memcpy(stage, sources[k], _nbytes(types[k])))
                sources[k] = stage
        for k in range(n_carry):
            if sources[k] != self.carry_buf[k]:
                self.lines.append(_memcpy(self.carry_buf[k], sources[k], _nbytes(types[k])))
        return self._assemble()

    def _assemble(self) -> str:
        driver, n_consts = self.driver, self.n_consts
        size = self.first_extra + len(driver.extras)
        head = [f'define void @"{driver.name}"(ptr %bufs) nounwind {{', "entry:"]
        for i in range(size):
            head.append(f"  %g{i} = getelementptr ptr, ptr %bufs, i64 {i}")
            head.append(f"  %b{i} = load ptr, ptr %g{i}, align 8")
        for k in range(self.n_carry):
            head.append(_memcpy(self.carry_buf[k], f"%b{n_consts + k}", _nbytes(driver.types[k])))
        allocas = [line for line in self.lines if "= alloca" in line]
        body = [line for line in self.lines if "= alloca" not in line]
        loop = ["  br label %head", "head:", "  %i = phi i64 [0, %entry], [%next, %body]",
                f"  %done = icmp eq i64 %i, {self.attrs['length']}",
                "  br i1 %done, label %exit, label %body", "body:"]  # fmt: skip
        tail = ["  %next = add i64 %i, 1", "  br label %head", "exit:", "  ret void", "}"]
        return "\n".join([*head, *allocas, *loop, *body, *tail]) + "\n"


_MEMCPY_DECL = "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)\n"


def _memcpy(dest: str, source: str, nbytes: int) -> str:
    return f"  call void @llvm.memcpy.p0.p0.i64(ptr {dest}, ptr {source}, i64 {nbytes}, i1 false)"


__all__ = ["LoopRun", "native_loop"]
