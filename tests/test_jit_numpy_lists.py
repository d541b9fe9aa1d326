"""``jit(np.sum)([1.0, 2.0])``: a numpy function jitted directly and given lists computes what
numpy computes on ``np.asarray`` of them (issue #14 item 7); its int parameters (``axis``,
``ddof``) are specialized on like any Python int used as a value."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad
from tracegrad.errors import ConcretizationError

LISTS = [
    [1.0, 2.0],
    [1, 2, 5],
    [True, False, True],
    (0.5, -1.5),
    [[1.0, 2.0], [3.0, 4.0]],
    [np.float32(1.5), np.float32(2.0)],
]


CASES = [
    (fun, value)
    for fun in (np.sum, np.mean, np.max, np.prod, np.cumsum, np.negative, np.sqrt)
    for value in LISTS
    # numpy: negative of bools is a TypeError, sqrt of bools float16 (docs/design.md)
    if not (fun in (np.negative, np.sqrt) and isinstance(value[0], bool))
]


@pytest.mark.parametrize(("fun", "value"), CASES, ids=repr)
def test_numpy_function_of_a_list_matches_numpy(fun, value):
    with np.errstate(invalid="ignore"):  # sqrt(-1.5) is NaN in both
        got, expected = tracegrad.jit(fun)(value), fun(value)
    assert np.asarray(got).dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(got, expected, rtol=1e-6 if "float32" in repr(value) else 1e-15)


def test_two_lists_and_int_parameters():
    assert tracegrad.jit(np.add)([1.0, 2.0], [3.0, 4.0]).tolist() == [4.0, 6.0]
    assert float(tracegrad.jit(np.dot)([1.0, 2.0], [3.0, 4.0])) == 11.0
    x = np.arange(6.0).reshape(2, 3)
    f = tracegrad.jit(np.sum)
    for axis in (0, 1, -1):
        assert f(x, axis=axis).tolist() == np.sum(x, axis=axis).tolist()
        assert f(x, axis).tolist() == np.sum(x, axis).tolist()
    np.testing.assert_allclose(
        tracegrad.jit(np.var)([1.0, 2.0, 4.0], ddof=1), np.var([1.0, 2.0, 4.0], ddof=1)
    )


def test_grad_of_a_numpy_function_of_a_list():
    g = tracegrad.grad(np.sum)([1.0, 2.0])
    assert [float(v) for v in g] == [1.0, 1.0]
    g = tracegrad.grad(np.prod)([2.0, 3.0, 4.0])
    assert [float(v) for v in g] == [12.0, 8.0, 6.0]


def test_user_function_giving_numpy_a_list_of_traced_values():
    """np.sum of a list of traced values is traced (tracegrad/numpy/lists.py, issue #15)."""

    def total(xs):
        return np.sum(xs)

    assert tracegrad.jit(total)([1.0, 2.0]) == 3.0
    assert [float(v) for v in tracegrad.grad(total)([1.0, 2.0])] == [1.0, 1.0]


def test_ufunc_given_a_list_of_traced_values_names_the_fix():
    def total(xs):
        return np.exp(xs)  # numpy makes an array of the list: it cannot hold traced values

    with pytest.raises(ConcretizationError, match=r"tracegrad\.numpy\.asarray\(\[a, b\]\)"):
        tracegrad.jit(total)([1.0, 2.0])
