"""The LLVM backend (the only package that imports llvmlite). Its public face is
``tracegrad.llvm.backend.LLVMBackend``; the work is done in rooms, each a subpackage that
imports only the rooms before it (tests/test_layering.py): ``text`` (the LLVM IR text
builder every emitter extends), ``runtime`` (thread and output pools, BLAS), ``machine``
(LLVM, object code, loader, disk cache), ``mathlib`` (vectorizable math routines),
``codegen`` (kernel emitters), ``callpath`` (the native argument-checking wrapper) and
``plan`` (kernels of a Function, their module, running them, the native entry, tier-up)."""
