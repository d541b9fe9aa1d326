"""dtype promotion under jit equals numpy's (NEP 50) for every dtype pair and Python scalars."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tracegrad
from tracegrad.ir.dtypes import DType, promote, promote_weak

DTYPES = [np.bool_, np.int32, np.int64, np.float32, np.float64]
SCALARS = [True, 3, 2.5]


@pytest.mark.parametrize("a,b", list(itertools.product(DTYPES, DTYPES)))
def test_pairwise_promotion_matches_numpy(a: type, b: type) -> None:
    x, y = np.ones(3, a), np.ones(3, b)
    want = (x * y).dtype
    assert promote(DType.from_numpy(a), DType.from_numpy(b)).numpy == want
    assert tracegrad.jit(lambda p, q: p * q)(x, y).dtype == want
    assert tracegrad.jit(lambda p, q: np.maximum(p, q))(x, y).dtype == np.maximum(x, y).dtype


@pytest.mark.parametrize("a,s", list(itertools.product(DTYPES, SCALARS)))
def test_weak_python_scalars(a: type, s: object) -> None:
    x = np.ones(3, a)
    want = (x * s).dtype
    assert promote_weak(DType.from_numpy(a), s).numpy == want
    assert tracegrad.jit(lambda p: p * s)(x).dtype == want  # scalar closed over
    assert tracegrad.jit(lambda p, q: p * q)(x, s).dtype == want  # scalar as argument
    assert tracegrad.jit(lambda p, q: q * p)(x, s).dtype == (s * x).dtype


@pytest.mark.parametrize("a", DTYPES)
def test_numpy_scalars_are_strong(a: type) -> None:
    x = np.ones(3, np.float32)
    s = a(1)
    assert tracegrad.jit(lambda p, q: p * q)(x, s).dtype == (x * s).dtype


@pytest.mark.parametrize("a", [np.int32, np.int64, np.float32, np.float64])
def test_true_divide_and_unary_dtypes(a: type) -> None:
    x = np.arange(1, 4).astype(a)
    assert tracegrad.jit(lambda p: p / 2)(x).dtype == (x / 2).dtype
    assert tracegrad.jit(np.exp)(x).dtype == np.exp(x).dtype
    assert tracegrad.jit(np.sum)(x).dtype == np.sum(x).dtype
    assert tracegrad.jit(np.mean)(x).dtype == np.mean(x).dtype


def test_python_int_overflowing_int32_raises_like_numpy() -> None:
    x = np.ones(2, np.int32)
    with pytest.raises(OverflowError):
        x + 2**40
    with pytest.raises(OverflowError):
        tracegrad.jit(lambda p: p + 2**40)(x)
