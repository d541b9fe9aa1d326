"""cumprod, ufunc.accumulate, ufunc.reduce and ufunc.at under jit and grad (issue #15 item 1,
reductions and ufunc methods): values against numpy (bitwise but for sums), a size-0 and a
0-d case, and gradients against finite differences, including ``cumprod``'s at zeros (where a
gradient divided by ``x`` would be NaN)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tracegrad
from tracegrad.errors import ConcretizationError
from tracegrad.testing import check_grads

RNG = np.random.default_rng(2)
PLAIN = RNG.uniform(0.5, 1.5, (4, 9)) * RNG.choice([-1.0, 1.0], (4, 9))
ZEROS = PLAIN.copy()
ZEROS[0, 2] = ZEROS[0, 5] = ZEROS[2, 0] = 0.0  # two zeros in a row, one at the start
SIGNED = np.array([[0.0, -0.0, np.nan, 1.0, -3.0], [-0.0, 0.0, 2.0, 2.0, -np.inf]])
INTS = RNG.integers(-9, 9, (3, 40))  # products wrap around int64, as numpy's

CASES: dict[str, Callable] = {
    "cumprod": lambda a: np.cumprod(a), "cumprod_axis0": lambda a: np.cumprod(a, axis=0),
    "cumprod_axis1": lambda a: np.cumprod(a, axis=1),
    "multiply_accumulate": lambda a: np.multiply.accumulate(a, axis=1),
    "maximum_accumulate": lambda a: np.maximum.accumulate(a),
    "maximum_accumulate_axis1": lambda a: np.maximum.accumulate(a, axis=1),
    "minimum_accumulate": lambda a: np.minimum.accumulate(a, axis=1),
    "add_reduce": lambda a: np.add.reduce(a), "add_reduce_axis1": lambda a: np.add.reduce(a, 1),
}  # fmt: skip
EXACT = {n for n in CASES if "reduce" not in n}  # numpy's cumprod loop, exact extremes: bitwise


def _compare(name: str, x: np.ndarray) -> None:
    f = CASES[name]
    with np.errstate(invalid="ignore"):  # inf * 0 in a running product
        want = np.asarray(f(x))
    got = np.asarray(tracegrad.jit(f)(x))
    assert got.dtype == want.dtype and got.shape == want.shape
    if name in EXACT or x.dtype.kind != "f":
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))
    else:
        np.testing.assert_allclose(got, want, rtol=4e-16 * max(x.size, 1), equal_nan=True)


@pytest.mark.parametrize("name", list(CASES))
def test_values_equal_numpy(name: str) -> None:
    for x in (PLAIN, ZEROS, SIGNED, INTS, INTS.astype(np.int32), np.zeros((0, 3))):
        _compare(name, x)
    if "axis" not in name and "accumulate" not in name:
        _compare(name, np.array(-2.5))  # 0-d


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("x", [PLAIN, ZEROS], ids=["plain", "zeros"])
def test_gradients_match_finite_differences(name: str, x: np.ndarray) -> None:
    check_grads(lambda a: np.sum(CASES[name](a) ** 2), (x,), order=2, modes=("rev",))


def test_cumprod_gradient_at_zeros_is_the_product_of_the_others() -> None:
    x = np.array([2.0, 0.0, 3.0, 0.0, 5.0])
    g = tracegrad.grad(lambda a: np.cumprod(a)[2])(x)
    np.testing.assert_array_equal(g, [0.0, 6.0, 0.0, 0.0, 0.0])  # d(x0 x1 x2)/dx1 = x0 x2
    g = tracegrad.grad(lambda a: np.sum(np.cumprod(a)))(np.array([0.0, 2.0, 3.0]))
    np.testing.assert_array_equal(g, [1.0 + 2.0 + 6.0, 0.0, 0.0])


def test_cumulative_prod_and_dtypes() -> None:
    x = np.array([[1, 2], [3, 4]], dtype=np.int32)
    assert tracegrad.jit(np.cumprod)(x).dtype == np.cumprod(x).dtype  # int64, as numpy
    got = tracegrad.jit(lambda a: np.multiply.accumulate(a, axis=0))(x)
    assert got.dtype == np.int64  # numpy's multiply accumulates small ints in int64
    got = tracegrad.jit(lambda a: np.maximum.accumulate(a, axis=0))(x)
    assert got.dtype == np.int32  # maximum keeps the dtype
    got = tracegrad.jit(lambda a: np.cumulative_prod(a, axis=1, include_initial=True))(x)
    np.testing.assert_array_equal(got, np.cumulative_prod(x, axis=1, include_initial=True))
    got = tracegrad.jit(lambda a: np.cumprod(a, dtype=np.float32))(x)
    assert got.dtype == np.float32
    y = np.array([-1.0, 2.0, -3.0])
    got = tracegrad.jit(lambda a: np.logical_or.accumulate(a > 0))(y)
    np.testing.assert_array_equal(got, [False, True, True])


def _at(a: np.ndarray) -> np.ndarray:
    a = a * 1.0  # a new array: numpy's in-place updates must not touch the caller's
    np.multiply.at(a, [0, 2, 0], np.array([[2.0], [3.0], [-4.0]]))
    np.maximum.at(a, (1, [1, 3, 1]), np.array([5.0, -7.0, 0.5]))
    np.minimum.at(a, (slice(None), 0), 0.25)
    return a


def test_ufunc_at_values_and_gradients() -> None:
    x = PLAIN[:3, :4].copy()
    want = _at(x.copy())
    np.testing.assert_array_equal(tracegrad.jit(_at)(x), want)
    check_grads(lambda a: np.sum(_at(a) ** 2), (x,), order=2, modes=("rev",))
    g = tracegrad.grad(lambda a: np.sum(_at(a)))(np.ones((3, 4)))
    assert g[0, 1] == -8.0  # multiplied by 2 and by -4: row 0 listed twice, both apply
    with pytest.raises(ConcretizationError, match="static indices"):
        tracegrad.jit(lambda a, i: np.multiply.at(a, i, 2.0))(x, np.array([0]))
