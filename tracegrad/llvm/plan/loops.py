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
natively this way; 2-d matrix products call numpy's OpenBLAS from the loop.

A ``while_loop`` (one that records nothing) is a driver too: per trip it runs the condition's
steps, reads the bool, and runs the body's. Its trip count may be unbounded, so the driver runs
on a worker thread and checks a stop flag before every trip: Ctrl-C in the waiting caller sets
it, the loop stops, and KeyboardInterrupt is raised as usual. Loops with other steps (a gather,
a batched product...), symbolic shapes, or recording while loops (reverse mode's, whose buffers
grow) keep the plan's interpreter step, which runs the body on numpy.

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
import threading

import numpy as np

from tracegrad.ir.ops import Op
from tracegrad.ir.prims.control import OUTPUT, group_attrs, output_types
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, Value
from tracegrad.llvm.machine import engine
from tracegrad.llvm.plan.kernels import plan
from tracegrad.llvm.plan.loop_text import (
    MEMCPY_DECL,
    Driver,
    Extra,
    StepText,
    memcpy,
    nbytes,
)
from tracegrad.llvm.plan.module import PLACEHOLDER, build_module, lower_groups

_Signature = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
MAX_DEPTH = 4  # nested native loops (a checkpointed scan's backward pass has depth 2)
_STOP = "%stop"  # a while driver's stop flag: its last buffer (an int32 the caller sets)


def native_loop(group: Function, slots: dict) -> LoopRun | None:
    """A LoopRun for the interpreter step ``group`` (a loop's outputs), or None when the loop
    is not one this module runs natively."""
    members = group.outputs
    if not members:
        return None
    first, types = members[0], [p.type for p in group.params]
    if first.op is Op.SCAN:
        driver = _scan_driver(first, types, itertools.count(), 0)
    elif first.op is Op.WHILE and not first.attr("record"):
        driver = _while_driver(first, types, itertools.count())
    else:
        return None
    return None if driver is None else LoopRun(group, slots, driver, first.op is Op.WHILE)


class LoopRun:
    """A loop run natively (see the module docstring)."""

    def __init__(self, group: Function, slots: dict, driver: Driver, stoppable: bool) -> None:
        mt = build_module(driver.kernels, extra="\n".join([*driver.text, MEMCPY_DECL]))
        symbol = driver.name.replace(PLACEHOLDER, mt.prefix)
        self.module = engine.compile_module(
            mt.text, opt_level=3, name_hint="loop", exports=[symbol]
        )
        self.call = _Signature(self.module.address(symbol))
        self.in_slots = [slots[id(p)] for p in group.params]
        self.members = [(slots[id(m)], m.attr(OUTPUT)) for m in group.outputs]
        self.driver, self.stoppable = driver, stoppable
        self.source_ir = mt.text

    def run(self, env: list, use_threads: bool, dims: dict) -> None:
        ins = [np.ascontiguousarray(env[s]) for s in self.in_slots]
        outs = [np.empty(t.concrete_shape, t.dtype.numpy) for t in self.driver.types]
        arrays = [*ins, *outs, *(e.allocate() for e in self.driver.extras)]
        stop = np.zeros(1, np.int32)
        if self.stoppable:
            arrays.append(stop)
        pointers = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
        if self.stoppable:
            _run_stoppable(self.call, ctypes.addressof(pointers), stop, arrays)
        else:
            self.call(ctypes.addressof(pointers))  # ctypes releases the GIL meanwhile
        for slot, k in self.members:
            env[slot] = outs[k]


