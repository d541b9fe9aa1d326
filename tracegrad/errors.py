"""The exception types, public face: ``tracegrad.errors.ShapeError`` and friends (also exported
as ``tracegrad.ShapeError``). They are defined in :mod:`tracegrad.ir.errors`, the lowest layer,
so that the IR raises the public types without importing anything above itself.

>>> import tracegrad
>>> issubclass(tracegrad.errors.ShapeError, ValueError)
True
"""

from tracegrad.ir.errors import *  # noqa: F403
from tracegrad.ir.errors import __all__  # noqa: F401
