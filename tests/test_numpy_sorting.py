"""Sorting and order statistics under jit and grad (issue #15 item 1, sorting list): values
bitwise equal to numpy (NaNs last, numpy's dtypes, every quantile method), a size-0 and a 0-d
case per function, gradients against finite differences, and the gradient of a median or a
quantile reaching exactly the selected elements."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest

import tracegrad
from tracegrad.errors import ConcretizationError, UnsupportedError
from tracegrad.testing import check_grads

RNG = np.random.default_rng(1)
PLAIN = RNG.standard_normal((5, 6))  # distinct values: no ties, so gradients are defined
WITH_NAN = PLAIN.copy()
WITH_NAN[1, 2] = np.nan
WITH_NAN[3, :] = np.nan  # an all-NaN row
WITH_NAN[4, 1:] = np.nan  # one value left
TIES = np.array([[2.0, 1.0, 2.0, -0.0, 0.0, 1.0], [3.0, 3.0, 3.0, 1.0, 1.0, 3.0]])
INTS = RNG.integers(-5, 5, (4, 7))
SMALL = PLAIN.astype(np.float32)

CASES: dict[str, Callable] = {
    "sort": lambda a: np.sort(a), "sort_axis0": lambda a: np.sort(a, axis=0),
    "sort_none": lambda a: np.sort(a, axis=None),
    "median": lambda a: np.median(a), "median_axis1": lambda a: np.median(a, axis=1),
    "median_axis0_keepdims": lambda a: np.median(a, axis=0, keepdims=True),
    "median_axes": lambda a: np.median(a, axis=(0, 1)),
    "quantile": lambda a: np.quantile(a, 0.3), "quantile_axis": lambda a: np.quantile(a, 0.7, 1),
    "quantile_q_array": lambda a: np.quantile(a, [0.0, 0.25, 0.5, 1.0], axis=0),
    "quantile_keepdims": lambda a: np.quantile(a, [0.1, 0.9], axis=1, keepdims=True),
    "percentile": lambda a: np.percentile(a, 37),
    "percentile_axis": lambda a: np.percentile(a, [5, 95], 0),
    "nanmedian": lambda a: np.nanmedian(a, axis=1), "nanmedian_all": lambda a: np.nanmedian(a),
    "nanmedian_keepdims": lambda a: np.nanmedian(a, axis=0, keepdims=True),
    "nanquantile": lambda a: np.nanquantile(a, 0.3, axis=1),
    "nanquantile_all": lambda a: np.nanquantile(a, [0.2, 1.0]),
    "nanpercentile": lambda a: np.nanpercentile(a, [10, 50, 99], axis=1),
}  # fmt: skip
METHODS = [
    "linear", "lower", "higher", "nearest", "midpoint", "inverted_cdf", "averaged_inverted_cdf",
    "closest_observation", "interpolated_inverted_cdf", "hazen", "weibull", "median_unbiased",
    "normal_unbiased",
]  # fmt: skip


def _numpy(f: Callable, *args: object) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(f(*args))


def _same_bits(f: Callable, x: np.ndarray) -> None:
    want = _numpy(f, x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = np.asarray(tracegrad.jit(f)(x))
    assert got.dtype == want.dtype and got.shape == want.shape, (got, want)
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize(
    "data", [PLAIN, WITH_NAN, TIES, INTS, SMALL], ids=["plain", "nan", "ties", "ints", "f32"]
)
def test_values_bitwise_equal_numpy(name: str, data: np.ndarray) -> None:
    _same_bits(CASES[name], data)


@pytest.mark.parametrize("name", list(CASES))
def test_size_zero_and_zero_d(name: str) -> None:
    f = CASES[name]
    for x in (np.zeros((0, 3)), np.zeros((3, 0))):
        try:
            want: object = _numpy(f, x)
        except (IndexError, ValueError) as error:  # numpy's error on an empty slice
            with pytest.raises(type(error)):
                tracegrad.jit(f)(x)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy's too: mean of empty slice
            got = tracegrad.jit(f)(x)
        np.testing.assert_array_equal(got, want)
    zero_d = {"sort", "sort_axis0", "median_axis1", "median_axes", "median_axis0_keepdims",
              "quantile_axis", "quantile_q_array", "quantile_keepdims", "percentile_axis",
              "nanmedian", "nanmedian_keepdims", "nanquantile", "nanpercentile"}  # fmt: skip
    if name not in zero_d:  # numpy takes a 0-d array only without an axis
        _same_bits(f, np.array(2.5))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("q", [0.0, 0.1, 0.37, 0.5, 0.9, 1.0, 1, [0.2, 0.7], np.float64(0.6)])
def test_every_quantile_method_bitwise(method: str, q: object) -> None:
    for data in (PLAIN, SMALL, INTS):
        _same_bits(lambda a: np.quantile(a, q, axis=1, method=method), data)  # noqa: B023


def test_argsort_is_the_stable_order() -> None:
    for data in (PLAIN, WITH_NAN, TIES, INTS):
        for axis in (0, 1, None):
            got = tracegrad.jit(lambda a: np.argsort(a, axis=axis))(data)  # noqa: B023
            want = np.argsort(data, axis=axis, kind="stable")
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got, want)
    assert tracegrad.jit(np.argsort)(np.zeros(0)).shape == (0,)


@pytest.mark.parametrize("kth", [0, 3, -1, [1, 4]])
def test_partition_has_numpy_property(kth: object) -> None:
    for data in (PLAIN, TIES):
        part = tracegrad.jit(lambda a: np.partition(a, kth, axis=1))(data)  # noqa: B023
        index = tracegrad.jit(lambda a: np.argpartition(a, kth, axis=1))(data)  # noqa: B023
        np.testing.assert_array_equal(np.take_along_axis(data, index, 1), part)
        for k in np.ravel(kth) % data.shape[1]:
            pivot = part[:, k : k + 1]
            np.testing.assert_array_equal(np.sort(part, 1)[:, k], pivot[:, 0])
            assert (part[:, :k] <= pivot).all() and (part[:, k:] >= pivot).all()
    with pytest.raises(ValueError, match="out of bounds"):
        tracegrad.jit(lambda a: np.partition(a, 6, axis=1))(PLAIN)


GRAD_CASES = [n for n in CASES if not n.startswith("nan")]


@pytest.mark.parametrize("name", GRAD_CASES)
def test_gradients_match_finite_differences(name: str) -> None:
    check_grads(lambda a: np.sum(CASES[name](a) ** 2), (PLAIN,), order=2, modes=("rev",))


@pytest.mark.parametrize("name", [n for n in CASES if n.startswith("nan")])
def test_nan_gradients_match_finite_differences(name: str) -> None:
    x = WITH_NAN[[0, 1, 2, 4]]  # no all-NaN row: every output is finite
    finite = np.isfinite(x)

    def f(a: object) -> object:
        filled = np.where(finite, a, np.nan)  # keep the NaNs where they are
        return np.sum(CASES[name](filled) ** 2)

    check_grads(f, (np.where(finite, x, 0.0),), order=1, modes=("rev",))
    g = tracegrad.grad(f)(np.where(finite, x, 0.0))
    assert (g[~finite] == 0).all()


def test_median_gradient_goes_to_the_middle_elements() -> None:
    x = np.array([3.0, 1.0, 4.0, 1.5, 9.0])
    np.testing.assert_array_equal(tracegrad.grad(np.median)(x), [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(tracegrad.grad(np.median)(x[:4]), [0.5, 0, 0, 0.5])
    g = tracegrad.grad(lambda a: np.quantile(a, 0.3))(x)  # index 1.2: 0.8 * 1.5 + 0.2 * 3
    np.testing.assert_allclose(g, [0.2, 0, 0, 0.8, 0], rtol=1e-15)
    rows = tracegrad.jit(tracegrad.grad(lambda a: np.sum(np.median(a, axis=1))))(PLAIN)
    assert (np.count_nonzero(rows, axis=1) == 2).all() and np.allclose(rows.sum(1), 1.0)
    y = tracegrad.grad(lambda a: np.sum(np.sort(a) * np.arange(5.0)))(x)
    np.testing.assert_array_equal(y, np.argsort(np.argsort(x)))  # the rank of each element


def test_sort_gradient_of_ties_is_a_permutation() -> None:
    x = np.array([1.0, 1.0, 0.0])
    g = tracegrad.grad(lambda a: np.sum(np.sort(a) * np.array([1.0, 2.0, 3.0])))(x)
    np.testing.assert_array_equal(g, [2.0, 3.0, 1.0])  # stable: the first 1.0 sorts first


def test_clear_errors() -> None:
    with pytest.raises(ValueError, match="not a valid method"):
        tracegrad.jit(lambda a: np.quantile(a, 0.5, method="bogus"))(PLAIN)
    with pytest.raises(ValueError, match="range"):
        tracegrad.jit(lambda a: np.percentile(a, 101))(PLAIN)
    with pytest.raises(UnsupportedError, match="only 'linear'"):
        tracegrad.jit(lambda a: np.nanquantile(a, 0.5, method="lower"))(PLAIN)
    with pytest.raises(ConcretizationError, match="q must be static"):
        tracegrad.jit(lambda a, q: np.quantile(a, q))(PLAIN, 0.5)
    with pytest.raises(UnsupportedError, match="order="):
        tracegrad.jit(lambda a: np.sort(a, order="x"))(PLAIN)


def test_eager_calls_on_arrays() -> None:
    import tracegrad.numpy as tnp

    np.testing.assert_array_equal(tnp.sort(WITH_NAN, axis=0), np.sort(WITH_NAN, axis=0))
    assert tnp.median([1, 2, 3, 4]) == 2.5


def test_symbolic_shapes_of_the_theano_front_end() -> None:
    import tracegrad.tensor as T  # noqa: N812 (Theano's spelling)

    x = T.dvector("x")
    jacobian = tracegrad.function([x], T.jacobian(np.sort(x) ** 2, x))
    np.testing.assert_array_equal(
        jacobian(np.array([3.0, 1.0, 2.0])), [[0, 2, 0], [0, 0, 4], [6, 0, 0]]
    )
    with pytest.raises(UnsupportedError, match="median of symbolic shape"):
        np.median(x)
