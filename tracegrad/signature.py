"""How a call's arguments are keyed and converted, shared by ``tracegrad.jit`` and the
derivative API (``tracegrad.autodiff``): the abstract signature of one argument leaf, and
the conversion of a leaf to its parameter's dtype.

>>> import numpy as np
>>> leaf_key(np.zeros((2, 3))), leaf_key(1.5)
((dtype('float64'), (2, 3)), <class 'float'>)
>>> as_array(3, np.dtype(np.float64))
array(3.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir.errors import DTypeError
from tracegrad.tracing.tracer import Tracer

__all__ = ["as_array", "leaf_key", "refuse_subclass"]


def leaf_key(x: Any) -> Any:
    """The part of a specialization key one argument leaf contributes: dtype and shape of
    an array, the type of a Python scalar (weakly typed), a Tracer's type."""
    kind = type(x)
    if kind is np.ndarray:
        return (x.dtype, x.shape)
    if kind is Tracer:
        return ("tracer", x.value.type, x.weak)
    if kind in (float, int, bool):
        return kind
    if isinstance(x, np.generic):
        return (x.dtype, ())
    if isinstance(x, np.ndarray):
        refuse_subclass(x)
    return (kind, getattr(x, "dtype", None), getattr(x, "shape", None))


def refuse_subclass(x: np.ndarray) -> None:
    """ndarray subclasses carry meaning a plain array loses (a mask, matrix products): say
    so instead of converting silently."""
    raise DTypeError(
        f"{type(x).__module__}.{type(x).__name__} (an ndarray subclass) is not supported by "
        "tracegrad: its semantics (a mask, matrix products) would be lost; pass np.asarray(x) "
        "if a plain array is what you mean"
    )


def as_array(x: Any, dtype: np.dtype) -> np.ndarray:
    """``x`` as an array of ``dtype``; numpy's OverflowError for ints out of range, never
    a wrap."""
    if type(x) is int:
        try:
            return np.asarray(x, dtype)
        except OverflowError:
            raise OverflowError(
                f"Python integer {x} out of bounds for {dtype}: a Python int argument is an "
                f"{dtype} scalar here (under tracegrad.jit such an int is a static value)"
            ) from None
    array = np.asarray(x)
    if array.dtype != dtype:
        array = array.astype(dtype)
    return array
