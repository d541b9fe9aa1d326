"""Native loops: a ``scan`` whose body plans to compiled kernels only runs as one LLVM function
that loops over the iterations and calls the body's kernels (compiled in the same module), with
no Python per iteration.

The driver ``void @D(ptr %bufs)`` gets one pointer per buffer (:class:`Layout`): the loop's
operands (consts, initial carries, xs), its outputs (final carries, stacked ys), the body's
constants, one scratch buffer per value a body kernel writes, and one staging buffer per carry.
It copies the initial carries into the output carries (which hold the current carries from
then on), and per iteration: calls each body kernel with the addresses of its inputs and
outputs (an ``x`` is its slice of ``xs`` at this iteration), copies each ``y`` into its row of
the stacked output, then each new carry into the carry (through a staging buffer when the new
carry is a param, so a body that swaps carries never reads an overwritten one). Bodies with
other steps (numpy steps, BLAS matmuls), symbolic shapes or nested loops keep the plan's
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
import math
from dataclasses import dataclass, field

import numpy as np

from tracegrad.ir.ops import Op
from tracegrad.ir.prims.control import OUTPUT, group_attrs, output_types
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, Value
from tracegrad.llvm.codegen.elementwise import KernelText
from tracegrad.llvm.machine import engine
from tracegrad.llvm.plan.kernels import KernelGroup, plan
from tracegrad.llvm.plan.module import PLACEHOLDER, build_module, lower_groups

_DRIVER = PLACEHOLDER + "loop"
_Signature = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def _nbytes(t: TensorType) -> int:
    return math.prod(t.concrete_shape) * t.dtype.numpy.itemsize


@dataclass
class Layout:
    """Buffer numbering of the driver's pointer array."""

    n_operands: int
    n_outputs: int
    consts: list[Value] = field(default_factory=list)
    scratch: list[Value] = field(default_factory=list)
    staging: list[TensorType] = field(default_factory=list)

    def const_index(self, v: Value) -> int:
        return self.n_operands + self.n_outputs + self.consts.index(v)

    def scratch_index(self, v: Value) -> int:
        return self.n_operands + self.n_outputs + len(self.consts) + self.scratch.index(v)

    def staging_index(self, k: int) -> int:
        return self.n_operands + self.n_outputs + len(self.consts) + len(self.scratch) + k

    @property
    def size(self) -> int:
        return self.staging_index(len(self.staging))


def _eligible(group: Function) -> bool:
    members = group.outputs
    if not members or members[0].op is not Op.SCAN:
        return False
    body: Function = members[0].attr("body")
    values = [*group.params, *members, *body.order]
    return all(v.type.is_concrete for v in values)


class LoopRun:
    """A scan run natively (see the module docstring); built by :func:`native_loop`."""

    def __init__(self, group: Function, slots: dict, text: str, kernels: list[KernelText],
                 layout: Layout, types: list[TensorType]) -> None:  # fmt: skip
        mt = build_module(kernels, extra=text)
        symbol = _DRIVER.replace(PLACEHOLDER, mt.prefix)
        self.module = engine.compile_module(
            mt.text, opt_level=3, name_hint="loop", exports=[symbol]
        )
        self.driver = _Signature(self.module.address(symbol))
        self.in_slots = [slots[id(p)] for p in group.params]
        self.members = [(slots[id(m)], m.attr(OUTPUT)) for m in group.outputs]
        self.layout, self.types = layout, types
        self.source_ir = mt.text

    def run(self, env: list, use_threads: bool, dims: dict) -> None:
        ins = [np.ascontiguousarray(env[s]) for s in self.in_slots]
        outs = [np.empty(t.concrete_shape, t.dtype.numpy) for t in self.types]
        consts = [np.ascontiguousarray(v.attr("data").array) for v in self.layout.consts]
        scratch = [np.empty(v.type.concrete_shape, v.dtype.numpy) for v in self.layout.scratch]
        staging = [np.empty(t.concrete_shape, t.dtype.numpy) for t in self.layout.staging]
        arrays = [*ins, *outs, *consts, *scratch, *staging]
        pointers = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
        self.driver(ctypes.addressof(pointers))  # ctypes releases the GIL meanwhile
        for slot, k in self.members:
            env[slot] = outs[k]


