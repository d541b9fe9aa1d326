"""Element types and numpy's NEP 50 promotion.

tracegrad supports five dtypes. Promotion follows numpy 2 (NEP 50): arrays and numpy scalars
are "strong", Python scalars are "weak" and take the dtype of the strong operand when the kinds
allow it (``float32_array * 2.5`` stays float32, ``int32_array + 1.5`` becomes float64).

>>> from tracegrad.ir.dtypes import DType, promote
>>> promote(DType.INT32, DType.FLOAT32).name
'FLOAT64'
"""

from __future__ import annotations

import enum

import numpy as np

from tracegrad.ir.errors import DTypeError


class DType(enum.Enum):
    """A tensor element type; the value is the numpy dtype name."""

    BOOL = "bool"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"

    # members are singletons: identity hashing is valid and much cheaper than Enum's
    __hash__ = object.__hash__

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(self.value)

    @property
    def is_float(self) -> bool:
        return self in (DType.FLOAT32, DType.FLOAT64)

    @property
    def is_int(self) -> bool:
        return self in (DType.INT32, DType.INT64)

    @property
    def is_bool(self) -> bool:
        return self is DType.BOOL

    @property
    def short(self) -> str:
        """Short name used by the SSA printer: f64, f32, i64, i32, bool."""
        return _SHORT[self]

    @staticmethod
    def from_short(text: str) -> DType:
        return _FROM_SHORT[text]

    @staticmethod
    def from_numpy(dtype: object) -> DType:
        """Map a numpy dtype (any byte order) to a DType, or raise a clear DTypeError (a
        TypeError)."""
        np_dtype = np.dtype(dtype)  # type: ignore[call-overload]
        try:
            return DType(np_dtype.newbyteorder("=").name)
        except ValueError:
            supported = ", ".join(d.value for d in DType)
            raise DTypeError(
                f"tracegrad does not support dtype {np_dtype} (supported: {supported})"
            ) from None


_SHORT = {
    DType.BOOL: "bool",
    DType.INT32: "i32",
    DType.INT64: "i64",
    DType.FLOAT32: "f32",
    DType.FLOAT64: "f64",
}
_FROM_SHORT = {v: k for k, v in _SHORT.items()}


def promote(a: DType, b: DType) -> DType:
    """numpy's promotion of two strong dtypes (the lattice of np.result_type)."""
    return _PROMOTION[a, b]


_PROMOTION = {(a, b): DType(np.result_type(a.numpy, b.numpy).name) for a in DType for b in DType}


def promote_weak(strong: DType, scalar: object) -> DType:
    """NEP 50: the dtype of ``array(strong) op python_scalar``.

    A Python bool never changes the array's dtype, a Python int keeps any numeric dtype
    (bool arrays become int64), a Python float keeps float dtypes and turns integers and
    bools into float64.
    """
    if isinstance(scalar, bool):
        return strong
    if isinstance(scalar, int):
        return DType.INT64 if strong.is_bool else strong
    if isinstance(scalar, float):
        return strong if strong.is_float else DType.FLOAT64
    raise DTypeError(f"unsupported scalar {scalar!r} of type {type(scalar).__name__}")


def python_scalar_dtype(scalar: object) -> DType:
    """The default dtype of a Python scalar standing alone (numpy's defaults)."""
    if isinstance(scalar, bool):
        return DType.BOOL
    if isinstance(scalar, int):
        return DType.INT64
    if isinstance(scalar, float):
        return DType.FLOAT64
    raise DTypeError(f"unsupported scalar {scalar!r} of type {type(scalar).__name__}")
