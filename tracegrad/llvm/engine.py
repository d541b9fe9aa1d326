"""LLVM JIT engine: target setup, the IR pipeline, code generation and loading.

Design (measured facts behind each choice are in ``shared/notes/llvmlite.md``):

* llvmlite assumes one global LLVM context, so every LLVM call made here runs under
  :data:`LLVM_LOCK`, a process-wide re-entrant lock that other modules of the backend
  (lowering, tests) must also hold while they touch llvmlite objects.
* Initialization is lazy and happens once (``initialize_native_target`` and
  ``initialize_native_asmprinter``; ``llvm.initialize()`` raises in llvmlite 0.50).
* Each module is parsed, verified, optimized with a *new* PassBuilder and a *new*
  ModulePassManager (both leak or crash when reused; the MPM is disposed by hand), and
  turned into ELF object code by an "emit" TargetMachine that no engine ever owns (an
  engine takes ownership of its TM, and sharing one TM between owners double-frees).
* Object code is loaded into ONE long-lived MCJIT engine with ``add_object_file``.
  Why MCJIT rather than LLJIT: about 8 KiB per object against 43 KiB per LLJIT library
  (and LLJIT still leaks 11 KiB per library after its tracker is dropped), the same link
  time, and symbols registered with ``llvm.add_symbol`` work as-is. The price is that
  code is never unloaded and that all objects share one symbol namespace: this module
  refuses an object that redefines a symbol loaded from *different* source IR (MCJIT
  would silently let the newer definition win), allows it for the same IR at another
  level (tiered compilation), captures every address at load time, and loads identical
  object code only once (the in-memory cache is the engine's table of loaded objects).
* Object code is also the disk cache format (:mod:`tracegrad.llvm.cache`): a cache hit
  skips parsing, optimization and code generation altogether.
* MCJIT does not complain about an unresolved external symbol; the call then jumps to
  address 0. Before loading, the ELF symbol table of the object is read and every
  undefined symbol must resolve, and every requested export must have a nonzero address.
* Process addresses (e.g. ``PyArray_Type``) never appear in IR as constants; they are
  registered by name with :func:`register_symbol`, so cached objects stay valid in new
  processes (the loader relocates them).
"""

from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Iterable

import llvmlite.binding as llvm

from tracegrad.llvm import cache as _cache
from tracegrad.llvm.elf import ObjectSymbols, elf_symbols
from tracegrad.llvm.target import (
    LLVM_LOCK,
    BadObjectError,
    CompileStats,
    DuplicateSymbolError,
    HostInfo,
    LLVMCompileError,
    UnresolvedSymbolError,
    _check_level,
    _emit_tm,
    _new_target_machine,
    _parse,
    _run_pipeline,
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
    "ensure_initialized",
    "host_info",
    "loaded_object_count",
    "module_key",
    "optimize_ir",
    "register_symbol",
    "registered_symbols",
]


# ---------------------------------------------------------------------------------------
# The long-lived MCJIT engine
# ---------------------------------------------------------------------------------------


class _JitEngine:
    """One MCJIT engine for the whole process; objects are added, never removed."""

    def __init__(self) -> None:
        host = ensure_initialized()
        empty = llvm.parse_assembly("")
        empty.triple = host.triple
        empty.data_layout = host.data_layout
        # The engine owns this TM; it must never be used elsewhere (double free).
        tm = _new_target_machine(3, host.cpu, host.features)
        self._ee = llvm.create_mcjit_compiler(empty, tm)
        # defined symbol -> sha256 of the source IR of the object that defines it
        self._owner: dict[str, str] = {}
        self.modules: dict[str, CompiledModule] = {}  # key -> module (the memory cache)
        self.object_bytes = 0

    def load(
        self, source: str, obj: bytes, exports: Iterable[str], name_hint: str
    ) -> dict[str, int]:
        """Add ``obj`` (compiled from IR with digest ``source``); return the address of
        every global symbol it defines."""
        try:
            syms = elf_symbols(obj)
        except ValueError as exc:
            raise BadObjectError(f"{name_hint}: bad object code: {exc}") from None
        missing = sorted(set(exports) - syms.defined)
        if missing:
            raise LLVMCompileError(f"{name_hint}: module does not define {missing}")
        self._check_duplicates(syms.defined, source, name_hint)
        self._check_resolvable(syms, name_hint)
        objref = llvm.ObjectFileRef.from_data(obj)
        if not objref._ptr:  # a null ObjectFile would crash add_object_file
            raise BadObjectError(f"{name_hint}: LLVM cannot read the object code")
        self._ee.add_object_file(objref)
        self._ee.finalize_object()
        for name in syms.defined:
            self._owner[name] = source
        self.object_bytes += len(obj)
        addresses = {name: self._ee.get_global_value_address(name) for name in syms.defined}
        zero = sorted(name for name in exports if not addresses[name])
        if zero:
            raise UnresolvedSymbolError(f"{name_hint}: no address for {zero}")
        return addresses

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


_engine: _JitEngine | None = None


def _get_engine() -> _JitEngine:
    global _engine
    if _engine is None:
        with LLVM_LOCK:
            if _engine is None:
                _engine = _JitEngine()
    return _engine


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
        engine: _JitEngine,
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
                self._asm = _emit_tm(self.codegen_level).emit_assembly(mod)
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
    global setting for this call; ``version`` (tracegrad's version) enters the cache key.
    Identical IR compiled twice returns the same CompiledModule (the memory cache).
    """
    _check_level("opt_level", opt_level)
    cg_level = opt_level if codegen_level is None else codegen_level
    _check_level("codegen_level", cg_level)
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
    """The cache key compile_module uses for these arguments on this host."""
    host = ensure_initialized()
    return _cache.cache_key(
        ir_text,
        opt_level=opt_level,
        codegen_level=opt_level if codegen_level is None else codegen_level,
        cpu=host.cpu,
        features=host.features,
        llvm_version=host.llvm_version,
        llvmlite_version=host.llvmlite_version,
        version=version,
    )


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
    """The module from the disk cache, or None; an unloadable entry is deleted."""
    t0 = time.perf_counter()
    obj = store.load(key)
    if obj is None:
        return None
    try:
        addresses = _get_engine().load(_digest(ir_text), obj, exports, name_hint)
    except BadObjectError:
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
    t0 = time.perf_counter()
    mod = _parse(ir_text, name_hint)
    t1 = time.perf_counter()
    t2 = t1
    if opt_level > 0:
        _run_pipeline(mod, opt_level)
        t2 = time.perf_counter()
    obj = _emit_tm(cg_level).emit_object(mod)
    t3 = time.perf_counter()
    addresses = _get_engine().load(_digest(ir_text), obj, exports, name_hint)
    t4 = time.perf_counter()
    _cache.record("misses")
    if store is not None:
        # Stored only after a successful load, so the cache never holds an object
        # this process could not use.
        store.store(key, obj)
    stats = CompileStats(t1 - t0, t2 - t1, t3 - t2, t4 - t3, len(obj), "compiled")
    return _new_module(key, ir_text, opt_level, cg_level, addresses, name_hint, stats)
