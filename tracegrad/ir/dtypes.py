"""Element types and numpy's NEP 50 promotion.

tracegrad supports bool, the signed and unsigned integers of 8 to 64 bits, float16, float32
and float64. Promotion follows numpy 2 (NEP 50): arrays and numpy scalars are "strong", Python
scalars are "weak" and take the dtype of the strong operand when the kinds allow it
(``float32_array * 2.5`` stays float32, ``uint8_array + 1`` stays uint8, ``int32_array + 1.5``
becomes float64); a Python int out of the strong integer dtype's range is numpy's
OverflowError.

>>> from tracegrad.ir.dtypes import DType, promote
>>> promote(DType.INT32, DType.FLOAT32).name
'FLOAT64'
>>> promote(DType.UINT8, DType.INT8).name, promote(DType.UINT64, DType.INT64).name
('INT16', 'FLOAT64')
"""

from __future__ import annotations

import enum

import numpy as np

from tracegrad.ir.errors import DTypeError


class DType(enum.Enum):
    """A tensor element type; the value is the numpy dtype name."""

    BOOL = "bool"
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    UINT8 = "uint8"
    UINT16 = "uint16"
    UINT32 = "uint32"
    UINT64 = "uint64"
    FLOAT16 = "float16"
    FLOAT32 = "float32"
    FLOAT64 = "float64"

    # members are singletons: identity hashing is valid and much cheaper than Enum's
    __hash__ = object.__hash__

    @property
    def numpy(self) -> np.dtype:
        return np.dtype(self.value)

    @property
    def is_float(self) -> bool:
        return self.value[0] == "f"

    @property
    def is_int(self) -> bool:
        """Signed or unsigned integer (not bool)."""
        return "int" in self.value

    @property
    def is_unsigned(self) -> bool:
        return self.value[0] == "u"

    @property
    def bits(self) -> int:
        """Width in bits (bool: 8, its storage)."""
        return 8 * self.numpy.itemsize

    @property
    def is_bool(self) -> bool:
        return self is DType.BOOL

    @property
    def short(self) -> str:
        """Short name used by the SSA printer: f64, f32, f16, i64 ... i8, u64 ... u8, bool."""
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


_SHORT = {d: "bool" if d is DType.BOOL else d.value[0] + d.value.lstrip("aflotuin") for d in DType}
_FROM_SHORT = {v: k for k, v in _SHORT.items()}


def promote(a: DType, b: DType) -> DType:
    """numpy's promotion of two strong dtypes (the lattice of np.result_type)."""
    return _PROMOTION[a, b]


_PROMOTION = {(a, b): DType(np.result_type(a.numpy, b.numpy).name) for a in DType for b in DType}


def promote_weak(strong: DType, scalar: object) -> DType:
    """NEP 50: the dtype of ``array(strong) op python_scalar``.

    A Python bool never changes the array's dtype, a Python int keeps any numeric dtype
    (bool arrays become int64; a value out of an integer dtype's range is an OverflowError
    when the constant is made, as numpy raises), a Python float keeps float dtypes (float16
    included) and turns integers and bools into float64.
    """
    if isinstance(scalar, bool):
        return strong
    if isinstance(scalar, int):
        return DType.INT64 if strong.is_bool else strong
    if isinstance(scalar, float):
        return strong if strong.is_float else DType.FLOAT64
    raise DTypeError(f"unsupported scalar {scalar!r} of type {type(scalar).__name__}")


def float_loop(dtype: DType) -> DType:
    """The float dtype numpy's float-only ufuncs (exp, sqrt, arctan2...) compute a dtype in:
    itself for floats, else the smallest float holding every value (bool, int8, uint8 ->
    float16; int16, uint16 -> float32; wider -> float64)."""
    return dtype if dtype.is_float else promote(dtype, DType.FLOAT16)


def int_range(dtype: DType) -> tuple[int, int]:
    """The smallest and largest value of an integer dtype."""
    info = np.iinfo(dtype.numpy)
    return int(info.min), int(info.max)


def sum_dtype(dtype: DType) -> DType:
    """numpy's accumulator dtype of sum/prod/cumsum: bools and signed ints -> int64,
    unsigned ints -> uint64, floats unchanged."""
    if dtype.is_float:
        return dtype
    return DType.UINT64 if dtype.is_unsigned else DType.INT64


def python_scalar_dtype(scalar: object) -> DType:
    """The default dtype of a Python scalar standing alone (numpy's defaults)."""
    if isinstance(scalar, bool):
        return DType.BOOL
    if isinstance(scalar, int):
        return DType.INT64
    if isinstance(scalar, float):
        return DType.FLOAT64
    raise DTypeError(f"unsupported scalar {scalar!r} of type {type(scalar).__name__}")
