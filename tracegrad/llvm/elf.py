"""A minimal ELF64 symbol-table reader: which global symbols an object defines and needs,
checked before MCJIT ever sees the object (MCJIT aborts the process on a bad one)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from tracegrad.llvm.target import ensure_initialized

# ---------------------------------------------------------------------------------------
# ELF symbol table (to find what an object defines and needs before MCJIT sees it)
# ---------------------------------------------------------------------------------------

_SHT_SYMTAB = 2
_ET_REL = 1
_ELF_MACHINE = {"x86_64": 62, "aarch64": 183}
_STB_LOCAL = 0
_STT_SECTION, _STT_FILE = 3, 4
# RuntimeDyld provides this one itself.
_LINKER_PROVIDED = frozenset({"_GLOBAL_OFFSET_TABLE_"})


@dataclass(frozen=True)
class ObjectSymbols:
    defined: frozenset[str]
    undefined: frozenset[str]


def elf_symbols(obj: bytes) -> ObjectSymbols:
    """Global symbols an ELF64 little-endian relocatable object defines and needs.

    Raises ValueError for anything malformed, so a damaged cache entry never reaches
    MCJIT (which aborts the process on a bad object).
    """
    if len(obj) < 64 or obj[:6] != b"\x7fELF\x02\x01":
        raise ValueError("not an ELF64 little-endian object")
    e_type, e_machine = _unpack(obj, "<HH", 0x10)
    if e_type != _ET_REL or e_machine != _ELF_MACHINE.get(_arch(), e_machine):
        raise ValueError(f"not a relocatable object for this machine ({e_type}, {e_machine})")
    shoff, shentsize, shnum = _unpack(obj, "<Q", 0x28)[0], *_unpack(obj, "<HH", 0x3A)
    sections = [_unpack(obj, "<IIQQQQIIQQ", shoff + i * shentsize) for i in range(shnum)]
    symtabs = [sh for sh in sections if sh[1] == _SHT_SYMTAB]
    if len(symtabs) != 1 or symtabs[0][6] >= shnum or symtabs[0][9] < 24:
        raise ValueError("object has no usable symbol table")
    defined: set[str] = set()
    undefined: set[str] = set()
    for sh in symtabs:
        _, _, _, _, off, size, link, _, _, entsize = sh
        strtab = sections[link]
        str_off, str_size = strtab[4], strtab[5]
        for pos in range(off + entsize, off + size, entsize):  # entry 0 is the null symbol
            st_name, st_info, _, st_shndx, _, _ = _unpack(obj, "<IBBHQQ", pos)
            if st_info >> 4 == _STB_LOCAL or st_info & 0xF in (_STT_SECTION, _STT_FILE):
                continue
            name = _c_string(obj, str_off, str_size, st_name)
            (undefined if st_shndx == 0 else defined).add(name)
    return ObjectSymbols(frozenset(defined), frozenset(undefined - _LINKER_PROVIDED))


def _arch() -> str:
    return ensure_initialized().triple.split("-", 1)[0]


def _unpack(buf: bytes, fmt: str, offset: int) -> tuple[Any, ...]:
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
