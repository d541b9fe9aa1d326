"""The exception hierarchy (public as :mod:`tracegrad.errors`; defined here, in the lowest
layer, so the IR raises the public types). Every error tracegrad raises on purpose derives from
``TracegradError`` and, where numpy raises a builtin for the same mistake, from that builtin too
(so ``except ValueError`` code written for numpy keeps working).
"""

from __future__ import annotations

import numpy as np


class TracegradError(Exception):
    """Base class of every error tracegrad raises on purpose."""


class ShapeError(TracegradError, ValueError):
    """Shapes do not fit (broadcasting, reshape, matmul, axes)."""


class AxisError(ShapeError, np.exceptions.AxisError):
    """An axis out of range; numpy raises ``numpy.exceptions.AxisError`` for the same mistake."""

    def __init__(self, message: str) -> None:
        np.exceptions.AxisError.__init__(self, message)  # numpy's one-argument form: a message


class DTypeError(TracegradError, TypeError):
    """An unsupported dtype or an operation undefined for a dtype."""


class TracerBoolError(TracegradError, TypeError):
    """Python control flow (``if``, ``while``, ``bool()``, ``int()``) on a traced value."""


class ConcretizationError(TracegradError, TypeError):
    """A traced value was used where a concrete value is needed (e.g. stored in numpy)."""


class UnsupportedError(TracegradError, NotImplementedError):
    """A numpy function or feature that tracegrad does not support."""


class VerifyError(TracegradError, AssertionError):
    """The IR verifier found a malformed Function."""


class ParseError(TracegradError, ValueError):
    """The SSA text parser met malformed text."""


__all__ = [
    "AxisError", "ConcretizationError", "DTypeError", "ParseError", "ShapeError", "TracegradError",
    "TracerBoolError", "UnsupportedError", "VerifyError",
]  # fmt: skip

# Users meet these as tracegrad.errors.* (tracebacks, pickles, docs): that is their home.
for _name in __all__:
    globals()[_name].__module__ = "tracegrad.errors"
del _name
