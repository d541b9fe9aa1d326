"""LLVM target state shared by the JIT: the process-wide lock, error types, one-time
native target initialization, emit TargetMachines, process symbols, and the
parse/verify/optimize pipeline (see :mod:`tracegrad.llvm.machine.engine` for the design notes).

llvmlite is imported on first use (:func:`llvm_binding`), not with this module: importing
``llvmlite.binding`` costs 50-60 ms, and a process whose kernels all come from the disk
cache never needs it (see :mod:`tracegrad.llvm.machine.elf`)."""

from __future__ import annotations

import threading
import time
from typing import Any

from tracegrad.ir import forksafe
from tracegrad.llvm.machine import capi
from tracegrad.llvm.machine.records import Record

#: Serializes every LLVM call of the process (llvmlite has one global context).
LLVM_LOCK = threading.RLock()
# fork waits for the compile in progress: the child must not see LLVM half-way (nesting order)
forksafe.hold_across_fork(LLVM_LOCK, capi.llvmlite_rlock)


class LLVMCompileError(RuntimeError):
    """IR that does not parse or verify, or object code that cannot be loaded."""


class UnresolvedSymbolError(LLVMCompileError):
    """Object code needs a symbol that neither the engine nor the process defines."""


class DuplicateSymbolError(LLVMCompileError):
    """Object code would redefine a symbol that an earlier, different object defines."""


class BadObjectError(LLVMCompileError):
    """Object code that is malformed or that LLVM refuses to read."""


class HostInfo(Record):
    """Everything about the host that changes the generated machine code."""

    __slots__ = ("triple", "cpu", "features", "data_layout", "llvm_version", "llvmlite_version")
    triple: str
    cpu: str
    features: str
    data_layout: str
    llvm_version: str
    llvmlite_version: str


class CompileStats(Record):
    """Wall times (seconds) of the phases of one compile_module call that did work;
    ``source`` is "compiled" or "disk"."""

    __slots__ = ("parse_s", "optimize_s", "codegen_s", "load_s", "object_bytes", "source")
    _defaults = dict.fromkeys(__slots__[:4], 0.0) | {"object_bytes": 0, "source": "compiled"}
    parse_s: float
    optimize_s: float
    codegen_s: float
    load_s: float
    object_bytes: int
    source: str


# ---------------------------------------------------------------------------------------
# One-time initialization and target machines
# ---------------------------------------------------------------------------------------

_host: HostInfo | None = None
_target: Any = None
_emit_tms: dict[int, Any] = {}
_symbols: dict[str, int] = {}
_llvm: Any = None


def llvm_binding() -> Any:
    """``llvmlite.binding``, imported on first use."""
    global _llvm
    if _llvm is None:
        import llvmlite.binding

        _llvm = llvmlite.binding
    return _llvm


def initialized_host() -> HostInfo | None:
    """The host description if LLVM is initialized already, else None (initializes nothing)."""
    return _host


def ensure_initialized() -> HostInfo:
    """Initialize LLVM's native target once (thread-safe) and return the host description.

    Through :mod:`tracegrad.llvm.machine.capi` when it supports the installed llvmlite (then
    ``llvmlite.binding`` is not imported), else through ``llvmlite.binding``.
    """
    global _host
    if _host is not None:
        return _host
    with LLVM_LOCK:
        if _host is None:
            import llvmlite

            lib = capi.library()
            if lib is not None:
                triple, cpu, features, layout = lib.initialize()
                version = lib.llvm_version()
            else:
                llvm = llvm_binding()
                triple, cpu, features = _llvmlite_init()
                layout = str(_emit_tm_unlocked(3, cpu, features).target_data)
                version = ".".join(map(str, llvm.llvm_version_info))
            _host = HostInfo(
                triple=triple,
                cpu=cpu,
                features=features,
                data_layout=layout,
                llvm_version=version,
                llvmlite_version=llvmlite.__version__,
            )
            for name, address in _symbols.items():  # registered before LLVM was loaded
                _add_symbol(name, address)
    return _host


def _llvmlite_init() -> tuple[str, str, str]:
    """Initialize through llvmlite.binding (idempotent); (triple, cpu, features)."""
    global _target
    llvm = llvm_binding()
    triple = llvm.get_process_triple()
    if _target is None:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _target = llvm.Target.from_triple(triple)
    return triple, llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def _add_symbol(name: str, address: int) -> None:
    lib = capi.library()
    if lib is not None:
        lib.add_symbol(name, address)
    else:
        llvm_binding().add_symbol(name, address)


