"""The bad-input suite: each input a user might pass gets a correct result or a clear Python
exception before native code runs; never a crash, a silent wrong answer or a mutated input."""

from __future__ import annotations

import sys
import threading
import warnings

import numpy as np
import pytest

import tracegrad
from tracegrad.testing.oracles import assert_close
from tracegrad.testing.strategies import LAYOUTS, relayout

X = np.arange(12.0).reshape(3, 4) / 7 - 0.5


def _fn(x, y):
    return np.tanh(x) * 2.0 + x[:, ::-1] - np.sum(y, axis=0, keepdims=True)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_gives_the_numpy_result(layout: str) -> None:
    x = relayout(X, layout)
    y = relayout(np.ones((3, 4)), layout)
    before = (x.copy(), y.copy())
    want = _fn(np.asarray(x, np.float64), np.asarray(y, np.float64))
    got = tracegrad.jit(_fn)(x, y)
    assert_close(got, want, f"layout {layout}")
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(y, before[1])


@pytest.mark.parametrize(
    "arg", [np.array(2.5), np.float64(2.5), np.float32(2.5), 2.5, 3, True, np.int32(3)],
    ids=["0d", "f64", "f32", "pyfloat", "pyint", "pybool", "i32"],
)  # fmt: skip
def test_scalars(arg: object) -> None:
    f = lambda x: x * 2 + 1  # noqa: E731
    got = tracegrad.jit(f)(arg)
    want = f(np.asarray(arg)) if isinstance(arg, (bool, int, float)) else f(arg)
    assert np.asarray(got).shape == np.asarray(want).shape
    assert np.asarray(got).dtype == np.asarray(want).dtype
    assert np.asarray(got) == np.asarray(want)


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0), (2, 0, 4)])
def test_empty_arrays(shape: tuple) -> None:
    x = np.ones(shape)
    assert_close(tracegrad.jit(lambda a: a * 2.0 + 1.0)(x), x * 2.0 + 1.0, "elementwise")
    assert tracegrad.jit(np.sum)(x) == 0.0
    assert tracegrad.jit(np.prod)(x) == 1.0
    assert_close(tracegrad.jit(lambda a: np.sum(a, axis=0))(x), np.sum(x, axis=0), "sum axis 0")
    with pytest.warns(RuntimeWarning, match="empty"):
        assert np.isnan(tracegrad.jit(np.mean)(x))
    with pytest.raises(ValueError):
        tracegrad.jit(np.max)(x)
    with pytest.raises(ValueError):
        tracegrad.jit(np.argmax)(x)


def test_matmul_with_empty_inner_dim_is_zero() -> None:
    a, b = np.ones((2, 0)), np.ones((0, 3))
    np.testing.assert_array_equal(tracegrad.jit(lambda p, q: p @ q)(a, b), np.zeros((2, 3)))


def test_huge_shapes_raise_before_native_code() -> None:
    with pytest.raises(ValueError, match="too big"):
        tracegrad.jit(lambda x: np.broadcast_to(x, (2**40, 2**40)))(np.ones(1))


def test_integer_division_edge_cases() -> None:
    ints = np.array([7, -7, 0, np.iinfo(np.int64).min], np.int64)
    divisors = np.array([0, 0, 0, -1], np.int64)
    with np.errstate(all="ignore"):
        want = (ints // divisors, ints % divisors)
    got = tracegrad.jit(lambda a, b: (a // b, a % b))(ints, divisors)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    i32 = np.array([np.iinfo(np.int32).min, 5], np.int32)
    with np.errstate(all="ignore"):
        want32 = i32 // np.int32(-1)
    np.testing.assert_array_equal(tracegrad.jit(lambda a: a // np.int32(-1))(i32), want32)


SPECIALS = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 5e-324, -1e-310, 1.0, -2.5])


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: -x, np.abs, np.sign, lambda x: x * -1.0, lambda x: np.maximum(x, 0.0),
        lambda x: np.minimum(x, -0.0), lambda x: np.where(x > 0, x, -x), lambda x: x + 0.0,
        lambda x: x * x, lambda x: x / 3.0, np.floor, np.sqrt, np.exp, np.log, np.tanh,
        lambda x: np.max(x), lambda x: np.min(x), lambda x: np.sum(x),
        lambda x: x.astype(np.float32),
    ],
)  # fmt: skip
def test_special_values_propagate_like_numpy(fn) -> None:  # type: ignore[no-untyped-def]
    with np.errstate(all="ignore"):
        want = np.asarray(fn(SPECIALS))
    got = np.asarray(tracegrad.jit(fn)(SPECIALS))
    assert got.dtype == want.dtype
    assert (np.isnan(got) == np.isnan(want)).all()
    finite_or_inf = ~np.isnan(want)
    np.testing.assert_allclose(got[finite_or_inf], want[finite_or_inf], rtol=2e-16 * 4, atol=0)
    # the sign of zero survives
    zero = finite_or_inf & (want == 0)
    np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]))


def test_aliasing_same_array_twice() -> None:
    x = np.arange(4.0)
    got = tracegrad.jit(lambda a, b: a * b + a)(x, x)
    np.testing.assert_array_equal(got, x * x + x)
    np.testing.assert_array_equal(x, np.arange(4.0))


def test_output_that_is_an_input_is_a_copy() -> None:
    x = np.arange(4.0)
    out_a, out_b = tracegrad.jit(lambda a: (a, a.reshape(2, 2)))(x)
    assert not np.shares_memory(out_a, x) and not np.shares_memory(out_b, x)


def test_huge_graph_without_recursion_error() -> None:
    n = 100_000
    limit = sys.getrecursionlimit()

    def chain(x):
        for _ in range(n // 2):
            x = x * 1.0001 + 0.001
        return x

    function = tracegrad.make_ir(chain)(np.ones(3))
    assert function.count_ops() >= n
    assert sys.getrecursionlimit() == limit
    expected = np.ones(3)
    for _ in range(n // 2):
        expected = expected * 1.0001 + 0.001
    np.testing.assert_allclose(tracegrad.jit(chain)(np.ones(3)), expected, rtol=1e-12)


def test_eight_threads_compile_and_call_at_once() -> None:
    f = tracegrad.jit(lambda x: np.sum(np.exp(x) * 2.0, axis=0))
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            x = np.arange(float(i + 1) * 3).reshape(i + 1, 3) / 10
            for _ in range(3):
                results[i] = f(x)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    with warnings.catch_warnings():
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    for i in range(8):
        x = np.arange(float(i + 1) * 3).reshape(i + 1, 3) / 10
        np.testing.assert_allclose(results[i], np.sum(np.exp(x) * 2.0, axis=0), rtol=1e-12)
    assert f.trace_count == 8
