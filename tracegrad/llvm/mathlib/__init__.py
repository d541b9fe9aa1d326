"""The math library: vectorizable exp/log/trig/pow/atan routines written as LLVM IR (no libm
calls), each registered with its arity and ulp bound (``registry``); a routine file calls
``register_routine``/``register_table`` and emits its body with ``core.MathBuilder`` (also
spelled ``core.Builder``) and ``core``'s constants. The routine files (``core``,
``exp_log``, ``power``, ``trig``, ``atan``) are the room's parts.

Public face (what other rooms import): ``library`` (``module_math_ir``,
``math_function_name``, ``MAX_ULP``)."""