def host_info() -> HostInfo:
    """The cached host CPU name, feature string, triple and versions."""
    return ensure_initialized()


def new_target_machine(codegen_level: int, cpu: str, features: str) -> Any:
    """A llvmlite TargetMachine. jit=True selects the large code model: the JIT maps code
    anywhere in the address space, possibly more than 2 GiB away from libm or the Python
    C API (and tracegrad's own ELF loader relies on it: no PC-relative relocations)."""
    if _target is None:
        _llvmlite_init()
    return _target.create_target_machine(
        cpu=cpu, features=features, opt=codegen_level, codemodel="jitdefault", jit=True
    )


def emit_target_machine(codegen_level: int) -> Any:
    """The llvmlite emit TargetMachine for a codegen level (inspection, tests and the
    llvmlite.binding compile path); no engine ever owns these."""
    host = ensure_initialized()
    with LLVM_LOCK:
        return _emit_tm_unlocked(codegen_level, host.cpu, host.features)


def _emit_tm_unlocked(codegen_level: int, cpu: str, features: str) -> Any:
    tm = _emit_tms.get(codegen_level)
    if tm is None:
        tm = _emit_tms[codegen_level] = new_target_machine(codegen_level, cpu, features)
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
        _symbols[name] = address
        if _host is not None:  # else ensure_initialized hands it to LLVM later
            _add_symbol(name, address)


def registered_address(name: str) -> int | None:
    """The address registered for ``name``, or None."""
    return _symbols.get(name)


def registered_symbols() -> dict[str, int]:
    """A copy of the symbols registered with :func:`register_symbol`."""
    with LLVM_LOCK:
        return dict(_symbols)


# ---------------------------------------------------------------------------------------
# Parse, verify, optimize, emit
# ---------------------------------------------------------------------------------------


def _parse(ir_text: str, name_hint: str) -> Any:
    host = ensure_initialized()
    llvm = llvm_binding()
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
    llvm = llvm_binding()
    pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    pto.loop_vectorization = True
    pto.slp_vectorization = True  # off by default in LLVM's PTO
    # A new PassBuilder per module: a reused one accumulates instrumentation callbacks
    # and optimize time grows without bound. A pipeline MPM may run only once.
    pb = llvm.create_pass_builder(emit_target_machine(3), pto)
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


def compile_object(
    ir_text: str, opt_level: int, codegen_level: int, name_hint: str
) -> tuple[bytes, float, float, float]:
    """Parse, verify, optimize and emit ELF object code: (object, parse_s, optimize_s,
    codegen_s). Through :mod:`tracegrad.llvm.machine.capi` when available, else llvmlite.binding
    (both drive the same LLVM the same way). The caller holds :data:`LLVM_LOCK`."""
    ensure_initialized()
    lib = capi.library()
    if lib is None:
        t0 = time.perf_counter()
        mod = _parse(ir_text, name_hint)
        t1 = t2 = time.perf_counter()
        if opt_level > 0:
            _run_pipeline(mod, opt_level)
            t2 = time.perf_counter()
        obj = emit_target_machine(codegen_level).emit_object(mod)
        return obj, t1 - t0, t2 - t1, time.perf_counter() - t2
    try:
        done = lib.compile(ir_text, opt_level, codegen_level)
    except capi.ParseError as exc:
        raise LLVMCompileError(f"{name_hint}: LLVM IR does not parse:\n{exc}") from None
    except capi.VerifyError as exc:
        raise LLVMCompileError(f"{name_hint}: LLVM IR does not verify:\n{exc}") from None
    return done.object, done.parse_s, done.optimize_s, done.codegen_s


def optimize_ir(ir_text: str, opt_level: int = 3, *, name_hint: str = "module") -> Any:
    """Parse, verify and (for opt_level > 0) optimize; returns the llvmlite ModuleRef.

    The caller must hold :data:`LLVM_LOCK` while using the result.
    """
    check_level("opt_level", opt_level)
    with LLVM_LOCK:
        mod = _parse(ir_text, name_hint)
        if opt_level > 0:
            _run_pipeline(mod, opt_level)
        return mod


def check_level(what: str, level: int) -> None:
    """An optimization or codegen level is 0-3 (engine checks its arguments with it)."""
    if level not in (0, 1, 2, 3):
        raise ValueError(f"{what} must be 0, 1, 2 or 3, got {level!r}")
