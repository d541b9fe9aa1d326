"""The LLVM IR text builder shared by every emitter in the backend.

IR is produced as f-strings (about 10x cheaper than ``llvmlite.ir``, see
``docs/llvmlite.md``, section 1). The builder owns the lines of one function body, hands
out fresh SSA names, tracks the current block (for phi nodes) and emits counted loops with
phi induction variables, the shape LLVM's loop vectorizer recognizes best. The rooms
extend it with their vocabulary: typed loads and stores and runtime extents
(``codegen.builder.KernelBuilder``), double-precision arithmetic
(``mathlib.core.MathBuilder``), argument checks with a shared fail block
(``callpath.wrapper.WrapperEmitter``).

>>> b = Builder()
>>> b.label("entry")
>>> s = b.emit("add i64 1, 2")
>>> b.lines[-1]
'  %t1 = add i64 1, 2'
"""

from __future__ import annotations

import struct
from collections.abc import Callable

__all__ = ["Builder", "float_literal"]


def float_literal(value: float) -> str:
    """Exact hexadecimal literal (LLVM writes float constants as the bits of a double,
    and the hex form avoids decimal rounding questions)."""
    bits = struct.unpack("<Q", struct.pack("<d", float(value)))[0]
    return f"0x{bits:016X}"


class Builder:
    """Accumulates the lines of one function body.

    Fresh names are ``%{prefix}{hint}{n}`` with one counter for values and labels;
    ``hint`` defaults to the builder's ``default_hint``."""

    default_hint = "t"

    def __init__(self, prefix: str = "") -> None:
        self.lines: list[str] = []
        self.count = 0
        self.current = "entry"
        self.prefix = prefix

    def fresh(self, hint: str | None = None) -> str:
        self.count += 1
        return f"%{self.prefix}{self.default_hint if hint is None else hint}{self.count}"

    def emit(self, rhs: str, hint: str | None = None) -> str:
        """Emit ``%name = rhs`` and return ``%name``."""
        name = self.fresh(hint)
        self.lines.append(f"  {name} = {rhs}")
        return name

    def op(self, text: str) -> None:
        """Emit an instruction without a fresh result (store, br, call void, or a line
        that names its own result)."""
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
        ``latch_mark`` is appended to the back edge (loop metadata)."""
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
