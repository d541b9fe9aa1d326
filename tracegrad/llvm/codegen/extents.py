"""Runtime extents: symbolic dims become values a kernel reads from its extents array.

A Function traced with symbolic dims (``T.dmatrix``, ``tracegrad.function``) compiles once;
its kernels take ``ptr %ext``, an array of int64 extents, one slot per symbolic dim the
kernel's arguments mention (slots numbered by first appearance over the arguments, inputs
then outputs, the convention of :mod:`tracegrad.llvm.callpath.wrapper`, whose wrapper fills the
array from the argument shapes).

During lowering an extent is an ``int`` or a :class:`Sym`, a monomial ``coef * d1 * d2...``
over dims. Strides, loop bounds and sizes are products of extents, so ``*`` is all the
lowering needs: dim coalescing compares monomials structurally (a contiguous symbolic
array still coalesces to one flat loop). A Sym is never statically 0 or 1: a symbolic dim
that happens to be 1 at run time is an ordinary extent-1 loop, still correct.

>>> from tracegrad.ir.types import Dim
>>> n, m = Sym.of(Dim("n")), Sym.of(Dim("m"))
>>> (2 * n * m) == (m * n * 2), 0 * n
(True, 0)
>>> (3 * n).evaluate({Dim("n"): 5})
15
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tracegrad.ir.types import Dim


@dataclass(frozen=True)
class Sym:
    """``coef * prod(dims)``: an extent known only at run time."""

    coef: int
    dims: tuple[Dim, ...]  # sorted by name; repeated for powers

    @staticmethod
    def of(d: Dim) -> Sym:
        return Sym(1, (d,))

    def __mul__(self, other: object) -> int | Sym:
        if isinstance(other, int):
            return 0 if other == 0 else Sym(self.coef * other, self.dims)
        if isinstance(other, Sym):
            dims = tuple(sorted(self.dims + other.dims, key=lambda d: d.name))
            return Sym(self.coef * other.coef, dims)
        return NotImplemented

    __rmul__ = __mul__

    def __str__(self) -> str:
        # every use in IR text goes through Builder.ext, which defines the value first
        raise TypeError(f"symbolic extent {self!r} formatted without Builder.ext")

    def evaluate(self, dims: Mapping[Dim, int]) -> int:
        value = self.coef
        for d in self.dims:
            value *= dims[d]
        return value

    @property
    def llvm_name(self) -> str:
        text = "*".join([str(self.coef), *(d.name for d in self.dims)])
        return '%"e:' + text.replace("\\", "\\5C").replace('"', "\\22") + '"'


def ext_shape(shape: Sequence[int | Dim]) -> tuple[int | Sym, ...]:
    """A Value's shape with its symbolic dims as Syms."""
    return tuple(Sym.of(d) if isinstance(d, Dim) else d for d in shape)


def evaluate(x: int | Sym, dims: Mapping[Dim, int]) -> int:
    return x if isinstance(x, int) else x.evaluate(dims)


def is_static(shape: Sequence[object]) -> bool:
    return all(isinstance(d, int) for d in shape)


def slots_of(shapes: Sequence[Sequence[int | Dim]]) -> tuple[Dim, ...]:
    """The symbolic dims of the argument shapes in slot order (first appearance)."""
    seen: dict[Dim, None] = {}
    for shape in shapes:
        for d in shape:
            if isinstance(d, Dim):
                seen.setdefault(d)
    return tuple(seen)


def prologue(syms: Mapping[str, Sym], slots: Sequence[Dim], ext: str = "%ext") -> list[str]:
    """IR lines defining every used Sym from the extents array (placed in the entry block).

    Raises NotImplementedError when a dim is not bound by any argument (the kernel then
    runs as a numpy step)."""
    index = {d: k for k, d in enumerate(slots)}
    lines: list[str] = []
    loaded: dict[Dim, str] = {}
    for name, sym in sorted(syms.items()):
        for d in sym.dims:
            if d not in loaded:
                if d not in index:
                    raise NotImplementedError(f"dim {d} is not bound by a kernel argument")
                reg = f"%dim{len(loaded)}"
                lines.append(f"  {reg}.p = getelementptr inbounds i64, ptr {ext}, i64 {index[d]}")
                lines.append(f"  {reg} = load i64, ptr {reg}.p, align 8")
                loaded[d] = reg
        acc = str(sym.coef)
        for k, d in enumerate(sym.dims):
            last = k == len(sym.dims) - 1
            # partial products: "p<k>:" never starts an extent's name ("e:"); a suffix
            # would not do, since dim names may themselves end in ".<k>" (T's "x.1.0")
            target = name if last else f'%"p{k}:{name[4:]}'
            lines.append(f"  {target} = mul nsw i64 {acc}, {loaded[d]}")
            acc = target
    return lines
