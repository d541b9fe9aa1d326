"""LLVM JIT engine: target setup, the IR pipeline, code generation and loading.

Design (measured facts behind each choice are in ``docs/llvmlite.md``):

* llvmlite assumes one global LLVM context, so every LLVM call made here runs under
  :data:`LLVM_LOCK`, a process-wide re-entrant lock that other modules of the backend
  (lowering, tests) must also hold while they touch llvmlite objects.
* Initialization is lazy and happens once (``initialize_native_target`` and
  ``initialize_native_asmprinter``; ``llvm.initialize()`` raises in llvmlite 0.50).
* Each module is parsed, verified, optimized with a *new* PassBuilder and a *new*
  ModulePassManager (both leak or crash when reused; the MPM is disposed by hand), and
  turned into ELF object code by an "emit" TargetMachine that no engine ever owns (an
  engine takes ownership of its TM, and sharing one TM between owners double-frees).
* Object code is loaded by tracegrad's own ELF loader (:func:`tracegrad.llvm.machine.elf.
  load_native`, x86-64, no LLVM involved), or, for an object it does not handle, into ONE
  long-lived MCJIT engine with ``add_object_file``. Why MCJIT rather than LLJIT: about
  8 KiB per object against 43 KiB per LLJIT library (and LLJIT still leaks 11 KiB per
  library after its tracker is dropped), the same link time, and symbols registered with
  ``llvm.add_symbol`` work as-is. Why a loader of our own at all: a process whose
  kernels all come from the disk cache then never imports llvmlite (50-60 ms) nor
  initializes LLVM. Code is never unloaded and all objects share one symbol namespace:
  this module refuses an object that redefines a symbol loaded from *different* source
  IR (MCJIT would silently let the newer definition win), allows it for the same IR at
  another level (tiered compilation), captures every address at load time, and loads
  identical object code only once (the in-memory cache is the table of loaded objects).
* Object code is also the disk cache format (:mod:`tracegrad.llvm.machine.cache`): a cache hit
  skips parsing, optimization and code generation altogether.
* MCJIT does not complain about an unresolved external symbol; the call then jumps to
  address 0. Before loading, the ELF symbol table of the object is read and every
  undefined symbol must resolve (both loaders), and every requested export must have a
  nonzero address.
* The cache key includes tracegrad's ``__version__`` (object code of one version may call
  or assume things another does not provide) and the host CPU name and features as LLVM
  reports them; a process that has not loaded LLVM takes them from the disk cache's host
  record (see :func:`tracegrad.llvm.machine.host.key_host`). An entry the loader refuses is
  deleted and the IR compiled instead.
* Process addresses (e.g. ``PyArray_Type``) never appear in IR as constants; they are
  registered by name with :func:`register_symbol`, so cached objects stay valid in new
  processes (the loader relocates them).
"""

from __future__ import annotations

import hashlib
import sys
import time
import zlib
from collections.abc import Iterable

from tracegrad.llvm.machine import cache as _cache
from tracegrad.llvm.machine.elf import elf_symbols
from tracegrad.llvm.machine.host import check_host_record, host_fingerprint, key_host
from tracegrad.llvm.machine.loader import JitEngine, cacheable
from tracegrad.llvm.machine.loader import get_engine as _get_engine
from tracegrad.llvm.machine.target import (
    LLVM_LOCK,
    BadObjectError,
    CompileStats,
    DuplicateSymbolError,
    HostInfo,
    LLVMCompileError,
    UnresolvedSymbolError,
    check_level,
    compile_object,
    emit_target_machine,
    ensure_initialized,
    host_info,
    optimize_ir,
    register_symbol,
    registered_symbols,
)

__all__ = [
    "LLVM_LOCK",
    "BadObjectError",
    "CompileStats",
    "CompiledModule",
    "DuplicateSymbolError",
    "HostInfo",
    "LLVMCompileError",
    "UnresolvedSymbolError",
    "compile_module",
    "elf_symbols",
    "ensure_initialized",
    "host_info",
    "key_host",
    "loaded_object_count",
    "module_key",
    "optimize_ir",
    "register_symbol",
    "registered_symbols",
]


