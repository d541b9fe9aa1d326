"""Clear Python errors at trace time: never a crash, a wrong answer or a mutated input."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad
from tracegrad.errors import (
    ConcretizationError,
    DTypeError,
    ShapeError,
    TracerBoolError,
    UnsupportedError,
)


def test_shape_mismatch_has_numpy_message() -> None:
    with pytest.raises(
        ShapeError, match=r"could not be broadcast together with shapes \(2,\) \(3,\)"
    ):
        tracegrad.jit(lambda x, y: x + y)(np.ones(2), np.ones(3))
    with pytest.raises(ValueError):  # ShapeError is a ValueError, like numpy's
        tracegrad.jit(lambda x: x.reshape(4))(np.ones(3))
    with pytest.raises(ShapeError, match="matmul"):
        tracegrad.jit(lambda x, y: x @ y)(np.ones((2, 3)), np.ones((2, 3)))


def test_branching_on_traced_value_names_the_line() -> None:
    def f(x):
        if np.sum(x) > 0:  # the line the error must name
            return x
        return -x

    with pytest.raises(TracerBoolError) as info:
        tracegrad.jit(f)(np.ones(2))
    message = str(info.value)
    assert "test_errors.py" in message and "if np.sum(x) > 0" in message
    assert "where" in message


@pytest.mark.parametrize(
    "convert",
    [bool, int, float, lambda x: x.item(), lambda x: [0, 1][x]],
    ids=["bool", "int", "float", "item", "index"],
)
def test_concrete_conversions_raise(convert) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TracerBoolError):
        tracegrad.jit(lambda x: convert(x[0]))(np.ones(2, np.int64))


def test_while_loop_on_traced_value() -> None:
    def f(x):
        while x.sum() < 10:
            x = x * 2
        return x

    with pytest.raises(TracerBoolError, match="while"):
        tracegrad.jit(f)(np.ones(2))


def test_storing_into_numpy_array_suggests_zeros_like() -> None:
    def f(x):
        out = np.zeros(3)
        out[0] = x[0]
        return out

    with pytest.raises(ConcretizationError, match="zeros_like"):
        tracegrad.jit(f)(np.ones(2))


def test_slice_store_into_numpy_array() -> None:
    def f(x):
        out = np.zeros(3)
        out[:2] = x
        return out

    with pytest.raises(ConcretizationError, match="zeros_like"):
        tracegrad.jit(f)(np.ones(2))


def test_boolean_mask_suggests_where() -> None:
    with pytest.raises(ConcretizationError, match="where"):
        tracegrad.jit(lambda x: x[x > 0])(np.ones(3))


def test_concrete_boolean_mask_is_fine() -> None:
    mask = np.array([True, False, True])
    out = tracegrad.jit(lambda x: x[mask] * 2)(np.arange(3.0))
    np.testing.assert_array_equal(out, np.array([0.0, 4.0]))


def test_unsupported_function_is_named() -> None:
    with pytest.raises(UnsupportedError, match="fft"):
        tracegrad.jit(lambda x: np.fft.fft(x))(np.ones(4))
    with pytest.raises(UnsupportedError, match="unwrap"):  # sort is supported now (#15)
        tracegrad.jit(lambda x: np.unwrap(x))(np.ones(4))
    with pytest.raises(UnsupportedError, match="ldexp"):  # hypot is supported now (#15)
        tracegrad.jit(lambda x: np.ldexp(x, 2))(np.ones(4))


@pytest.mark.parametrize(
    "bad",
    [np.ones(2, np.complex128), np.array(["a"]), np.array([object()]), np.ones(2, np.longdouble)],
    ids=["complex", "string", "object", "longdouble"],
)
def test_unsupported_dtypes(bad: np.ndarray) -> None:
    with pytest.raises((DTypeError, TypeError), match="dtype|object|support"):
        tracegrad.jit(lambda x: x)(bad)


def test_ragged_lists() -> None:
    with pytest.raises(DTypeError, match="ragged"):
        tracegrad.numpy.sum([[1.0, 2.0], [3.0]])


def test_unsupported_argument_type() -> None:
    with pytest.raises(TypeError, match="static"):
        tracegrad.jit(lambda x, s: x)(np.ones(2), "text")


def test_static_index_out_of_range() -> None:
    with pytest.raises(IndexError):
        tracegrad.jit(lambda x: x[5])(np.ones(3))
    with pytest.raises(IndexError):
        tracegrad.jit(lambda x: x[np.array([0, 3])])(np.ones(3))
    with pytest.raises(IndexError, match="too many indices"):
        tracegrad.jit(lambda x: x[0, 0])(np.ones(3))


def test_empty_max_raises_like_numpy() -> None:
    with pytest.raises(ValueError):
        tracegrad.jit(np.max)(np.ones((0,)))
    with pytest.raises(ValueError):
        tracegrad.jit(np.argmax)(np.ones((0,)))


def test_leaked_tracer() -> None:
    saved = []

    @tracegrad.jit
    def f(x):
        saved.append(x)
        return x * 2

    f(np.ones(2))
    with pytest.raises(tracegrad.TracegradError, match="escaped"):
        tracegrad.jit(lambda y: y + saved[0])(np.ones(2))


def test_inplace_dtype_error_like_numpy() -> None:
    def f(x):
        x += 1.5
        return x

    with pytest.raises(TypeError, match="same_kind"):
        tracegrad.jit(f)(np.ones(2, np.int64))
