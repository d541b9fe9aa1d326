"""Argument checks shared by ``tracegrad.numpy.linalg``'s functions: numpy's dtype rule for
linear algebra (integers and bools compute in float64; float32 stays float32) and its
``LinAlgError`` for arrays that are not (stacks of) square matrices."""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType
from tracegrad.ir.value import Value


def as_float(x: Any) -> Value:
    v = b.to_value(x)
    return v if v.dtype.is_float else b.cast(v, DType.FLOAT64)


def common_float(*xs: Any) -> list[Value]:
    dtype = b.result_dtype(*xs)
    dtype = dtype if dtype.is_float else DType.FLOAT64
    return [b.to_value(x, dtype) for x in xs]


def matrices(v: Value) -> Value:
    if v.ndim < 2:
        raise np.linalg.LinAlgError(
            f"{v.ndim}-dimensional array given. Array must be at least two-dimensional"
        )
    return v


def square(v: Value) -> Value:
    matrices(v)
    if v.shape[-1] != v.shape[-2]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
    return v
