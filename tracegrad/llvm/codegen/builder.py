"""The kernels' LLVM IR text builder: :class:`tracegrad.llvm.text.builder.Builder` plus
typed element loads and stores, offset arithmetic and runtime extents, and the literals and
type names of each dtype.

>>> b = KernelBuilder()
>>> b.label("entry")
>>> b.load(DType.BOOL, "%buf", "3")
'%b3'
>>> b.lines[-1]
'  %b3 = icmp ne i8 %v2, 0'
"""

from __future__ import annotations

import numpy as np

from tracegrad.ir.dtypes import DType
from tracegrad.llvm.codegen.extents import Sym, prologue
from tracegrad.llvm.text.builder import Builder, float_literal

__all__ = ["ITEMSIZE", "MEM_TYPE", "REG_TYPE", "KernelBuilder", "float_literal", "literal"]

# Register types (bool is i1 in registers and i8 in memory, as numpy stores it). LLVM's
# integers have no sign: unsigned dtypes share the type and use the unsigned instructions
# (scalar_ops). float16 is ``half`` in memory; scalar_ops computes it in float.
_FLOAT_TYPE = {DType.FLOAT16: "half", DType.FLOAT32: "float", DType.FLOAT64: "double"}
REG_TYPE = {
    d: "i1" if d is DType.BOOL else _FLOAT_TYPE[d] if d.is_float else f"i{d.bits}" for d in DType
}
MEM_TYPE = {**REG_TYPE, DType.BOOL: "i8"}
ITEMSIZE = {d: np.dtype(d.value).itemsize for d in DType}


def literal(value: object, dtype: DType) -> str:
    """An immediate of ``dtype`` holding the numpy scalar ``value``."""
    if dtype is DType.BOOL:
        return "true" if bool(value) else "false"
    if dtype.is_int:
        bits, number = dtype.bits, int(value)  # type: ignore[call-overload]
        # two's complement: LLVM reads i8 255 as -1 anyway, u64 needs the signed form
        return str(number - (1 << bits) if number >= 1 << (bits - 1) else number)
    # float32/float16 -> double is exact, so the literal is the value itself
    return float_literal(float(np.asarray(value, dtype=dtype.numpy)))


class KernelBuilder(Builder):
    """The text builder with what kernels need: typed element loads and stores (bool is i1
    in registers, i8 in memory), offset arithmetic and runtime extents."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__(prefix)
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
