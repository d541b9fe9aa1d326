"""Strict structural check of an ELF object before any loader sees it.

A cache entry whose MAC is right was written by this user's tracegrad, yet it can still be
damaged (a bug, or memory or disk corruption before the MAC was computed). MCJIT does not
report a bad object, it ends the process: ``report_fatal_error`` (SIGABRT) for a relocation
type it does not implement, SIGFPE or SIGSEGV for inconsistent sizes; and it would do so
again in every later process that finds the entry. So :func:`check_object` accepts only
objects shaped like those LLVM emits for tracegrad: every section, symbol and relocation
inside the file and its section, entry sizes as ELF64 defines them, power-of-two
alignments, and (on x86-64) only relocation types that both loaders implement. It raises
ValueError, which the engine turns into "delete the entry and compile".

The check is conservative: an object LLVM produced that fails it still loads when freshly
compiled (it came from LLVM in this process), it is just not stored in the disk cache.
"""

from __future__ import annotations

import struct

from tracegrad.llvm.machine.elf import (
    EM_X86_64,
    MAX_IMAGE,
    SHF_ALLOC,
    SHN_ABS,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_RELA,
    SHT_SYMTAB,
    STB_LOCAL,
    Elf,
    Section,
    unpack_at,
)

__all__ = ["check_object"]

_SHT_NULL, _SHT_STRTAB = 0, 3
# Section types and flags in objects LLVM emits for tracegrad (note, x86-64 unwind and
# address-significance tables included); anything else is refused, TLS and compressed
# sections in particular (MCJIT aborts on TLS).
_SECTION_TYPES = frozenset({0, 1, 2, 3, 4, 7, 8, 0x70000001, 0x6FFF4C03})
_SECTION_FLAGS = 0x1 | 0x2 | 0x4 | 0x10 | 0x20 | 0x40 | 0x80 | 0x200 | 0x200000 | 0x10000000
_SHN_COMMON = 0xFFF2
_SECTION_HEADER = 64
_ENTRY = 24  # Elf64_Sym and Elf64_Rela
_MAX_ALIGN = 1 << 16
_BINDS = frozenset({0, 1, 2})  # local, global, weak
_KINDS = frozenset({0, 1, 2, 3, 4})  # notype, object, func, section, file
# x86-64 relocation type -> bytes patched. The types LLVM emits for JIT code (large or
# small code model); MCJIT aborts the process on a type it does not implement.
_X86_64_RELOCATIONS = {
    0: 0,  # NONE
    1: 8,  # 64
    2: 4,  # PC32
    4: 4,  # PLT32
    9: 4,  # GOTPCREL
    10: 4,  # 32
    11: 4,  # 32S
    24: 8,  # PC64
    25: 8,  # GOTOFF64
    29: 8,  # GOTPC64
    41: 4,  # GOTPCRELX
    42: 4,  # REX_GOTPCRELX
}


def check_object(obj: bytes, elf: Elf) -> None:
    """ValueError unless ``obj`` (parsed as ``elf`` by :func:`tracegrad.llvm.machine.elf.
    parse_object`) is a consistent ELF64 relocatable object (see the module docstring)."""
    shoff = unpack_at(obj, "<Q", 0x28)[0]
    shentsize, shnum = unpack_at(obj, "<HH", 0x3A)
    if shentsize != _SECTION_HEADER or shoff + shnum * _SECTION_HEADER > len(obj):
        raise ValueError("bad ELF section header table")
    sections = elf.sections
    shstrndx = unpack_at(obj, "<H", 0x3E)[0]
    if sections[shstrndx].type != _SHT_STRTAB:
        raise ValueError("ELF section names are not a string table")
    symtab = next(i for i, sh in enumerate(sections) if sh.type == SHT_SYMTAB)
    loaded = 0
    for sh in sections[1:]:
        _check_section(obj, sh, sections, symtab)
        if sh.flags & SHF_ALLOC:
            loaded += sh.size + sh.align
    if loaded > MAX_IMAGE:
        raise ValueError(f"ELF sections need {loaded} bytes")
    _check_symbols(elf)
    for sh in sections:
        if sh.type == SHT_RELA:
            _check_relocations(obj, sh, elf)


def _check_section(obj: bytes, sh: Section, sections: tuple[Section, ...], symtab: int) -> None:
    where = f"ELF section {sh.name!r}"
    if sh.type not in _SECTION_TYPES or sh.flags & ~_SECTION_FLAGS:
        raise ValueError(f"{where} has type {sh.type:#x}, flags {sh.flags:#x}")
    if sh.type not in (_SHT_NULL, SHT_NOBITS) and sh.offset + sh.size > len(obj):
        raise ValueError(f"{where} runs past the end of the object")
    if sh.align & (sh.align - 1) or sh.align > _MAX_ALIGN or sh.link >= len(sections):
        raise ValueError(f"{where} has a bad alignment or link")
    if sh.type == _SHT_STRTAB and sh.size and obj[sh.offset + sh.size - 1] != 0:
        raise ValueError(f"{where}: string table not terminated")
    if sh.type == SHT_SYMTAB and sections[sh.link].type != _SHT_STRTAB:
        raise ValueError(f"{where}: symbol names are not a string table")
    if sh.type in (SHT_SYMTAB, SHT_RELA) and (sh.entsize != _ENTRY or sh.size % _ENTRY):
        raise ValueError(f"{where} has entries of {sh.entsize} bytes, size {sh.size}")
    if sh.type == SHT_RELA and (sh.link != symtab or not 0 < sh.info < len(sections)):
        raise ValueError(f"{where} names the wrong symbol table or target section")


def _check_symbols(elf: Elf) -> None:
    shnum = len(elf.sections)
    for sym in elf.symbols[1:]:
        if sym.bind not in _BINDS or sym.kind not in _KINDS:
            raise ValueError(f"ELF symbol {sym.name!r} has binding {sym.bind}, type {sym.kind}")
        if sym.bind != STB_LOCAL and not sym.name:  # MCJIT asserts on a nameless global
            raise ValueError("ELF global symbol without a name")
        if sym.shndx in (SHN_UNDEF, SHN_ABS, _SHN_COMMON):
            continue
        if sym.shndx >= shnum or sym.value > elf.sections[sym.shndx].size:
            raise ValueError(f"ELF symbol {sym.name!r} lies outside its section")


def _check_relocations(obj: bytes, rel: Section, elf: Elf) -> None:
    target = elf.sections[rel.info]
    widths = _X86_64_RELOCATIONS if elf.machine == EM_X86_64 else None
    for r_offset, r_info, _ in struct.iter_unpack("<QQq", obj[rel.offset : rel.offset + rel.size]):
        kind, index = r_info & 0xFFFFFFFF, r_info >> 32
        width = 1 if widths is None else widths.get(kind)  # other machines: bounds only
        if width is None:
            raise ValueError(f"ELF relocation type {kind} in {rel.name!r}")
        if index >= len(elf.symbols) or r_offset + width > target.size:
            raise ValueError(f"bad ELF relocation in {rel.name!r}")
