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
import struct
import threading
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import llvmlite
import llvmlite.binding as llvm

from tracegrad.llvm import cache as _cache

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

#: Serializes every LLVM call of the process (llvmlite has one global context).
LLVM_LOCK = threading.RLock()


class LLVMCompileError(RuntimeError):
    """IR that does not parse or verify, or object code that cannot be loaded."""


class UnresolvedSymbolError(LLVMCompileError):
    """Object code needs a symbol that neither the engine nor the process defines."""


class DuplicateSymbolError(LLVMCompileError):
    """Object code would redefine a symbol that an earlier, different object defines."""


class BadObjectError(LLVMCompileError):
    """Object code that is malformed or that LLVM refuses to read."""


@dataclass(frozen=True)
class HostInfo:
    """Everything about the host that changes the generated machine code."""

    triple: str
    cpu: str
    features: str
    data_layout: str
    llvm_version: str
    llvmlite_version: str


@dataclass(frozen=True)
class CompileStats:
    """Wall times (seconds) of the phases of one compile_module call that did work."""

    parse_s: float = 0.0
    optimize_s: float = 0.0
    codegen_s: float = 0.0
    load_s: float = 0.0
    object_bytes: int = 0
    source: str = "compiled"  # "compiled" or "disk"


# ---------------------------------------------------------------------------------------
# One-time initialization and target machines
# ---------------------------------------------------------------------------------------

_host: HostInfo | None = None
_target: Any = None
_emit_tms: dict[int, Any] = {}
_symbols: dict[str, int] = {}


def ensure_initialized() -> HostInfo:
    """Initialize LLVM's native target once (thread-safe) and return the host description."""
    global _host, _target
    if _host is not None:
        return _host
    with LLVM_LOCK:
        if _host is None:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            triple = llvm.get_process_triple()
            _target = llvm.Target.from_triple(triple)
            cpu = llvm.get_host_cpu_name()
            features = llvm.get_host_cpu_features().flatten()
            tm = _new_target_machine(3, cpu, features)
            _host = HostInfo(
                triple=triple,
                cpu=cpu,
                features=features,
                data_layout=str(tm.target_data),
                llvm_version=".".join(map(str, llvm.llvm_version_info)),
                llvmlite_version=llvmlite.__version__,
            )
            _emit_tms[3] = tm
    return _host


def host_info() -> HostInfo:
    """The cached host CPU name, feature string, triple and versions."""
    return ensure_initialized()


def _new_target_machine(codegen_level: int, cpu: str, features: str) -> Any:
    # jit=True selects the large code model: the JIT maps code anywhere in the address
    # space, possibly more than 2 GiB away from libm or the Python C API.
    return _target.create_target_machine(
        cpu=cpu, features=features, opt=codegen_level, codemodel="jitdefault", jit=True
    )


def _emit_tm(codegen_level: int) -> Any:
    """The emit TargetMachine for a codegen level; no engine ever owns these."""
    host = ensure_initialized()
    with LLVM_LOCK:
        tm = _emit_tms.get(codegen_level)
        if tm is None:
            tm = _new_target_machine(codegen_level, host.cpu, host.features)
            _emit_tms[codegen_level] = tm
        return tm


# ---------------------------------------------------------------------------------------
# Process symbols
# ---------------------------------------------------------------------------------------


def register_symbol(name: str, address: int) -> None:
    """Make a process address visible to JIT code as the external symbol ``name``.

    Re-registering the same address is a no-op; a different address raises, because
    objects already loaded were relocated against the first one.
    """
    if address == 0:
        raise ValueError(f"symbol {name!r}: address 0")
    with LLVM_LOCK:
        old = _symbols.get(name)
        if old == address:
            return
        if old is not None:
            raise ValueError(f"symbol {name!r} already registered at {old:#x}")
        ensure_initialized()
        llvm.add_symbol(name, address)
        _symbols[name] = address


def registered_symbols() -> dict[str, int]:
    """A copy of the symbols registered with :func:`register_symbol`."""
    with LLVM_LOCK:
        return dict(_symbols)


# ---------------------------------------------------------------------------------------
# Parse, verify, optimize, emit
# ---------------------------------------------------------------------------------------


def _parse(ir_text: str, name_hint: str) -> Any:
    host = ensure_initialized()
    try:
        mod = llvm.parse_assembly(ir_text)
    except RuntimeError as exc:
        raise LLVMCompileError(f"{name_hint}: LLVM IR does not parse:\n{exc}") from None
    mod.triple = host.triple
    mod.data_layout = host.data_layout
    try:
        mod.verify()
    except RuntimeError as exc:
        raise LLVMCompileError(f"{name_hint}: LLVM IR does not verify:\n{exc}") from None
    return mod


def _run_pipeline(mod: Any, opt_level: int) -> None:
    """Run the default O1-O3 pipeline with loop and SLP vectorization on ``mod``."""
    pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    pto.loop_vectorization = True
    pto.slp_vectorization = True  # off by default in LLVM's PTO
    # A new PassBuilder per module: a reused one accumulates instrumentation callbacks
    # and optimize time grows without bound. A pipeline MPM may run only once.
    pb = llvm.create_pass_builder(_emit_tm(3), pto)
    mpm = pb.getModulePassManager()
    try:
        mpm.run(mod, pb)
    finally:
        # ObjectRef._dispose shadows NewPassManager._dispose, so the MPM would leak
        # about 88 KiB per module without this.
        llvm.ffi.lib.LLVMPY_DisposeNewModulePassManger(mpm)
        mpm.detach()
        pb.close()
        pto.close()


def optimize_ir(ir_text: str, opt_level: int = 3, *, name_hint: str = "module") -> Any:
    """Parse, verify and (for opt_level > 0) optimize; returns the llvmlite ModuleRef.

    The caller must hold :data:`LLVM_LOCK` while using the result.
    """
    _check_level("opt_level", opt_level)
    with LLVM_LOCK:
        mod = _parse(ir_text, name_hint)
        if opt_level > 0:
            _run_pipeline(mod, opt_level)
        return mod


def _check_level(what: str, level: int) -> None:
    if level not in (0, 1, 2, 3):
        raise ValueError(f"{what} must be 0, 1, 2 or 3, got {level!r}")


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
