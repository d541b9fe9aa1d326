"""#14 item 7: an in-place update of an argument (``x += 1``) changes the caller's array in
numpy but cannot under jit/grad: tracegrad warns once per line and keeps the traced result
equal to numpy's return value."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracegrad


def f(x: np.ndarray) -> np.ndarray:
    x += 1.0  # the argument itself
    x[0] = 5.0  # x is a new value by now: no second warning
    y = x * 2
    y += 1  # a local value: no warning
    return y


def test_an_inplace_update_of_an_argument_warns_once_and_returns_numpys_value() -> None:
    a = np.zeros(3)
    with pytest.warns(tracegrad.InPlaceArgumentWarning, match="caller's array") as record:
        got = tracegrad.jit(f)(a)
    assert len(record) == 1 and "test_inplace_arguments.py" in str(record[0].message)
    np.testing.assert_array_equal(got, f(np.zeros(3)))
    np.testing.assert_array_equal(a, np.zeros(3))  # the deviation the warning names


def test_local_updates_and_symbolic_variables_do_not_warn() -> None:
    def local(x: np.ndarray) -> np.ndarray:
        y = x * 1.0
        y += 1.0
        y[0] = 2.0
        return y

    with warnings.catch_warnings():
        warnings.simplefilter("error", tracegrad.InPlaceArgumentWarning)
        np.testing.assert_array_equal(tracegrad.jit(local)(np.zeros(2)), [2.0, 1.0])
        tracegrad.grad(lambda x: np.sum(local(x)))(np.zeros(2))


def test_add_at_into_an_argument_warns_like_any_inplace_update() -> None:
    with pytest.warns(tracegrad.InPlaceArgumentWarning):
        got = tracegrad.jit(lambda m: (np.add.at(m, [0, 0], 1.0), m)[1])(np.zeros(2))
    np.testing.assert_array_equal(got, [2.0, 0.0])