def loaded_object_count() -> tuple[int, int]:
    """(number of objects, total bytes of object code) loaded into the engine."""
    engine = _get_engine()
    with LLVM_LOCK:
        return len(engine.modules), engine.object_bytes


# ---------------------------------------------------------------------------------------
# Compiled modules
# ---------------------------------------------------------------------------------------


class CompiledModule:
    """Machine code of one LLVM module, loaded and ready to call.

    Holds a reference to the engine that owns the code, so any object that keeps a
    CompiledModule alive keeps its addresses valid. ``llvm_ir`` and ``asm`` are rebuilt
    on first use from the source IR (the pipeline is deterministic), so neither a cache
    hit nor the common case pays for them.
    """

    __slots__ = (
        "_addresses",
        "_asm",
        "_engine",
        "_llvm_ir",
        "codegen_level",
        "_ir_z",
        "key",
        "name_hint",
        "opt_level",
        "stats",
    )

    def __init__(
        self,
        *,
        key: str,
        name_hint: str,
        ir_text: str,
        opt_level: int,
        codegen_level: int,
        addresses: dict[str, int],
        stats: CompileStats,
        engine: JitEngine,
    ) -> None:
        self.key = key
        self.name_hint = name_hint
        # Kept only for llvm_ir/asm on demand; compressed, as IR text is the largest
        # per-module cost after the machine code itself (about 12 KiB per small kernel).
        self._ir_z = zlib.compress(ir_text.encode(), 1)
        self.opt_level = opt_level
        self.codegen_level = codegen_level
        self.stats = stats
        self._addresses = addresses
        self._engine = engine
        self._llvm_ir: str | None = None
        self._asm: str | None = None

    def __repr__(self) -> str:
        return f"<CompiledModule {self.name_hint} O{self.opt_level} key={self.key[:12]}>"

    @property
    def ir_text(self) -> str:
        """The source LLVM IR text."""
        return zlib.decompress(self._ir_z).decode()

    @property
    def symbols(self) -> tuple[str, ...]:
        """The global symbols this module defines."""
        return tuple(sorted(self._addresses))

    def address(self, name: str) -> int:
        """The address of a global function or variable defined by this module."""
        try:
            return self._addresses[name]
        except KeyError:
            raise KeyError(f"{self.name_hint} defines no symbol {name!r}") from None

    @property
    def llvm_ir(self) -> str:
        """The optimized LLVM IR text."""
        if self._llvm_ir is None:
            with LLVM_LOCK:
                self._llvm_ir = str(optimize_ir(self.ir_text, self.opt_level))
        return self._llvm_ir

    @property
    def asm(self) -> str:
        """The assembly text of the module (computed on first use)."""
        if self._asm is None:
            with LLVM_LOCK:
                mod = optimize_ir(self.ir_text, self.opt_level)
                self._asm = emit_target_machine(self.codegen_level).emit_assembly(mod)
        return self._asm


# ---------------------------------------------------------------------------------------
# compile_module
# ---------------------------------------------------------------------------------------


def compile_module(
    ir_text: str,
    *,
    opt_level: int = 3,
    name_hint: str,
    exports: Iterable[str] = (),
    codegen_level: int | None = None,
    disk_cache: bool | None = None,
    version: str = "",
) -> CompiledModule:
    """Compile LLVM IR text to loaded machine code (or take it from a cache).

    ``opt_level`` 0 skips the IR pipeline; 1-3 run the default pipeline with the loop
    and SLP vectorizers. ``codegen_level`` defaults to ``opt_level``. ``exports`` names
    the symbols that must exist with nonzero addresses. ``disk_cache`` overrides the
    global setting for this call; ``version`` (say, of the caller's code generator) enters
    the cache key next to tracegrad's own version.
    Identical IR compiled twice returns the same CompiledModule (the memory cache).
    """
    check_level("opt_level", opt_level)
    cg_level = opt_level if codegen_level is None else codegen_level
    check_level("codegen_level", cg_level)
    exports = tuple(exports)
    key = module_key(ir_text, opt_level=opt_level, codegen_level=cg_level, version=version)
    engine = _get_engine()
    module = engine.modules.get(key)  # lock-free fast path: dict reads are atomic
    if module is not None:
        _require_exports(module, exports)
        _cache.record("memory_hits")
        return module
    with LLVM_LOCK:
        module = engine.modules.get(key)  # another thread may have loaded it meanwhile
        if module is not None:
            _cache.record("memory_hits")
        else:
            store = _cache.disk_cache(disk_cache)
            args = (key, ir_text, opt_level, cg_level, exports, name_hint)
            module = _load_cached(store, *args) if store is not None else None
            if module is None:
                module = _compile_fresh(store, *args)
            engine.modules[key] = module
    _require_exports(module, exports)
    return module


