"""tracegrad: a differentiable JIT compiler for numpy-style Python on the CPU.

>>> import numpy as np, tracegrad
>>> f = tracegrad.jit(lambda x: np.sum(np.exp(x)))
>>> float(f(np.zeros(4)))
4.0
"""

from tracegrad import numpy
from tracegrad.errors import (
    ConcretizationError,
    DTypeError,
    ShapeError,
    TracegradError,
    TracerBoolError,
    UnsupportedError,
)
from tracegrad.jit import Jitted, jit, make_ir

__version__ = "0.1.0"

__all__ = [
    "ConcretizationError", "DTypeError", "Jitted", "ShapeError", "TracegradError",
    "TracerBoolError", "UnsupportedError", "__version__", "jit", "make_ir", "numpy",
]  # fmt: skip
