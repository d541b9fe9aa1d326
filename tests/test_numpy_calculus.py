"""numpy.gradient, numpy.cross and numpy.linspace with traced endpoints: values bitwise
numpy's, gradients against finite differences (orders 1 and 2)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracegrad
from tracegrad.testing import check_grads

R = np.random.default_rng(0).normal


@pytest.mark.parametrize(
    "shape, kwargs",
    [((10,), {}), ((5, 5), {}), ((5, 5), {"axis": 1}), ((5, 5, 5), {"axis": (0, -1)}),
     ((4, 3), {"axis": None})],
)  # fmt: skip
def test_gradient(shape, kwargs) -> None:
    x = R(size=shape)
    f = lambda a: np.gradient(a, **kwargs)  # noqa: E731
    got, expected = tracegrad.jit(f)(x), f(x)
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_array_equal(g, e)
    else:
        np.testing.assert_array_equal(got, expected)
    check_grads(f, (x,), order=2, modes=("rev", "fwd"))


def test_gradient_too_short_is_numpys_error() -> None:
    with pytest.raises(ValueError, match="too small to calculate a numerical gradient"):
        tracegrad.jit(np.gradient)(np.ones(1))


@pytest.mark.parametrize(
    "shapes, kwargs",
    [(((3, 3), (3, 3)), {}), (((3, 3), (3, 3)), {"axisa": 0, "axisb": 1, "axisc": 0}),
     (((3, 3), (3, 3)), {"axis": 0}), (((4, 2), (4, 2)), {}), (((4, 2), (4, 3)), {}),
     (((3,), (2, 3)), {})],
)  # fmt: skip
def test_cross(shapes, kwargs) -> None:
    a, c = (R(size=s) for s in shapes)
    f = lambda u, w: np.cross(u, w, **kwargs)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # numpy 2 deprecates 2-d vectors
        expected = f(a, c)
        np.testing.assert_array_equal(tracegrad.jit(f)(a, c), expected)
        check_grads(f, (a, c), order=2, modes=("rev", "fwd"))


@pytest.mark.parametrize("num", [0, 1, 2, 5])
@pytest.mark.parametrize("ends", [(1.2, 3.4), (1.2, -3.4), (1.2, 1.2)])
def test_linspace_with_traced_endpoints(num: int, ends) -> None:
    f = lambda a, c: np.linspace(a, c, num)  # noqa: E731
    got, expected = tracegrad.jit(f)(*ends), f(*ends)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype
    if num:
        check_grads(f, ends, order=2, modes=("rev", "fwd"))
    # concrete endpoints keep numpy's own function
    np.testing.assert_array_equal(tracegrad.numpy.linspace(0.0, 1.0, 4), np.linspace(0, 1, 4))
