"""tracegrad: a differentiable JIT compiler for numpy-style Python on the CPU.

>>> import numpy as np, tracegrad
>>> f = tracegrad.jit(lambda x: np.sum(np.exp(x)))
>>> float(f(np.zeros(4)))
4.0
"""

from tracegrad import numpy, tensor
from tracegrad.autodiff import grad, hessian, jacobian, jvp, stop_gradient, value_and_grad, vjp
from tracegrad.backend import register_backend
from tracegrad.control import cond, fori_loop, while_loop
from tracegrad.ir.errors import (
    ConcretizationError,
    DTypeError,
    ShapeError,
    TracegradError,
    TracerBoolError,
    UnsupportedError,
)
from tracegrad.jit import Jitted, jit, make_ir
from tracegrad.llvm.backend import LLVMBackend
from tracegrad.numpy import dispatch as _numpy_dispatch
from tracegrad.tensor import printing
from tracegrad.tensor.function import Mode, function
from tracegrad.tensor.inputs import In
from tracegrad.tensor.printing import pp
from tracegrad.tensor.scan import scan
from tracegrad.tensor.shared import shared
from tracegrad.tracing.tracer import InPlaceArgumentWarning, install_numpy

# Tracers forward numpy calls to tracegrad.numpy, which is built on them: wired up here, the
# one module that sees both, so that tracing never imports the namespace (no import cycle)
install_numpy(numpy, _numpy_dispatch.dispatch_ufunc, _numpy_dispatch.dispatch_function)
# the LLVM backend, imported now on the importing thread, not at the first compile: a fork()
# while another thread imports it would leave the child waiting on the import lock
register_backend("llvm", LLVMBackend)
# symbolic expressions built by numpy functions get the Theano front end's methods
_numpy_dispatch.install_symbolic_class(tensor.variables.Expression)

__version__ = "0.1.0"

__all__ = [
    "ConcretizationError", "DTypeError", "Jitted", "ShapeError", "TracegradError",
    "TracerBoolError", "UnsupportedError", "__version__", "grad", "hessian", "jacobian", "jit",
    "jvp", "make_ir", "numpy", "stop_gradient", "value_and_grad", "vjp",
    "function", "pp", "printing", "tensor", "In", "InPlaceArgumentWarning", "Mode", "shared",
    "cond", "fori_loop", "scan", "while_loop",
]  # fmt: skip
