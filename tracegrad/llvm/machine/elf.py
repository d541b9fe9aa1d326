"""ELF64 relocatable objects: a symbol-table reader and a small loader.

* :func:`elf_symbols` says which global symbols an object defines and needs; the engine
  checks it before anything loads an object (MCJIT aborts the process on a bad one). An
  object from the disk cache must also pass :func:`tracegrad.llvm.machine.elf_check.check_object`.
* :func:`load_native` maps an x86-64 object into executable memory, applies its
  relocations and returns the addresses of its global symbols, all without LLVM. Objects
  are emitted with the large code model (``jit=True``), so code reaches constants, other
  objects and process symbols through absolute 64-bit relocations: the loader needs no
  GOT, no PLT and no stubs. A cached object therefore loads in a process that never
  imports llvmlite (the import alone costs 50-60 ms). Anything unexpected (another
  architecture, TLS, init arrays, COMMON symbols, a relocation type or a PC-relative
  distance it does not handle) raises :class:`UnsupportedObjectError` before any memory is
  touched, and the engine loads that object with MCJIT instead.

Memory is mapped read-write, filled and relocated, then code pages become read+execute
and constant pages read-only (never writable and executable at once). Like MCJIT's, the
code is never unloaded: a function pointer stays valid for the life of the process.
Unwind tables (``.eh_frame``) are not loaded: tracegrad's kernels never throw.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
from collections.abc import Callable
from typing import Any

from tracegrad.llvm.machine.records import Record

__all__ = [
    "NativeImage", "ObjectSymbols", "UnsupportedObjectError", "elf_symbols", "load_native",
    "parse_object", "symbols_of",
]  # fmt: skip

# Names without an underscore (constants, Elf, Section, unpack_at) are shared with
# elf_check, the checks run on an object before it is loaded.
_SHT_PROGBITS, SHT_SYMTAB, SHT_RELA, SHT_NOBITS, _SHT_REL = 1, 2, 4, 8, 9
_SHT_X86_64_UNWIND = 0x70000001
_SHF_WRITE, SHF_ALLOC, _SHF_EXECINSTR, _SHF_TLS = 0x1, 0x2, 0x4, 0x400
SHN_UNDEF, _SHN_LORESERVE, SHN_ABS = 0, 0xFF00, 0xFFF1
_ET_REL = 1
EM_X86_64 = 62
_ELF_MACHINE = {"x86_64": EM_X86_64, "amd64": EM_X86_64, "aarch64": 183, "arm64": 183}
STB_LOCAL, _STB_WEAK = 0, 2
_STT_SECTION, _STT_FILE = 3, 4
# RuntimeDyld provides this one itself.
_LINKER_PROVIDED = frozenset({"_GLOBAL_OFFSET_TABLE_"})


class UnsupportedObjectError(ValueError):
    """A well-formed object the native loader does not handle (load it with MCJIT)."""


class ObjectSymbols(Record):
    """``defined`` and ``undefined``: frozensets of global symbol names."""

    __slots__ = ("defined", "undefined")
    defined: frozenset[str]
    undefined: frozenset[str]


class Section(Record):
    """One section header of a parsed object."""

    __slots__ = ("name", "type", "flags", "offset", "size", "link", "info", "align", "entsize")
    name: str
    type: int
    flags: int
    offset: int
    size: int
    link: int
    info: int
    align: int
    entsize: int


class _Symbol(Record):
    __slots__ = ("name", "bind", "kind", "shndx", "value")
    name: str
    bind: int
    kind: int
    shndx: int
    value: int


class Elf(Record):
    """A parsed relocatable object: machine, section headers, symbol table."""

    __slots__ = ("machine", "sections", "symbols")  # symbols[0] is the null symbol
    machine: int
    sections: tuple[Section, ...]
    symbols: tuple[_Symbol, ...]


def elf_symbols(obj: bytes) -> ObjectSymbols:
    """Global symbols an ELF64 little-endian relocatable object defines and needs.

    Raises ValueError for anything malformed, so a damaged cache entry never reaches
    MCJIT (which aborts the process on a bad object).
    """
    return symbols_of(_parse(obj))


def symbols_of(elf: Elf) -> ObjectSymbols:
    """:func:`elf_symbols` of an object parsed already (by :func:`parse_object`)."""
    defined: set[str] = set()
    undefined: set[str] = set()
    for sym in elf.symbols[1:]:
        if sym.bind == STB_LOCAL or sym.kind in (_STT_SECTION, _STT_FILE):
            continue
        (undefined if sym.shndx == SHN_UNDEF else defined).add(sym.name)
    return ObjectSymbols(frozenset(defined), frozenset(undefined - _LINKER_PROVIDED))


def parse_object(obj: bytes) -> Elf:
    """The sections and symbols of an object; ValueError if it is malformed."""
    return _parse(obj)


def _parse(obj: bytes) -> Elf:
    if len(obj) < 64 or obj[:6] != b"\x7fELF\x02\x01":
        raise ValueError("not an ELF64 little-endian object")
    e_type, e_machine = unpack_at(obj, "<HH", 0x10)
    if e_type != _ET_REL or e_machine != _ELF_MACHINE.get(_machine(), e_machine):
        raise ValueError(f"not a relocatable object for this machine ({e_type}, {e_machine})")
    shoff, shentsize, shnum = unpack_at(obj, "<Q", 0x28)[0], *unpack_at(obj, "<HH", 0x3A)
    shstrndx = unpack_at(obj, "<H", 0x3E)[0]
    raw = [unpack_at(obj, "<IIQQQQIIQQ", shoff + i * shentsize) for i in range(shnum)]
    if not raw or shstrndx >= shnum:
        raise ValueError("object has no section names")
    names_off, names_size = raw[shstrndx][4], raw[shstrndx][5]
    sections = tuple(
        Section(_c_string(obj, names_off, names_size, n), t, f, o, s, lk, inf, al, es)
        for n, t, f, _, o, s, lk, inf, al, es in raw
    )
    symtabs = [sh for sh in sections if sh.type == SHT_SYMTAB]
    if len(symtabs) != 1 or symtabs[0].link >= shnum or symtabs[0].entsize < 24:
        raise ValueError("object has no usable symbol table")
    return Elf(e_machine, sections, _symbols(obj, symtabs[0], sections[symtabs[0].link]))


def _symbols(obj: bytes, symtab: Section, strtab: Section) -> tuple[_Symbol, ...]:
    out = [_Symbol("", 0, 0, 0, 0)]
    step = symtab.entsize
    for pos in range(symtab.offset + step, symtab.offset + symtab.size, step):
        st_name, st_info, _, st_shndx, st_value, _ = unpack_at(obj, "<IBBHQQ", pos)
        name = _c_string(obj, strtab.offset, strtab.size, st_name)
        out.append(_Symbol(name, st_info >> 4, st_info & 0xF, st_shndx, st_value))
    return tuple(out)


def _machine() -> str:
    uname = getattr(os, "uname", None)  # not on Windows
    return uname().machine if uname is not None else ""


def x86_64_host() -> bool:
    """Whether this process runs on x86-64, the one machine :func:`load_native` relocates for."""
    return _ELF_MACHINE.get(_machine()) == EM_X86_64


def unpack_at(buf: bytes, fmt: str, offset: int) -> tuple[Any, ...]:
    """``struct.unpack_from`` that raises ValueError instead of reading past the end."""
    if offset < 0 or offset + struct.calcsize(fmt) > len(buf):
        raise ValueError("truncated ELF object")
    return struct.unpack_from(fmt, buf, offset)


def _c_string(buf: bytes, base: int, size: int, index: int) -> str:
    if not 0 <= index < size or base + size > len(buf):
        raise ValueError("bad ELF string table index")
    end = buf.find(b"\0", base + index, base + size)
    if end < 0:
        raise ValueError("unterminated ELF string")
    return buf[base + index : end].decode()


# ---------------------------------------------------------------------------------------
# The native loader (x86-64)
# ---------------------------------------------------------------------------------------


class NativeImage(Record):
    """A loaded object: where it lives and the addresses of its global symbols."""

    __slots__ = ("base", "size", "symbols")
    base: int
    size: int
    symbols: dict[str, int]


# Code is never unloaded (function pointers must outlive everything), so the mappings are
# simply kept here.
_images: list[NativeImage] = []
_PROT_READ, _PROT_WRITE, _PROT_EXEC = 1, 2, 4
_R_X86_64_NONE, _R_X86_64_64, _R_X86_64_PC32 = 0, 1, 2
_R_X86_64_PLT32, _R_X86_64_32, _R_X86_64_32S, _R_X86_64_PC64 = 4, 10, 11, 24


def load_native(
    obj: bytes, resolve: Callable[[str], int | None], parsed: Elf | None = None
) -> NativeImage:
    """Map, relocate and protect ``obj``; ``resolve(name)`` gives the address of a symbol
    the object needs (None if unknown).

    Raises ValueError for a malformed object, :class:`UnsupportedObjectError` for one this
    loader does not handle and LookupError (naming every missing symbol) for unresolved
    symbols; nothing stays mapped after an error. ``parsed`` is ``obj`` parsed already by
    :func:`parse_object`.
    """
    elf = _parse(obj) if parsed is None else parsed
    if elf.machine != EM_X86_64 or not x86_64_host():
        raise UnsupportedObjectError("the native loader handles x86-64 objects only")
    layout, groups, size = _layout(elf)
    _check_extents(obj, elf, layout, size)  # before anything is allocated or mapped
    externals = _externals(elf, resolve)
    image = _image(obj, elf, layout, size)
    base = _map(size)
    try:
        _relocate(obj, elf, layout, base, image, externals)
        ctypes.memmove(base, bytes(image), size)
        for start, stop, prot in groups:
            if stop > start and prot != _PROT_READ | _PROT_WRITE:
                _protect(base + start, stop - start, prot)
        exported = [s for s in elf.symbols[1:] if s.bind != STB_LOCAL and s.shndx != SHN_UNDEF]
        symbols = {
            s.name: _symbol_address(s, layout, base, externals)
            for s in exported
            if s.kind not in (_STT_SECTION, _STT_FILE)
        }
    except BaseException:
        _libc().munmap(base, size)
        raise
    loaded = NativeImage(base, size, symbols)
    _images.append(loaded)
    return loaded


# No tracegrad object comes near this; a larger image is a damaged or foreign object.
MAX_IMAGE = 1 << 30


def _check_extents(obj: bytes, elf: Elf, layout: dict[int, int], size: int) -> None:
    """ValueError for an implausible image size, a loaded section that runs past the file
    or a symbol outside its (loaded) section; UnsupportedObjectError for a global symbol
    defined where this loader puts nothing (COMMON, an unloaded section)."""
    if size > MAX_IMAGE:
        raise ValueError(f"ELF sections need {size} bytes")
    for index in layout:
        sh = elf.sections[index]
        if sh.type != SHT_NOBITS and sh.offset + sh.size > len(obj):
            raise ValueError("truncated ELF section")
    for sym in elf.symbols[1:]:
        if sym.shndx in layout:
            if sym.value > elf.sections[sym.shndx].size:
                raise ValueError(f"ELF symbol {sym.name!r} lies outside its section")
        elif sym.bind != STB_LOCAL and sym.shndx not in (SHN_UNDEF, SHN_ABS):
            if sym.kind not in (_STT_SECTION, _STT_FILE):
                raise UnsupportedObjectError(f"symbol {sym.name!r} in section {sym.shndx:#x}")


def _image(obj: bytes, elf: Elf, layout: dict[int, int], size: int) -> bytearray:
    """The loaded sections' bytes at their offsets (NOBITS sections stay zero)."""
    image = bytearray(size)
    for index, offset in layout.items():
        sh = elf.sections[index]
        if sh.type != SHT_NOBITS:
            if sh.offset + sh.size > len(obj):
                raise ValueError("truncated ELF section")
            image[offset : offset + sh.size] = obj[sh.offset : sh.offset + sh.size]
    return image


