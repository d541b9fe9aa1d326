"""A direct ctypes binding to the few functions of llvmlite's C library that compiling needs.

``import llvmlite.binding`` costs 50-90 ms on the project's VM: it declares about 450 ctypes
prototypes and imports importlib.resources, llvmlite.ir and more. Loading the same library
(``libllvmlite.so``, about 10 ms) and declaring the 30 functions below costs about 11 ms,
and the compiler behind them is the same. :func:`tracegrad.llvm.machine.engine.compile_module` uses
this binding for initialization, target machines, parse, verify, the default O1-O3 pipeline
and object emission; everything else (MCJIT fallback, ``.llvm_ir`` / ``.asm`` inspection,
tests) keeps using ``llvmlite.binding``, which loads the very same library.

The ``LLVMPY_*`` signatures are llvmlite's private ABI, so this binding is used only for the
llvmlite versions it was checked against (:data:`CHECKED_VERSIONS`; a test compares its
object code with llvmlite.binding's byte for byte). Any other version, a missing symbol or
``TRACEGRAD_LLVM_CAPI=0`` selects llvmlite.binding instead: :func:`library` returns None.

Every call runs under :data:`tracegrad.llvm.machine.target.LLVM_LOCK` (the callers hold it) and,
once llvmlite.binding is imported in the process, under llvmlite's own lock too, so another
llvmlite user (numba) never runs LLVM at the same time. Returned handles are raw pointers.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from typing import Any

__all__ = ["CHECKED_VERSIONS", "ENV_CAPI", "Compiled", "Library", "library"]

# llvmlite version prefixes whose C ABI was checked against the signatures below (0.47 is
# what numba 0.65 pins; its default pipeline builder takes a size level too)
CHECKED_VERSIONS = ("0.47.", "0.50.")
ENV_CAPI = "TRACEGRAD_LLVM_CAPI"

_P, _S, _I, _B = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_bool
_OUT = ctypes.POINTER(ctypes.c_char_p)
# name: (restype, argtypes), as llvmlite 0.50 declares them (see _VERSION_SIGNATURES)
_SIGNATURES: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "LLVMPY_InitializeNativeTarget": (None, ()),
    "LLVMPY_InitializeNativeAsmPrinter": (None, ()),
    "LLVMPY_GetProcessTriple": (None, (_OUT,)),
    "LLVMPY_GetHostCPUName": (None, (_OUT,)),
    "LLVMPY_GetHostCPUFeatures": (_I, (_OUT,)),
    "LLVMPY_GetVersionInfo": (ctypes.c_uint, ()),
    "LLVMPY_DisposeString": (None, (_S,)),
    "LLVMPY_GetTargetFromTriple": (_P, (_S, _OUT)),
    "LLVMPY_CreateTargetMachine": (_P, (_P, _S, _S, _S, _I, _S, _S, _I, _I, _S)),
    "LLVMPY_CreateTargetMachineData": (_P, (_P,)),
    "LLVMPY_CopyStringRepOfTargetData": (None, (_P, _OUT)),
    "LLVMPY_DisposeTargetData": (None, (_P,)),
    "LLVMPY_AddSymbol": (None, (_S, _P)),
    "LLVMPY_GetGlobalContext": (_P, ()),
    "LLVMPY_ParseAssembly": (_P, (_P, _S, _OUT)),
    "LLVMPY_SetTarget": (None, (_P, _S)),
    "LLVMPY_SetDataLayout": (None, (_P, _S)),
    "LLVMPY_VerifyModule": (_B, (_P, _OUT)),
    "LLVMPY_DisposeModule": (None, (_P,)),
    "LLVMPY_CreatePipelineTuningOptions": (_P, ()),
    "LLVMPY_PTOSetLoopVectorization": (None, (_P, _B)),
    "LLVMPY_PTOSetSLPVectorization": (None, (_P, _B)),
    "LLVMPY_DisposePipelineTuningOptions": (None, (_P,)),
    "LLVMPY_CreatePassBuilder": (_P, (_P, _P)),
    "LLVMPY_DisposePassBuilder": (None, (_P,)),
    "LLVMPY_buildPerModuleDefaultPipeline": (_P, (_P, _I)),
    "LLVMPY_RunNewModulePassManager": (None, (_P, _P, _P)),
    "LLVMPY_DisposeNewModulePassManger": (None, (_P,)),
    "LLVMPY_TargetMachineEmitToMemory": (_P, (_P, _P, _I, _OUT)),
    "LLVMPY_GetBufferStart": (_P, (_P,)),
    "LLVMPY_GetBufferSize": (ctypes.c_size_t, (_P,)),
    "LLVMPY_DisposeMemoryBuffer": (None, (_P,)),
}


# per-version differences: name -> (restype, argtypes)
_VERSION_SIGNATURES: dict[str, dict[str, tuple[Any, tuple[Any, ...]]]] = {
    "0.47.": {"LLVMPY_buildPerModuleDefaultPipeline": (_P, (_P, _I, _I))},
}


class Compiled:
    """Object code of one module and the wall time of each phase (seconds)."""

    __slots__ = ("codegen_s", "object", "optimize_s", "parse_s")

    def __init__(self, obj: bytes, parse_s: float, optimize_s: float, codegen_s: float) -> None:
        self.object = obj
        self.parse_s = parse_s
        self.optimize_s = optimize_s
        self.codegen_s = codegen_s


class ParseError(RuntimeError):
    """IR that LLVM cannot parse (the message is LLVM's)."""


class VerifyError(RuntimeError):
    """IR that parses but does not verify (the message is LLVM's)."""


class Library:
    """The declared functions of libllvmlite, plus the process-wide LLVM state they need."""

    def __init__(self, lib: ctypes.CDLL, version: str) -> None:
        self._fn: dict[str, Any] = {}
        signatures = dict(_SIGNATURES)
        for prefix, changes in _VERSION_SIGNATURES.items():
            if version.startswith(prefix):
                signatures.update(changes)
        # the pipeline builder's arguments after (pass builder, speed level): a size level
        self._size_args = (0,) * (len(signatures["LLVMPY_buildPerModuleDefaultPipeline"][1]) - 2)
        for name, (restype, argtypes) in signatures.items():
            f = getattr(lib, name)  # AttributeError: not the ABI we know
            f.restype, f.argtypes = restype, list(argtypes)
            self._fn[name] = f
        self._tms: dict[int, int] = {}
        self.host: tuple[str, str, str, str] | None = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_fn"][name]
        except KeyError:
            raise AttributeError(name) from None

    def _out(self, fn: Any, *args: Any) -> tuple[Any, str]:
        out = ctypes.c_char_p()
        result = fn(*args, ctypes.byref(out))
        text = out.value.decode("utf-8", "replace") if out.value else ""
        if out.value is not None:
            self.LLVMPY_DisposeString(out)
        return result, text

    def initialize(self) -> tuple[str, str, str, str]:
        """Initialize the native target once; (triple, cpu, features, data layout), with the
        features flattened exactly like ``llvmlite.binding.get_host_cpu_features().flatten()``."""
        if self.host is None:
            with _llvmlite_lock():
                self.LLVMPY_InitializeNativeTarget()
                self.LLVMPY_InitializeNativeAsmPrinter()
                triple = self._out(self.LLVMPY_GetProcessTriple)[1]
                cpu = self._out(self.LLVMPY_GetHostCPUName)[1]
                ok, raw = self._out(self.LLVMPY_GetHostCPUFeatures)
                flags = {f[1:]: f[0] == "+" for f in raw.split(",") if f} if ok else {}
                features = ",".join(("+" if on else "-") + k for k, on in sorted(flags.items()))
                self.host = (triple, cpu, features, "")  # target_machine reads it
                try:
                    data = self.LLVMPY_CreateTargetMachineData(self.target_machine(3))
                    layout = self._out(self.LLVMPY_CopyStringRepOfTargetData, data)[1]
                    self.LLVMPY_DisposeTargetData(data)
                except BaseException:
                    self.host = None  # never publish a host without its data layout
                    raise
                self.host = (triple, cpu, features, layout)
        return self.host

    def llvm_version(self) -> str:
        """ "major.minor.patch", computed like ``llvmlite.binding.llvm_version_info``."""
        x, parts = self.LLVMPY_GetVersionInfo(), []
        while x:
            parts.append(x & 0xFF)
            x >>= 8
        return ".".join(map(str, reversed(parts)))

    def target_machine(self, level: int) -> int:
        """The emit TargetMachine of a codegen level (large code model, like llvmlite's
        ``jit=True``); owned here, never given to an engine, never freed."""
        tm = self._tms.get(level)
        if tm is None:
            assert self.host is not None
            triple, cpu, features, _ = self.host
            with _llvmlite_lock():
                target, err = self._out(self.LLVMPY_GetTargetFromTriple, triple.encode())
                if not target:
                    raise RuntimeError(f"no LLVM target for {triple}: {err}")
                tm = self.LLVMPY_CreateTargetMachine(
                    target, triple.encode(), cpu.encode(), features.encode(), level,
                    b"default", b"jitdefault", 0, 1, b"",
                )  # fmt: skip
            if not tm:
                raise RuntimeError("LLVM could not create a target machine")
            self._tms[level] = tm
        return tm

    def add_symbol(self, name: str, address: int) -> None:
        with _llvmlite_lock():
            self.LLVMPY_AddSymbol(name.encode(), address)

    def compile(self, ir_text: str, opt_level: int, codegen_level: int) -> Compiled:
        """Parse, verify, optimize (opt_level > 0: the default pipeline with the loop and
        SLP vectorizers) and emit ELF object code. Raises ParseError or VerifyError."""
        triple, _, _, layout = self.initialize()
        with _llvmlite_lock():
            t0 = time.perf_counter()
            mod, err = self._out(
                self.LLVMPY_ParseAssembly, self.LLVMPY_GetGlobalContext(), ir_text.encode()
            )
            if not mod:
                raise ParseError(err)
            try:
                self.LLVMPY_SetTarget(mod, triple.encode())
                self.LLVMPY_SetDataLayout(mod, layout.encode())
                bad, err = self._out(self.LLVMPY_VerifyModule, mod)
                if bad:
                    raise VerifyError(err)
                t1 = t2 = time.perf_counter()
                if opt_level > 0:
                    self._optimize(mod, opt_level)
                    t2 = time.perf_counter()
                obj = self._emit(mod, codegen_level)
            finally:
                self.LLVMPY_DisposeModule(mod)
        t3 = time.perf_counter()
        return Compiled(obj, t1 - t0, t2 - t1, t3 - t2)

    def _optimize(self, mod: int, opt_level: int) -> None:
        # A new PassBuilder and MPM per module, the MPM disposed by hand: see
        # tracegrad.llvm.machine.target._run_pipeline for why.
        pto = self.LLVMPY_CreatePipelineTuningOptions()
        self.LLVMPY_PTOSetLoopVectorization(pto, True)
        self.LLVMPY_PTOSetSLPVectorization(pto, True)
        pb = self.LLVMPY_CreatePassBuilder(self.target_machine(3), pto)
        mpm = self.LLVMPY_buildPerModuleDefaultPipeline(pb, opt_level, *self._size_args)
        try:
            self.LLVMPY_RunNewModulePassManager(mpm, mod, pb)
        finally:
            self.LLVMPY_DisposeNewModulePassManger(mpm)
            self.LLVMPY_DisposePassBuilder(pb)
            self.LLVMPY_DisposePipelineTuningOptions(pto)

    def _emit(self, mod: int, codegen_level: int) -> bytes:
        buf, err = self._out(
            self.LLVMPY_TargetMachineEmitToMemory, self.target_machine(codegen_level), mod, 1
        )
        if not buf:
            raise RuntimeError(f"LLVM code generation failed: {err}")
        try:
            return ctypes.string_at(self.LLVMPY_GetBufferStart(buf), self.LLVMPY_GetBufferSize(buf))
        finally:
            self.LLVMPY_DisposeMemoryBuffer(buf)


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


def _llvmlite_lock() -> Any:
    """llvmlite's own lock once llvmlite.binding is imported (numba or tests may call LLVM
    from other threads through it), else nothing."""
    ffi = sys.modules.get("llvmlite.binding.ffi")
    lib = getattr(ffi, "lib", None)
    return getattr(lib, "_lock", None) or _NO_LOCK


def llvmlite_rlock() -> Any:
    """The re-entrant lock inside llvmlite's lock (None before llvmlite.binding is
    imported), for :mod:`tracegrad.ir.forksafe`: taken without llvmlite's callbacks."""
    return getattr(_llvmlite_lock(), "_lock", None)


_library: Library | None = None
_tried = False


def library() -> Library | None:
    """The binding, or None when llvmlite.binding must be used instead (see the module
    docstring). Loads libllvmlite on first call; the caller holds LLVM_LOCK."""
    global _library, _tried
    if not _tried:
        _tried = True
        _library = _load()
    return _library


def _load() -> Library | None:
    if os.environ.get(ENV_CAPI, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        import llvmlite

        if not llvmlite.__version__.startswith(CHECKED_VERSIONS):
            return None
        folder = os.path.join(os.path.dirname(os.path.abspath(llvmlite.__file__)), "binding")
        names = [n for n in os.listdir(folder) if n.startswith("libllvmlite")]
        if len(names) != 1:
            return None
        return Library(ctypes.CDLL(os.path.join(folder, names[0])), llvmlite.__version__)
    except (ImportError, OSError, AttributeError):
        return None
