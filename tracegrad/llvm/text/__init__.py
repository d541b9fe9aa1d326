"""LLVM IR text: the one SSA text builder every emitter uses (``builder``: ``Builder``,
``float_literal``). The lowest room: imports nothing from the other rooms. The kernel
emitters (codegen), the math routines (mathlib) and the argument wrappers (callpath, plan)
extend ``Builder`` with their own vocabulary."""
