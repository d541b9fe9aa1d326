"""LLVM IR text: the one SSA text builder every emitter extends (kernels in codegen, math
routines in mathlib, argument wrappers in callpath and plan). The lowest room: imports
nothing from the other rooms.

Public face (what other rooms import): ``builder`` (``Builder``, ``float_literal``)."""
