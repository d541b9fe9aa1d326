"""A tiny LLVM IR text builder used by the lowering modules.

IR is produced as f-strings (about 10x cheaper than ``llvmlite.ir``, see
``docs/llvmlite.md``, section 1). The builder tracks SSA names, the current block (for phi
nodes) and emits counted loops with phi induction variables, the shape LLVM's loop
vectorizer recognizes best.

>>> b = Builder()
>>> b.label("entry")
>>> s = b.emit("add i64 1, 2")
>>> b.lines[-1]
'  %t1 = add i64 1, 2'
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

from tracegrad.ir.dtypes import DType
from tracegrad.llvm.codegen.extents import Sym, prologue

# Register types (bool is i1 in registers and i8 in memory, as numpy stores it).
REG_TYPE = {
    DType.BOOL: "i1",
    DType.INT32: "i32",
    DType.INT64: "i64",
    DType.FLOAT32: "float",
    DType.FLOAT64: "double",
}
MEM_TYPE = {**REG_TYPE, DType.BOOL: "i8"}
ITEMSIZE = {d: np.dtype(d.value).itemsize for d in DType}


def float_literal(value: float) -> str:
    """Exact hexadecimal literal (LLVM writes float constants as the bits of a double)."""
    bits = struct.unpack("<Q", struct.pack("<d", float(value)))[0]
    return f"0x{bits:016X}"


def literal(value: object, dtype: DType) -> str:
    """An immediate of ``dtype`` holding the numpy scalar ``value``."""
    if dtype is DType.BOOL:
        return "true" if bool(value) else "false"
    if dtype.is_int:
        return str(int(value))  # type: ignore[call-overload]
    # float32 -> double is exact, so the literal is the float32 value itself
    return float_literal(float(np.asarray(value, dtype=dtype.numpy)))


class Builder:
    """Accumulates the lines of one function body."""

    def __init__(self, prefix: str = "") -> None:
        self.lines: list[str] = []
        self.count = 0
        self.current = "entry"
        self.prefix = prefix
        self.syms: dict[str, Sym] = {}  # runtime extents used (see finish)

    def ext(self, x: int | Sym) -> str:
        """An extent as an IR operand: the literal, or the name of a runtime extent that
        ``finish`` defines in the entry block."""
        if isinstance(x, int):
            return str(x)
        self.syms[x.llvm_name] = x
        return x.llvm_name

    def finish(self, slots: tuple, ext: str = "%ext") -> str:
        """The function text, with the runtime extents defined after the entry label."""
        lines = self.lines
        if self.syms:
            at = lines.index("entry:") + 1
            lines = lines[:at] + prologue(self.syms, slots, ext) + lines[at:]
        return "\n".join(lines) + "\n"

    def fresh(self, hint: str = "t") -> str:
        self.count += 1
        return f"%{self.prefix}{hint}{self.count}"

    def emit(self, rhs: str, hint: str = "t") -> str:
        """Emit ``%name = rhs`` and return ``%name``."""
        name = self.fresh(hint)
        self.lines.append(f"  {name} = {rhs}")
        return name

    def op(self, text: str) -> None:
        """Emit an instruction without a result (store, br, call void)."""
        self.lines.append(f"  {text}")

    def new_label(self, hint: str) -> str:
        self.count += 1
        return f"{self.prefix}{hint}{self.count}"

    def label(self, name: str) -> None:
        self.lines.append(f"{name}:")
        self.current = name

    def loop(
        self, lo: str, hi: str, body: Callable[[str], None], hint: str = "i", latch_mark: str = ""
    ) -> None:
        """``for (i = lo; i < hi; ++i) body(i)`` with a phi induction variable;
        ``latch_mark`` is appended to the back edge (loop metadata, see LOOP_MARK)."""
        head, inner, latch, done = (self.new_label(hint + s) for s in ("h", "b", "l", "x"))
        pre = self.current
        index = self.fresh(hint)
        nxt = self.fresh(hint + "n")
        self.op(f"br label %{head}")
        self.label(head)
        self.lines.append(f"  {index} = phi i64 [ {lo}, %{pre} ], [ {nxt}, %{latch} ]")
        cond = self.emit(f"icmp slt i64 {index}, {hi}", "c")
        self.op(f"br i1 {cond}, label %{inner}, label %{done}")
        self.label(inner)
        body(index)
        self.op(f"br label %{latch}")
        self.label(latch)
        self.lines.append(f"  {nxt} = add nuw nsw i64 {index}, 1")
        self.op(f"br label %{head}{latch_mark}")
        self.label(done)

    def gep(self, dtype: DType, base: str, offset: str) -> str:
        return self.emit(f"getelementptr inbounds {MEM_TYPE[dtype]}, ptr {base}, i64 {offset}", "p")

    def load(self, dtype: DType, base: str, offset: str) -> str:
        """Load one element as a register value (bool becomes i1)."""
        ptr = self.gep(dtype, base, offset)
        raw = self.emit(f"load {MEM_TYPE[dtype]}, ptr {ptr}, align {ITEMSIZE[dtype]}", "v")
        if dtype is DType.BOOL:
            return self.emit(f"icmp ne i8 {raw}, 0", "b")
        return raw

    def store(self, dtype: DType, value: str, base: str, offset: str) -> None:
        ptr = self.gep(dtype, base, offset)
        if dtype is DType.BOOL:
            value = self.emit(f"zext i1 {value} to i8", "z")
        self.op(f"store {MEM_TYPE[dtype]} {value}, ptr {ptr}, align {ITEMSIZE[dtype]}")

    def mul_add(self, base: str, index: str, stride: int | Sym) -> str:
        """``base + index * stride`` folded when possible (offsets are i64 element counts)."""
        if stride == 0:
            return base
        if stride == 1:
            term = index
        else:
            term = self.emit(f"mul nsw i64 {index}, {self.ext(stride)}", "o")
        if base == "0":
            return term
        return self.emit(f"add nsw i64 {base}, {term}", "o")
