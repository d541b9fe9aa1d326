"""Automatic differentiation: the reverse-mode IR transform and the JAX-style API.

``backward`` (in ``reverse``) is the transform; ``api`` holds ``grad``, ``value_and_grad``,
``vjp``, ``jvp``, ``jacobian``, ``hessian`` and ``stop_gradient``.
"""

from tracegrad.autodiff.api import grad, hessian, jacobian, jvp, stop_gradient, value_and_grad, vjp
from tracegrad.autodiff.reverse import backward, backward_sparse

__all__ = [
    "backward", "backward_sparse", "grad", "hessian", "jacobian", "jvp", "stop_gradient",
    "value_and_grad", "vjp",
]  # fmt: skip
