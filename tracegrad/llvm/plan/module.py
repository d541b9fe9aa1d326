"""Assemble one LLVM module for a whole Function: every kernel body, its two entries, its
CPython fastcall wrapper and the math functions the kernels use.

Per kernel ``K`` (all symbols named ``tg<hash>_<i>`` where the hash is of the module text,
so identical Functions share machine code and distinct ones never clash in the engine's
single symbol namespace):

* ``void @K(ptr %buffers, ptr %extents)``: the uniform entry (all rows);
* ``void @K.range(ptr %buffers, ptr %extents, i64 %start, i64 %stop)``: rows
  ``[start, stop)`` of the outer dim, for :mod:`tracegrad.llvm.runtime.threads`;
* ``ptr @K.py(ptr self, ptr args, i64 nargs)``: METH_FASTCALL wrapper taking the input
  arrays then the (fresh) output arrays, checking type, dtype, rank, shape, layout; in a
  separate module compiled lazily (:func:`wrapper_module`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Container
from dataclasses import dataclass

from tracegrad.ir.ops import Op
from tracegrad.ir.types import Dim
from tracegrad.ir.value import Function, Value
from tracegrad.llvm.callpath import wrapper as callpath
from tracegrad.llvm.codegen import (
    INTERLEAVE_MATH,
    LOOP_MD,
    VIEW_OPS,
    KernelBuilder,
    KernelText,
    elementwise_kernel,
    prologue,
    reduce_kernel,
)
from tracegrad.llvm.mathlib.library import module_math_ir
from tracegrad.llvm.plan.kernels import InterpretStep, KernelGroup, Plan

PLACEHOLDER = "tg" + "X" * 16 + "_"  # same length as the real prefix (C strings)
GIL_RELEASE_WORK = 1 << 16  # elements; below this the 45 ns of releasing the GIL dominate


@dataclass
class ModuleText:
    text: str
    kernels: list[KernelText]
    prefix: str  # the real symbol prefix replacing PLACEHOLDER
    fallbacks: list[str]

    def symbol(self, kernel: KernelText, suffix: str = "") -> str:
        return kernel.name.replace(PLACEHOLDER, self.prefix) + suffix


def lower_groups(plan: Plan, prefix: str = "") -> tuple[list[KernelText], list[str]]:
    """Lower every kernel group; a group that cannot be lowered becomes an interpreter
    step in place (so the plan stays complete). Returns (kernels, fallback reasons).
    ``prefix`` keeps the kernel names of several plans in one module apart (native loops)."""
    kernels: list[KernelText] = []
    reasons: list[str] = []
    for pos, step in enumerate(plan.steps):
        if not isinstance(step, KernelGroup):
            continue
        name = f"{PLACEHOLDER}{prefix}{len(kernels)}"
        try:
            if step.kind == "elementwise":
                kt = elementwise_kernel(name, step.roots, step.computed)
            else:
                kt = reduce_kernel(name, step.roots[0], step.computed)
        except (NotImplementedError, ValueError, KeyError) as exc:
            reasons.append(f"{[r.op.value for r in step.roots]}: {exc}")
            plan.steps[pos] = InterpretStep(subgraph(step.roots, step.computed))
            continue
        kernels.append(kt)
    return kernels, reasons


def subgraph(roots: list[Value], computed: Container[int]) -> Function:
    """The roots as a Function of the buffers they read (for an interpreter fallback)."""
    root_ids = {id(r) for r in roots}
    leaves: list[Value] = []
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        inside = id(v) in computed or id(v) in root_ids or v.op in VIEW_OPS
        if v.op is Op.CONST or (inside and v.op is not Op.PARAM):
            stack.extend(v.operands)
        else:
            leaves.append(v)
    return Function("fallback", tuple(leaves), tuple(roots))


def _entries(kt: KernelText) -> str:
    n = len(kt.inputs) + len(kt.outputs)
    loads = []
    for i in range(n):
        loads.append(f"  %q{i} = getelementptr ptr, ptr %bufs, i64 {i}")
        loads.append(f"  %b{i} = load ptr, ptr %q{i}, align 8")
    args = ", ".join(f"ptr %b{i}" for i in range(n))
    b = KernelBuilder()
    outer = b.ext(kt.outer)  # the whole range: a runtime extent when symbolic
    body = "\n".join(loads)
    outer_lines = "".join(line + "\n" for line in prologue(b.syms, kt.dims))
    return (
        f'define void @"{kt.name}"(ptr %bufs, ptr %ext) nounwind {{\nentry:\n{body}\n'
        f'{outer_lines}  call void @"{kt.name}.body"({args}, ptr %ext, i64 0, i64 {outer})\n'
        "  ret void\n}\n"
        f'define void @"{kt.name}.range"(ptr %bufs, ptr %ext, i64 %start, i64 %stop) '
        f"nounwind {{\nentry:\n{body}\n"
        f'  call void @"{kt.name}.body"({args}, ptr %ext, i64 %start, i64 %stop)\n'
        "  ret void\n}\n"
    )


def _spec_dims(kt: KernelText, v: Value) -> tuple:
    """A buffer's dims for the call path: symbolic dims become extent slots."""
    slot = {d: k for k, d in enumerate(kt.dims)}
    return tuple(callpath.Extent(slot[d]) if isinstance(d, Dim) else d for d in v.shape)