def _loaded_sections(elf: Elf) -> list[int]:
    chosen = []
    for i, sh in enumerate(elf.sections):
        if not sh.flags & SHF_ALLOC or sh.type == _SHT_X86_64_UNWIND or sh.name == ".eh_frame":
            continue
        if sh.type not in (_SHT_PROGBITS, SHT_NOBITS) or sh.flags & _SHF_TLS:
            raise UnsupportedObjectError(f"section {sh.name!r} (type {sh.type:#x})")
        if sh.align > mmap.PAGESIZE:  # the mapping is only page-aligned
            raise UnsupportedObjectError(f"section {sh.name!r} aligned to {sh.align}")
        chosen.append(i)
    return chosen


def _layout(elf: Elf) -> tuple[dict[int, int], list[tuple[int, int, int]], int]:
    """Offsets of the loaded sections in one mapping: code pages, then read-only pages,
    then writable pages; plus the (start, stop, protection) of each group."""
    page = mmap.PAGESIZE
    groups = {_PROT_READ | _PROT_EXEC: [], _PROT_READ: [], _PROT_READ | _PROT_WRITE: []}
    for i in _loaded_sections(elf):
        flags = elf.sections[i].flags
        if flags & _SHF_EXECINSTR:
            groups[_PROT_READ | _PROT_EXEC].append(i)
        elif flags & _SHF_WRITE:
            groups[_PROT_READ | _PROT_WRITE].append(i)
        else:
            groups[_PROT_READ].append(i)
    layout: dict[int, int] = {}
    spans = []
    offset = 0
    for prot, members in groups.items():
        start = offset
        for i in members:
            align = max(1, elf.sections[i].align)
            offset = -(-offset // align) * align
            layout[i] = offset
            offset += elf.sections[i].size
        spans.append((start, offset, prot))
        offset = -(-offset // page) * page
    return layout, spans, max(offset, page)


def _externals(elf: Elf, resolve: Callable[[str], int | None]) -> dict[str, int]:
    found: dict[str, int] = {}
    missing = []
    for sym in elf.symbols[1:]:
        if sym.shndx != SHN_UNDEF or sym.kind in (_STT_SECTION, _STT_FILE) or not sym.name:
            continue
        address = resolve(sym.name)
        if address:
            found[sym.name] = address
        elif sym.bind == _STB_WEAK:
            found[sym.name] = 0
        elif sym.name not in _LINKER_PROVIDED:
            missing.append(sym.name)
    if missing:
        raise LookupError(sorted(missing))
    return found


def _symbol_address(
    sym: _Symbol, layout: dict[int, int], base: int, externals: dict[str, int]
) -> int:
    if sym.shndx == SHN_UNDEF:
        if sym.name not in externals:
            raise UnsupportedObjectError(f"relocation against {sym.name!r}")
        return externals[sym.name]
    if sym.shndx == SHN_ABS:
        return sym.value
    if sym.shndx >= _SHN_LORESERVE or sym.shndx not in layout:
        raise UnsupportedObjectError(f"symbol {sym.name!r} in section {sym.shndx:#x}")
    return base + layout[sym.shndx] + sym.value


def _relocate(
    obj: bytes,
    elf: Elf,
    layout: dict[int, int],
    base: int,
    image: bytearray,
    externals: dict[str, int],
) -> None:
    for rel in elf.sections:
        if rel.type == _SHT_REL:
            raise UnsupportedObjectError("REL relocations")
        if rel.type != SHT_RELA or rel.info not in layout:
            continue  # relocations of a section that is not loaded (.eh_frame)
        target = elf.sections[rel.info]
        if rel.offset + rel.size > len(obj) or rel.size % 24:
            raise ValueError("truncated ELF relocations")
        entries = struct.iter_unpack("<QQq", obj[rel.offset : rel.offset + rel.size])
        for r_offset, r_info, addend in entries:
            kind, index = r_info & 0xFFFFFFFF, r_info >> 32
            if kind == _R_X86_64_NONE:
                continue
            width = 8 if kind in (_R_X86_64_64, _R_X86_64_PC64) else 4
            if index >= len(elf.symbols) or r_offset + width > target.size:
                raise ValueError("bad ELF relocation")
            value = _symbol_address(elf.symbols[index], layout, base, externals) + addend
            at = layout[rel.info] + r_offset
            _apply(image, at, kind, value, base + at)


def _apply(image: bytearray, at: int, kind: int, value: int, place: int) -> None:
    if kind == _R_X86_64_64:
        struct.pack_into("<Q", image, at, value & 0xFFFFFFFFFFFFFFFF)
    elif kind == _R_X86_64_PC64:
        struct.pack_into("<Q", image, at, (value - place) & 0xFFFFFFFFFFFFFFFF)
    elif kind in (_R_X86_64_PC32, _R_X86_64_PLT32, _R_X86_64_32S):
        delta = value - place if kind != _R_X86_64_32S else value
        if not -(1 << 31) <= delta < 1 << 31:
            raise UnsupportedObjectError("32-bit relocation out of range")
        struct.pack_into("<i", image, at, delta)
    elif kind == _R_X86_64_32:
        if not 0 <= value < 1 << 32:
            raise UnsupportedObjectError("32-bit relocation out of range")
        struct.pack_into("<I", image, at, value)
    else:
        raise UnsupportedObjectError(f"relocation type {kind}")


# ---------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------

_libc_handle: Any = None


def process() -> Any:
    """``ctypes.CDLL(None)``: the process's global symbol scope (libc included), with
    mmap, mprotect and munmap declared."""
    return _libc()


def _libc() -> Any:
    global _libc_handle
    if _libc_handle is None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        c = ctypes
        libc.mmap.argtypes = [c.c_void_p, c.c_size_t, c.c_int, c.c_int, c.c_int, c.c_long]
        libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        _libc_handle = libc
    return _libc_handle


def _map(size: int) -> int:
    address = _libc().mmap(
        None, size, _PROT_READ | _PROT_WRITE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0
    )
    if address in (None, ctypes.c_void_p(-1).value):
        raise MemoryError(f"mmap of {size} bytes failed (errno {ctypes.get_errno()})")
    return address


def _protect(address: int, size: int, prot: int) -> None:
    if _libc().mprotect(address, size, prot) != 0:
        raise OSError(ctypes.get_errno(), "mprotect failed on JIT code")
