"""The math library: vectorizable exp/log/trig/pow/atan routines written as LLVM IR (no libm
calls), each registered with its arity and ulp bound (``registry``). Public entry:
``library`` (``module_math_ir``, ``math_function_name``, ``MAX_ULP``); the routine files
(``core``, ``exp_log``, ``power``, ``trig``, ``atan``) are its parts."""