def arg_specs(kt: KernelText) -> list[callpath.ArgSpec]:
    specs = [callpath.ArgSpec.of(v.dtype.numpy, _spec_dims(kt, v)) for v in kt.inputs]
    specs += [
        callpath.ArgSpec.of(
            "int64" if v.op in (Op.ARGMAX, Op.ARGMIN) else v.dtype.numpy,
            _spec_dims(kt, v),
            writeable=True,
        )
        for v in kt.outputs
    ]
    return specs


def build_module(kernels: list[KernelText], extra: str = "") -> ModuleText:
    """The kernels' module (bodies, entries, math); wrappers come later, see below. ``extra``:
    more functions calling the kernels by their placeholder names (a native loop's driver)."""
    parts: list[str] = [extra] if extra else []
    uses: set[tuple[str, str]] = set()
    for kt in kernels:
        parts.append(kt.text)
        parts.append(_entries(kt))
        uses |= kt.math
    if uses:
        parts.append(module_math_ir(uses))
    text = number_loop_metadata("\n".join(parts))
    prefix = "tg" + hashlib.sha256(text.encode()).hexdigest()[:16] + "_"
    return ModuleText(text.replace(PLACEHOLDER, prefix), kernels, prefix, [])


def number_loop_metadata(text: str) -> str:
    """Give every ``LOOP_MD`` placeholder its own distinct loop-ID node (numbered in module
    order, so equal Functions still give equal text) and define them at the end."""
    pieces = text.split(LOOP_MD)
    if len(pieces) == 1:
        return text
    out = [pieces[0]]
    defs = []
    for k, piece in enumerate(pieces[1:]):
        node = 2 * k
        out.append(f"!{node}{piece}")
        defs.append(f"!{node} = distinct !{{!{node}, !{node + 1}}}")
        defs.append(f'!{node + 1} = !{{!"llvm.loop.interleave.count", i32 {INTERLEAVE_MATH}}}')
    return "".join(out) + "\n" + "\n".join(defs) + "\n"


def wrapper_name(kernel: KernelText, symbol: str) -> str:
    """The wrapper's symbol: the kernel's plus a hash of what the wrapper checks (shapes,
    dtypes), since one flat kernel serves several shapes with the same element count and
    two different wrappers must never share a name in the shared engine."""
    checks = repr((arg_specs(kernel), _release_gil(kernel)))
    return f"{symbol}.py{hashlib.sha256(checks.encode()).hexdigest()[:12]}"


def _release_gil(kt: KernelText) -> bool:
    """Large kernels release the GIL; runtime-extent kernels always (size unknown)."""
    return not isinstance(kt.work, int) or kt.work >= GIL_RELEASE_WORK


def wrapper_module(kernels: list[KernelText], symbols: list[str]) -> str:
    """A second module with the METH_FASTCALL wrappers of already loaded kernels.

    Wrappers are compiled only once a plan has been called a few times (tiered): they
    cost about as much LLVM time as a small kernel, and most traced functions in a test
    suite run once or twice, where the ctypes path (about 5 us) is cheaper overall.
    """
    parts = []
    for k, (kt, sym) in enumerate(zip(kernels, symbols, strict=True)):
        parts.append(
            callpath.fastcall_wrapper_ir(
                wrapper_name(kt, sym),
                sym,
                arg_specs(kt),
                len(kt.dims),
                release_gil=_release_gil(kt),
                check_overlap=False,  # outputs are fresh np.empty arrays
                include_decls=k == 0,
                declare_entry=True,
            )
        )
    return "\n".join(parts)
