"""check_grads itself: it passes correct derivatives and catches wrong ones with a clear
message, at order 1 and 2, in both modes, on pytrees and float32."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.testing import check_grads


@pytest.fixture(autouse=True)
def interpret_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")


def test_passes_on_correct_derivatives() -> None:
    check_grads(lambda x, y: np.sum(np.exp(x) * y), (np.array([0.1, 0.2]), 1.5), order=2)
    check_grads(lambda x: x @ x.T, (np.arange(6.0).reshape(2, 3) / 4,), order=2, modes=("rev",))


def test_catches_a_wrong_first_derivative() -> None:
    wrong = lambda x: np.sum(x * tg.stop_gradient(x))  # noqa: E731  (analytic x, true 2x)
    with pytest.raises(AssertionError, match="order 1, mode rev.*central differences give"):
        check_grads(wrong, (np.array([1.0, 2.0]),), order=1, modes=("rev",))
    with pytest.raises(AssertionError, match="order 1, mode fwd"):
        check_grads(wrong, (np.array([1.0, 2.0]),), order=1, modes=("fwd",))


def test_catches_a_wrong_second_derivative() -> None:
    def half_square(x: np.ndarray) -> np.ndarray:
        s = tg.stop_gradient(x)  # value 0.5 x^2 and first derivative x, but second 0
        return x * s - 0.5 * s * s

    check_grads(half_square, (np.array([0.7]),), order=1)
    with pytest.raises(AssertionError, match="order 2"):
        check_grads(half_square, (np.array([0.7]),), order=2)


def test_pytrees_float32_and_custom_tolerances() -> None:
    params = {"a": np.array([0.3, -0.2], dtype=np.float32), "b": (np.float32(0.5),)}
    check_grads(lambda p: np.tanh(p["a"] * p["b"][0]), (params,), order=2)
    check_grads(lambda x: np.sin(x), (np.array([0.3]),), order=1, rtol=1e-8, atol=1e-8, eps=1e-6)


def test_integer_arguments_are_held_fixed() -> None:
    check_grads(lambda x, n: x**n, (np.array([0.5, 1.5]), np.array([2, 3])), order=2)


def test_bad_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        check_grads(np.sin, (0.3,), modes=("sideways",))
