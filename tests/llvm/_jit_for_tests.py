"""Minimal llvmlite JIT for tests (the project's engine module will replace it).

Follows docs/llvmlite.md, section 7 ('Crash hazards'): a new TargetMachine per engine
(the engine owns it), a new PassBuilder and ModulePassManager per module with the MPM disposed by
hand, and the engine kept alive by the returned object for as long as its functions are used.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass, field

import llvmlite.binding as llvm


@functools.cache
def _init() -> tuple[str, str, str]:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    return (
        llvm.get_process_triple(),
        llvm.get_host_cpu_name(),
        llvm.get_host_cpu_features().flatten(),
    )


def target_machine(opt: int = 3) -> llvm.TargetMachine:
    triple, cpu, features = _init()
    target = llvm.Target.from_triple(triple)
    return target.create_target_machine(cpu=cpu, features=features, opt=opt, jit=True)


def optimize(mod: llvm.ModuleRef, tm: llvm.TargetMachine, level: int = 3) -> None:
    pto = llvm.create_pipeline_tuning_options(speed_level=level)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)  # new PassBuilder per module (instrumentation leak)
    mpm = pb.getModulePassManager()
    mpm.run(mod, pb)
    llvm.ffi.lib.LLVMPY_DisposeNewModulePassManger(mpm)  # the MPM is otherwise never freed
    mpm.detach()


@dataclass
class Compiled:
    """Keeps the engine (which owns module and target machine) alive with the functions."""

    engine: llvm.ExecutionEngine
    asm: str
    _funcs: dict[str, object] = field(default_factory=dict)

    def function(self, name: str, *argtypes: type) -> ctypes._CFuncPtr:
        addr = self.engine.get_function_address(name)
        if not addr:
            raise KeyError(name)
        fn = ctypes.CFUNCTYPE(None, *argtypes)(addr)
        self._funcs[name] = fn
        return fn


def compile_ir(ir: str, *, level: int = 3, want_asm: bool = False) -> Compiled:
    _init()
    tm = target_machine(level)
    mod = llvm.parse_assembly(ir)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    optimize(mod, tm, level)
    asm = tm.emit_assembly(mod) if want_asm else ""
    engine = llvm.create_mcjit_compiler(mod, tm)  # takes ownership of mod and tm
    engine.finalize_object()
    return Compiled(engine, asm)
