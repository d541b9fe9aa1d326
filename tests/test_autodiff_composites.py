"""Composite VJPs (tracegrad/autodiff/composites.py): the stable sigmoid, softplus and
log-sigmoid forms differentiate as a whole, to the same values as op by op."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import tracegrad
from tracegrad.autodiff import composites
from tracegrad.testing import check_grads

EXTREMES = np.array([-1e308, -800.0, -40.0, -1.0, -0.0, 0.0, 5e-324, 1.0, 40.0, 800.0, np.inf])


def logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


PROGRAMS: dict[str, Callable[[np.ndarray], object]] = {
    "sigmoid": lambda x: np.sum(logistic(x) * np.cos(x)),
    "softplus": lambda x: np.sum(np.log(1.0 + np.exp(x)) ** 2),
    "log_sigmoid": lambda x: np.sum(np.log(logistic(x)) * x),
}
EXACT: dict[str, Callable[[np.ndarray], np.ndarray]] = {  # d/dx of sum(f(x)), exact forms
    "sigmoid": lambda x: np.exp(-abs(x)) / (1 + np.exp(-abs(x))) ** 2,
    "softplus": lambda x: np.where(
        x >= 0, 1 / (1 + np.exp(-abs(x))), np.exp(-abs(x)) / (1 + np.exp(-abs(x)))
    ),
    "log_sigmoid": lambda x: np.where(
        x >= 0, np.exp(-abs(x)) / (1 + np.exp(-abs(x))), 1 / (1 + np.exp(-abs(x)))
    ),
}
SIMPLE = {
    "sigmoid": lambda x: np.sum(logistic(x)),
    "softplus": lambda x: np.sum(np.log(1.0 + np.exp(x))),
    "log_sigmoid": lambda x: np.sum(np.log(logistic(x))),
}


def _fresh(f: Callable) -> Callable:
    """A new function object: grad and jit cache traces per function."""
    return lambda x: f(x)


def _op_by_op(monkeypatch: pytest.MonkeyPatch, f: Callable, x: np.ndarray) -> np.ndarray:
    monkeypatch.setattr(composites, "COMPOSITES", ())
    return np.asarray(tracegrad.grad(_fresh(f))(x))


@pytest.mark.parametrize("name", sorted(SIMPLE))
def test_exact_at_extremes_and_finite_everywhere(name: str) -> None:
    got = np.asarray(tracegrad.jit(tracegrad.grad(SIMPLE[name]))(EXTREMES))
    with np.errstate(all="ignore"):
        want = EXACT[name](EXTREMES)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=4e-16, atol=0)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
@given(x=arrays(np.float64, st.integers(1, 6), elements=st.floats(-30, 30)))
def test_matches_the_op_by_op_gradient(name: str, x: np.ndarray) -> None:
    with pytest.MonkeyPatch.context() as mp:
        reference = _op_by_op(mp, PROGRAMS[name], x)
    got = np.asarray(tracegrad.grad(_fresh(PROGRAMS[name]))(x))
    np.testing.assert_allclose(got, reference, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_finite_differences(name: str) -> None:
    x = np.random.default_rng(0).normal(size=7) * 3
    check_grads(PROGRAMS[name], (x,), order=2)


@pytest.mark.parametrize("name", sorted(SIMPLE))
def test_composite_gradients_are_shorter(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.linspace(-3, 3, 8)
    whole = tracegrad.jit(tracegrad.grad(_fresh(SIMPLE[name]))).lower(x).optimized
    monkeypatch.setattr(composites, "COMPOSITES", ())
    op_by_op = tracegrad.jit(tracegrad.grad(_fresh(SIMPLE[name]))).lower(x).optimized
    assert whole.count(" div ") <= 1 < op_by_op.count(" div ") or (
        whole.count(" where ") < op_by_op.count(" where ")
    )
    assert whole.count(" = ") < op_by_op.count(" = ")
