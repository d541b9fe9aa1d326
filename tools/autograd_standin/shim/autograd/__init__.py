"""A stand-in ``autograd`` whose derivatives are tracegrad's (see tools/autograd_standin).

``autograd.numpy`` is plain numpy and ``autograd.numpy.random`` is ``numpy.random``; there is no
``autograd.scipy`` (importing it fails, and those tests count as failures).
"""

import sys

import numpy

from tools.autograd_standin.mapping import (
    elementwise_grad,
    grad,
    hessian,
    jacobian,
    value_and_grad,
)

sys.modules[__name__ + ".numpy"] = numpy
sys.modules[__name__ + ".numpy.random"] = numpy.random

__all__ = ["elementwise_grad", "grad", "hessian", "jacobian", "numpy", "value_and_grad"]
