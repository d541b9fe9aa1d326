"""LLVM target state shared by the JIT: the process-wide lock, error types, one-time
native target initialization, emit TargetMachines, process symbols, and the
parse/verify/optimize pipeline (see :mod:`tracegrad.llvm.engine` for the design notes)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import llvmlite
import llvmlite.binding as llvm

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