def module_key(
    ir_text: str, *, opt_level: int = 3, codegen_level: int | None = None, version: str = ""
) -> str:
    """The cache key compile_module uses for these arguments on this host; it includes
    ``tracegrad.__version__`` and the caller's ``version``."""
    host = key_host()
    return _cache.cache_key(
        ir_text,
        opt_level=opt_level,
        codegen_level=opt_level if codegen_level is None else codegen_level,
        cpu=host.cpu,
        features=host.features,
        llvm_version=host.llvm_version,
        llvmlite_version=host.llvmlite_version,
        version=f"{_tracegrad_version()}\0{version}",
    )


def _tracegrad_version() -> str:
    # Read at each call (a dict lookup): the package is imported by then, and engine is
    # imported while tracegrad/__init__.py runs, before __version__ is assigned.
    return sys.modules["tracegrad"].__version__


def _digest(ir_text: str) -> str:
    return hashlib.sha256(ir_text.encode()).hexdigest()


def _require_exports(module: CompiledModule, exports: tuple[str, ...]) -> None:
    for name in exports:
        module.address(name)


def _new_module(
    key: str,
    ir_text: str,
    opt_level: int,
    cg_level: int,
    addresses: dict[str, int],
    name_hint: str,
    stats: CompileStats,
) -> CompiledModule:
    return CompiledModule(
        key=key,
        name_hint=name_hint,
        ir_text=ir_text,
        opt_level=opt_level,
        codegen_level=cg_level,
        addresses=addresses,
        stats=stats,
        engine=_get_engine(),
    )


def _load_cached(
    store: _cache.DiskCache,
    key: str,
    ir_text: str,
    opt_level: int,
    cg_level: int,
    exports: tuple[str, ...],
    name_hint: str,
) -> CompiledModule | None:
    """The module from the disk cache, or None; an entry the loader refuses is deleted
    (the caller then compiles the IR, which reports any error that is not the entry's)."""
    t0 = time.perf_counter()
    obj = store.load(key)
    if obj is None:
        return None
    try:
        addresses = _get_engine().load(_digest(ir_text), obj, exports, name_hint, cached=True)
    except LLVMCompileError:
        store.discard(key)
        return None
    stats = CompileStats(load_s=time.perf_counter() - t0, object_bytes=len(obj), source="disk")
    _cache.record("disk_hits")
    return _new_module(key, ir_text, opt_level, cg_level, addresses, name_hint, stats)


def _compile_fresh(
    store: _cache.DiskCache | None,
    key: str,
    ir_text: str,
    opt_level: int,
    cg_level: int,
    exports: tuple[str, ...],
    name_hint: str,
) -> CompiledModule:
    obj, parse_s, optimize_s, codegen_s = compile_object(ir_text, opt_level, cg_level, name_hint)
    engine = _get_engine()
    natives = engine.native_objects
    t3 = time.perf_counter()
    addresses = engine.load(_digest(ir_text), obj, exports, name_hint)
    t4 = time.perf_counter()
    _cache.record("misses")
    check_host_record(store, host_fingerprint() if store is not None else None, host_info())
    if store is not None and cacheable(obj, engine.native_objects > natives):
        # Stored only after a successful load, and only if a later process would accept
        # it from the cache (see loader.cacheable).
        store.store(key, obj)
    stats = CompileStats(parse_s, optimize_s, codegen_s, t4 - t3, len(obj), "compiled")
    return _new_module(key, ir_text, opt_level, cg_level, addresses, name_hint, stats)