def _run_stoppable(call: object, pointers: int, stop: np.ndarray, keep: list) -> None:
    """Run a while driver on a worker thread; Ctrl-C here sets the flag it checks per trip."""
    worker = threading.Thread(target=call, args=(pointers,), daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except BaseException:
        stop[0] = 1
        worker.join()
        raise
    del keep  # the buffers lived until the loop stopped


# ---- scan drivers ---------------------------------------------------------------------------


def _lowered(function: Function, ids: itertools.count) -> tuple[object, list, str] | None:
    if not all(v.type.is_concrete for v in function.order):
        return None
    fn_plan = plan(function)
    index = next(ids)
    kernels, reasons = lower_groups(fn_plan, prefix=f"l{index}_")
    return None if reasons else (fn_plan, kernels, f"{PLACEHOLDER}loop{index}")


def _scan_driver(
    v: Value, operand_types: list[TensorType], ids: itertools.count, depth: int
) -> Driver | None:
    attrs = group_attrs(v)
    types = output_types(Op.SCAN, operand_types, attrs)
    if depth > MAX_DEPTH or not all(t.is_concrete for t in [*operand_types, *types]):
        return None
    lowered = _lowered(attrs["body"], ids)
    if lowered is None:
        return None
    body_plan, kernels, name = lowered
    driver = Driver(name, len(operand_types), types, kernels=list(kernels))
    n_consts, n_carry, length = attrs["num_consts"], attrs["num_carry"], attrs["length"]
    carry_buf = [f"%b{driver.n_operands + k}" for k in range(n_carry)]
    body: Function = body_plan.function  # type: ignore[attr-defined]
    prologue, addresses = [], {}
    index = "%i"
    if attrs["reverse"]:
        prologue.append(f"  %idx = sub i64 {length - 1}, %i")
        index = "%idx"
    for j, p in enumerate(body.params):
        if j < n_consts:
            addresses[id(p)] = f"%b{j}"
        elif j < n_consts + n_carry:
            addresses[id(p)] = carry_buf[j - n_consts]
        else:
            prologue.append(f"  %off{j} = mul i64 {index}, {nbytes(p.type)}")
            prologue.append(f"  %x{j} = getelementptr i8, ptr %b{j}, i64 %off{j}")
            addresses[id(p)] = f"%x{j}"
    text = StepText(driver, "b", addresses)
    inner = lambda w, t: _scan_driver(w, t, ids, depth + 1)  # noqa: E731
    if not text.steps(body_plan, kernels, inner):  # type: ignore[arg-type]
        return None
    lines = prologue + text.lines
    for j, out in enumerate(body.outputs[n_carry:]):  # ys first: they may be old carries
        step = nbytes(out.type)
        dest = driver.n_operands + n_carry + j
        lines.append(f"  %yo{j} = mul i64 {index}, {step}")
        lines.append(f"  %y{j} = getelementptr i8, ptr %b{dest}, i64 %yo{j}")
        lines.append(memcpy(f"%y{j}", addresses[id(out)], step))
    lines += _carry_update(text, body.outputs[:n_carry], carry_buf, types)
    init = [memcpy(carry_buf[k], f"%b{n_consts + k}", nbytes(types[k])) for k in range(n_carry)]
    head = [
        "  %i = phi i64 [0, %entry], [%next, %body]",
        f"  %done = icmp eq i64 %i, {length}",
        "  br i1 %done, label %exit, label %body",
    ]
    driver.text.insert(0, _function(driver, init, head, lines))
    return driver


def _carry_update(
    text: StepText, outputs: tuple[Value, ...], carry_buf: list[str], types: list[TensorType]
) -> list[str]:
    """Each new carry into its carry buffer; a param (another carry, say) is staged first so
    no carry is overwritten before it is read."""
    lines, sources = [], [text.addresses[id(out)] for out in outputs]
    for k, out in enumerate(outputs):
        if out.op is Op.PARAM:
            stage = text.extra(Extra(type=types[k]))
            lines.append(memcpy(stage, sources[k], nbytes(types[k])))
            sources[k] = stage
    for k, source in enumerate(sources):
        if source != carry_buf[k]:
            lines.append(memcpy(carry_buf[k], source, nbytes(types[k])))
    return lines


# ---- while drivers --------------------------------------------------------------------------


def _while_driver(v: Value, operand_types: list[TensorType], ids: itertools.count) -> Driver | None:
    attrs = group_attrs(v)
    types = output_types(Op.WHILE, operand_types, attrs)
    if not all(t.is_concrete for t in [*operand_types, *types]):
        return None
    lowered_cond, lowered_body = _lowered(attrs["cond"], ids), _lowered(attrs["body"], ids)
    if lowered_cond is None or lowered_body is None:
        return None
    (cond_plan, cond_kernels, _), (body_plan, body_kernels, name) = lowered_cond, lowered_body
    driver = Driver(name, len(operand_types), types, kernels=[*cond_kernels, *body_kernels])
    n_cond, n_body = attrs["num_cond_consts"], attrs["num_body_consts"]
    carry_buf = [f"%b{driver.n_operands + k}" for k in range(len(types))]
    cond: Function = cond_plan.function  # type: ignore[attr-defined]
    body: Function = body_plan.function  # type: ignore[attr-defined]
    cond_at = {
        id(p): f"%b{j}" if j < n_cond else carry_buf[j - n_cond] for j, p in enumerate(cond.params)
    }
    body_at = {
        id(p): f"%b{n_cond + j}" if j < n_body else carry_buf[j - n_body]
        for j, p in enumerate(body.params)
    }
    cond_text, body_text = StepText(driver, "c", cond_at), StepText(driver, "b", body_at)
    inner = lambda w, t: _scan_driver(w, t, ids, 1)  # noqa: E731
    if not cond_text.steps(cond_plan, cond_kernels, inner):  # type: ignore[arg-type]
        return None
    if not body_text.steps(body_plan, body_kernels, inner):  # type: ignore[arg-type]
        return None
    lines = body_text.lines + _carry_update(body_text, body.outputs, carry_buf, types)
    first_carry = n_cond + n_body
    init = [memcpy(carry_buf[k], f"%b{first_carry + k}", nbytes(t)) for k, t in enumerate(types)]
    stop = f"%b{driver.first_extra + len(driver.extras)}"
    flag = cond_text.addresses[id(cond.outputs[0])]
    check = [
        f"  %halt = load volatile i32, ptr {stop}, align 4",
        "  %stopped = icmp ne i32 %halt, 0",
        "  br i1 %stopped, label %exit, label %check",
        "check:",
        *cond_text.lines,
        f"  %flag = load i8, ptr {flag}, align 1",
        "  %go = icmp ne i8 %flag, 0",
        "  br i1 %go, label %body, label %exit",
    ]
    driver.text.insert(0, _function(driver, init, check, lines, extra_buffers=1))
    return driver


def _function(
    driver: Driver, init: list[str], head: list[str], body: list[str], extra_buffers: int = 0
) -> str:
    """``define void @driver(ptr %bufs)``: load the buffers, run ``init``, then loop: ``head``
    ends with a branch to ``body`` or ``exit``; ``body`` returns to ``head``."""
    size = driver.first_extra + len(driver.extras) + extra_buffers
    lines = [f'define void @"{driver.name}"(ptr %bufs) nounwind {{', "entry:"]
    for i in range(size):
        lines.append(f"  %g{i} = getelementptr ptr, ptr %bufs, i64 {i}")
        lines.append(f"  %b{i} = load ptr, ptr %g{i}, align 8")
    lines += init
    everything = [*head, *body]
    lines += [line for line in everything if "= alloca" in line]
    lines += ["  br label %head", "head:"]
    lines += [line for line in head if "= alloca" not in line]
    lines += ["body:", *[line for line in body if "= alloca" not in line]]
    lines += ["  %next = add i64 %i, 1" if "%i = phi" in "".join(head) else "", "  br label %head"]
    lines += ["exit:", "  ret void", "}"]
    return "\n".join(line for line in lines if line) + "\n"


__all__ = ["LoopRun", "native_loop"]
