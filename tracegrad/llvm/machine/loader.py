"""The process-wide code store: every object tracegrad loads, and one symbol namespace.

Objects load through :func:`tracegrad.llvm.machine.elf.load_native` (x86-64, no LLVM needed); an
object that loader does not handle goes to a single long-lived MCJIT engine, created on
first need (see :mod:`tracegrad.llvm.machine.engine` for why MCJIT rather than LLJIT). Every
global symbol loaded is in one table: native objects resolve against it, and its entries
are handed to LLVM with ``add_symbol`` before MCJIT loads an object that may refer to them.
Code is never unloaded. Callers hold :data:`tracegrad.llvm.machine.target.LLVM_LOCK` around
:meth:`JitEngine.load`.

An object from the disk cache (``cached=True``) is trusted less than one LLVM just made:
it must pass :func:`tracegrad.llvm.machine.elf_check.check_object` first, and where the native
loader applies (x86-64, not turned off) it never goes to MCJIT, whose reaction to a bad
object is to abort the process. The engine stores only objects that a later process will
accept that way (:func:`cacheable`).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterable
from typing import Any

from tracegrad.llvm.machine import elf as _elf
from tracegrad.llvm.machine.elf import ObjectSymbols
from tracegrad.llvm.machine.elf_check import check_object
from tracegrad.llvm.machine.target import (
    LLVM_LOCK,
    BadObjectError,
    DuplicateSymbolError,
    LLVMCompileError,
    UnresolvedSymbolError,
    ensure_initialized,
    llvm_binding,
    new_target_machine,
    registered_address,
)

__all__ = ["ENV_NATIVE_LOADER", "cacheable", "get_engine", "native_loader_applies"]

#: ``TRACEGRAD_NATIVE_LOADER=0`` loads every object with MCJIT instead of the native loader.
ENV_NATIVE_LOADER = "TRACEGRAD_NATIVE_LOADER"


class JitEngine:
    """All loaded code of the process; objects are added, never removed.

    Objects load through :func:`tracegrad.llvm.machine.elf.load_native` (no LLVM needed); one
    that loader does not handle goes to a single long-lived MCJIT engine, created on first
    need. Both share one symbol namespace: every global symbol loaded is in ``_addresses``
    (native objects resolve against it) and is handed to LLVM with ``add_symbol`` before
    MCJIT loads an object that may refer to it.
    """

    def __init__(self) -> None:
        self._ee: Any = None  # the MCJIT engine, created by _mcjit()
        # defined symbol -> sha256 of the source IR of the object that defines it
        self._owner: dict[str, str] = {}
        self._addresses: dict[str, int] = {}  # every loaded global symbol -> address
        self._told_llvm: dict[str, int] = {}  # natively loaded symbols given to add_symbol
        self._process: dict[str, int] = {}  # process symbols found so far
        self.modules: dict[str, Any] = {}  # key -> CompiledModule (the memory cache)
        self.object_bytes = 0
        self.native_objects = 0

    def load(
        self,
        source: str,
        obj: bytes,
        exports: Iterable[str],
        name_hint: str,
        *,
        cached: bool = False,
    ) -> dict[str, int]:
        """Add ``obj`` (compiled from IR with digest ``source``); return the address of
        every global symbol it defines. ``cached``: ``obj`` comes from the disk cache (see
        the module docstring); BadObjectError if it is refused."""
        try:
            parsed = _elf.parse_object(obj)
            if cached:
                check_object(obj, parsed)
        except ValueError as exc:
            raise BadObjectError(f"{name_hint}: bad object code: {exc}") from None
        syms = _elf.symbols_of(parsed)
        missing = sorted(set(exports) - syms.defined)
        if missing:
            raise LLVMCompileError(f"{name_hint}: module does not define {missing}")
        self._check_duplicates(syms.defined, source, name_hint)
        addresses = self._load_native(obj, parsed, name_hint)
        if addresses is None:
            if cached and native_loader_applies():
                # The native loader takes every object LLVM makes for tracegrad here: this
                # one is damaged, and MCJIT might abort the process on it.
                raise BadObjectError(f"{name_hint}: the native loader refuses this object")
            addresses = self._load_mcjit(obj, syms, name_hint)
        else:
            self.native_objects += 1
        for name in syms.defined:
            self._owner[name] = source
        self._addresses.update(addresses)
        self.object_bytes += len(obj)
        zero = sorted(name for name in exports if not addresses.get(name))
        if zero:
            raise UnresolvedSymbolError(f"{name_hint}: no address for {zero}")
        return addresses

    def _load_native(self, obj: bytes, parsed: Any, name_hint: str) -> dict[str, int] | None:
        if not native_loader_applies():
            return None
        try:
            image = _elf.load_native(obj, self._resolve, parsed)
        except _elf.UnsupportedObjectError:
            return None
        except LookupError as exc:
            raise UnresolvedSymbolError(
                f"{name_hint}: unresolved external symbols {exc.args[0]} "
                "(register process addresses with register_symbol)"
            ) from None
        except ValueError as exc:
            raise BadObjectError(f"{name_hint}: bad object code: {exc}") from None
        return dict(image.symbols)

    def _resolve(self, name: str) -> int | None:
        """Where a symbol an object needs lives: loaded code first, then the registered
        symbols, then the process (the order MCJIT uses)."""
        address = self._addresses.get(name) or registered_address(name) or self._process.get(name)
        if not address:
            address = _process_symbol(name)  # not cached when missing: a library may come
            if address:
                self._process[name] = address
        return address

    def _mcjit(self) -> Any:
        if self._ee is None:
            host = ensure_initialized()
            llvm = llvm_binding()
            empty = llvm.parse_assembly("")
            empty.triple = host.triple
            empty.data_layout = host.data_layout
            # The engine owns this TM; it must never be used elsewhere (double free).
            tm = new_target_machine(3, host.cpu, host.features)
            self._ee = llvm.create_mcjit_compiler(empty, tm)
        return self._ee

    def _load_mcjit(self, obj: bytes, syms: ObjectSymbols, name_hint: str) -> dict[str, int]:
        ee = self._mcjit()
        llvm = llvm_binding()
        for name, address in self._addresses.items():  # natively loaded code it may call
            if name not in self._told_llvm or self._told_llvm[name] != address:
                llvm.add_symbol(name, address)
                self._told_llvm[name] = address
        self._check_resolvable(syms, name_hint)
        objref = llvm.ObjectFileRef.from_data(obj)
        if not objref._ptr:  # a null ObjectFile would crash add_object_file
            raise BadObjectError(f"{name_hint}: LLVM cannot read the object code")
        ee.add_object_file(objref)
        ee.finalize_object()
        return {name: ee.get_global_value_address(name) for name in syms.defined}

    def _check_duplicates(self, defined: frozenset[str], source: str, name_hint: str) -> None:
        # The same source IR at another level (tiered compilation) may redefine its own
        # symbols: the new object binds to its own definitions, older objects were
        # relocated already and CompiledModule addresses were captured at load time.
        # Different code under a known name would silently rebind later references.
        clash = sorted(n for n in defined if self._owner.get(n, source) != source)
        if clash:
            raise DuplicateSymbolError(
                f"{name_hint}: symbols {clash} are already defined by another loaded "
                "module; JIT symbol names must be unique (e.g. include a hash)"
            )

    def _check_resolvable(self, syms: ObjectSymbols, name_hint: str) -> None:
        llvm = llvm_binding()
        unresolved = sorted(
            name
            for name in syms.undefined
            if name not in self._owner and not llvm.address_of_symbol(name)
        )
        if unresolved:
            raise UnresolvedSymbolError(
                f"{name_hint}: unresolved external symbols {unresolved} "
                "(register process addresses with register_symbol)"
            )


def native_loader_applies() -> bool:
    """Whether objects load through :func:`tracegrad.llvm.machine.elf.load_native` here: an x86-64
    host without ``TRACEGRAD_NATIVE_LOADER=0``."""
    if os.environ.get(ENV_NATIVE_LOADER, "1").strip() in ("0", "false", "no", "off"):
        return False
    return _elf.x86_64_host()


def cacheable(obj: bytes, loaded_natively: bool) -> bool:
    """Whether a later process would accept ``obj`` from the disk cache (just loaded by
    this one, natively or not): storing one it refuses would only cost a rewrite each run."""
    if native_loader_applies() and not loaded_natively:
        return False
    try:
        check_object(obj, _elf.parse_object(obj))
    except ValueError:
        return False
    return True


def _process_symbol(name: str) -> int | None:
    """dlsym over the process's global scope (the executable, libpython, libm, ...)."""
    try:
        return ctypes.cast(_elf.process()[name], ctypes.c_void_p).value
    except (AttributeError, ValueError):
        return None


_engine: JitEngine | None = None


def get_engine() -> JitEngine:
    """The code store of the process (created on first use; creating it loads no LLVM)."""
    global _engine
    if _engine is None:
        with LLVM_LOCK:
            if _engine is None:
                _engine = JitEngine()
    return _engine