def native_loop(group: Function, slots: dict) -> LoopRun | None:
    """A LoopRun for the interpreter step ``group`` (a loop's outputs), or None when the loop
    is not one this module runs natively."""
    if not _eligible(group):
        return None
    v = group.outputs[0]
    attrs = group_attrs(v)
    body: Function = attrs["body"]
    body_plan = plan(body)
    if not body_plan.steps or not all(isinstance(s, KernelGroup) for s in body_plan.steps):
        return None
    kernels, reasons = lower_groups(body_plan)
    if reasons:
        return None
    types = output_types(Op.SCAN, [p.type for p in group.params], attrs)
    layout = Layout(len(group.params), len(types))
    for kt in kernels:
        for x in kt.inputs:
            if x.op is Op.CONST and x not in layout.consts:
                layout.consts.append(x)
        layout.scratch.extend(o for o in kt.outputs if o not in layout.scratch)
    for out in body_plan.function.outputs:  # a constant the body returns as is
        if out.op is Op.CONST and out not in layout.consts:
            layout.consts.append(out)
    layout.staging = [types[k] for k in range(attrs["num_carry"])]
    text = _driver_text(body_plan.function, attrs, kernels, layout, types)
    return LoopRun(group, slots, text, kernels, layout, types)


def _driver_text(body: Function, attrs: dict, kernels: list[KernelText], layout: Layout,
                 types: list[TensorType]) -> str:  # fmt: skip
    n_consts, n_carry, length = attrs["num_consts"], attrs["num_carry"], attrs["length"]
    lines = [f'define void @"{_DRIVER}"(ptr %bufs) nounwind {{', "entry:"]
    for i in range(layout.size):
        lines.append(f"  %g{i} = getelementptr ptr, ptr %bufs, i64 {i}")
        lines.append(f"  %b{i} = load ptr, ptr %g{i}, align 8")
    for k, kt in enumerate(kernels):
        lines.append(f"  %a{k} = alloca [{len(kt.inputs) + len(kt.outputs)} x ptr], align 8")
    carry_buf = [f"%b{layout.n_operands + k}" for k in range(n_carry)]
    for k in range(n_carry):
        init = f"%b{n_consts + k}"
        lines.append(_memcpy(carry_buf[k], init, _nbytes(types[k])))
    lines += ["  br label %head", "head:", "  %i = phi i64 [0, %entry], [%next, %body]",
              f"  %done = icmp eq i64 %i, {length}", "  br i1 %done, label %exit, label %body",
              "body:"]  # fmt: skip
    index = f"{length - 1}" if attrs["reverse"] else "%i"
    if attrs["reverse"]:
        lines.append(f"  %idx = sub i64 {length - 1}, %i")
        index = "%idx"
    addresses: dict[int, str] = {}
    params = body.params
    for j, p in enumerate(params):
        if j < n_consts:
            addresses[id(p)] = f"%b{j}"
        elif j < n_consts + n_carry:
            addresses[id(p)] = carry_buf[j - n_consts]
        else:
            step = _nbytes(p.type)
            lines.append(f"  %off{j} = mul i64 {index}, {step}")
            lines.append(f"  %x{j} = getelementptr i8, ptr %b{j}, i64 %off{j}")
            addresses[id(p)] = f"%x{j}"
    for c in layout.consts:
        addresses[id(c)] = f"%b{layout.const_index(c)}"
    for s in layout.scratch:
        addresses[id(s)] = f"%b{layout.scratch_index(s)}"
    for k, kt in enumerate(kernels):
        for n, x in enumerate([*kt.inputs, *kt.outputs]):
            lines.append(f"  %p{k}_{n} = getelementptr ptr, ptr %a{k}, i64 {n}")
            lines.append(f"  store ptr {addresses[id(x)]}, ptr %p{k}_{n}, align 8")
        lines.append(f'  call void @"{kt.name}"(ptr %a{k}, ptr null)')
    for j, out in enumerate(body.outputs[n_carry:]):  # ys first: they may be old carries
        step = _nbytes(out.type)
        dest = layout.n_operands + n_carry + j
        lines.append(f"  %yo{j} = mul i64 {index}, {step}")
        lines.append(f"  %y{j} = getelementptr i8, ptr %b{dest}, i64 %yo{j}")
        lines.append(_memcpy(f"%y{j}", addresses[id(out)], step))
    # a new carry that is a param (another carry, say) is staged first, so that no carry is
    # overwritten before it is read; kernel outputs and constants are copied directly
    sources = [addresses[id(out)] for out in body.outputs[:n_carry]]
    for k, out in enumerate(body.outputs[:n_carry]):
        if out.op is Op.PARAM:
            stage = f"%b{layout.staging_index(k)}"
            lines.append(_memcpy(stage, sources[k], _nbytes(types[k])))
            sources[k] = stage
    for k in range(n_carry):
        if sources[k] != carry_buf[k]:
            lines.append(_memcpy(carry_buf[k], sources[k], _nbytes(types[k])))
    lines += ["  %next = add i64 %i, 1", "  br label %head", "exit:", "  ret void", "}",
              "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _memcpy(dest: str, source: str, nbytes: int) -> str:
    return f"  call void @llvm.memcpy.p0.p0.i64(ptr {dest}, ptr {source}, i64 {nbytes}, i1 false)"


__all__ = ["LoopRun", "native_loop"]
