"""The small integer and float16 dtypes (#15) in the Theano front end and the text forms:
T.b*/T.w* constructors (Theano's int8/int16 families), TensorType('uint8'/'float16'),
tracegrad.function values against numpy, the short names in printed IR."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad
import tracegrad.tensor as T  # noqa: N812 (Theano's spelling)
from tracegrad.ir.dtypes import DType


@pytest.mark.parametrize(
    ("make", "dtype", "ndim"),
    [(T.bscalar, "int8", 0), (T.bvector, "int8", 1), (T.bmatrix, "int8", 2),
     (T.btensor3, "int8", 3), (T.wscalar, "int16", 0), (T.wvector, "int16", 1),
     (T.wmatrix, "int16", 2), (T.wtensor3, "int16", 3)],
)  # fmt: skip
def test_theano_constructors(make, dtype: str, ndim: int) -> None:  # type: ignore[no-untyped-def]
    x = make("x")
    assert x.dtype == np.dtype(dtype) and x.ndim == ndim
    assert len(T.bvectors("a", "b")) == 2 and T.wmatrices(3)[2].dtype == np.int16


def test_theano_function_with_small_ints_and_float16() -> None:
    x, y = T.bvector("x"), T.wscalar("y")
    u = T.TensorType("uint8", (False,))("u")
    h = T.TensorType("float16", (False,))("h")
    f = tracegrad.function([x, y, u, h], [x + y, u + 1, h * 2, (x * y).sum(), u // 0, h.sum()])
    xs, ys = np.array([100, -100], np.int8), np.int16(300)
    us, hs = np.array([255, 1], np.uint8), np.array([1.5, 65504], np.float16)
    with np.errstate(all="ignore"):
        want = [xs + ys, us + 1, hs * 2, (xs * ys).sum(), us // np.uint8(0), hs.sum()]
    for got, w in zip(f(xs, ys, us, hs), want, strict=True):
        assert got.dtype == w.dtype
        np.testing.assert_array_equal(got, w)
    with pytest.raises(OverflowError, match="out of its range"):
        f(np.array([1, 200]), 3, us, hs)  # 200 does not fit int8


def test_printed_ir_names_the_dtypes() -> None:
    def f(a, b, c):  # type: ignore[no-untyped-def]
        return a + b, c * 2

    text = str(
        tracegrad.make_ir(f)(np.ones(2, np.uint8), np.ones(2, np.int8), np.ones(2, np.float16))
    )
    for name in ("u8[2]", "i8[2]", "i16[2]", "f16[2]"):
        assert name in text, text
    assert [d.short for d in DType] == [
        "bool", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f16", "f32", "f64"
    ]  # fmt: skip
