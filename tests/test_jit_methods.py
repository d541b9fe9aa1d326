"""@tracegrad.jit on methods (issue #14 item 4): the instance's arrays are traced inputs, its
other attributes static; a small model class trains like the eager one."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad


class MLP:
    def __init__(self, w1: np.ndarray, w2: np.ndarray, activation: str = "tanh") -> None:
        self.w1, self.w2, self.activation = w1, w2, activation
        self.sizes = [w1.shape[0], w2.shape[1]]  # an unhashable static attribute

    @tracegrad.jit
    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = x @ self.w1
        h = np.tanh(h) if self.activation == "tanh" else np.maximum(h, 0.0)
        return h @ self.w2

    @tracegrad.jit
    def loss(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.mean((self(x) - y) ** 2)


def _eager(model: MLP, x: np.ndarray) -> np.ndarray:
    return MLP.__call__.fun(model, x)


RNG = np.random.default_rng(0)
X, Y = RNG.standard_normal((8, 3)), RNG.standard_normal((8, 2))


def _model(activation: str = "tanh") -> MLP:
    return MLP(RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2)), activation)


def test_methods_match_eager_and_see_new_weights() -> None:
    model = _model()
    np.testing.assert_allclose(model(X), _eager(model, X), rtol=1e-13)
    model.w2 = model.w2 * 2.0  # an update: arrays are inputs, read at every call
    np.testing.assert_allclose(model(X), _eager(model, X), rtol=1e-13)
    want = np.mean((_eager(model, X) - Y) ** 2)
    np.testing.assert_allclose(model.loss(X, Y), want, rtol=1e-13)


def test_static_attributes_retrace_and_alike_instances_share_a_trace() -> None:
    a, b = _model("tanh"), _model("tanh")
    a(X)
    b(X)
    inner = type(a).__call__.__get__(a).jitted
    count = inner.trace_count
    relu = _model("relu")
    np.testing.assert_allclose(relu(X), _eager(relu, X), rtol=1e-13)
    assert inner.trace_count == count + 1  # another static configuration: one more trace
    b(X)
    assert inner.trace_count == count + 1


def test_gradient_through_a_jitted_method_and_a_training_step() -> None:
    model = _model()
    g = tracegrad.grad(lambda x: np.sum(model(x)))(X)
    eps = 1e-6
    bump = np.zeros_like(X)
    bump[0, 0] = eps
    fd = (np.sum(_eager(model, X + bump)) - np.sum(_eager(model, X - bump))) / (2 * eps)
    assert g[0, 0] == pytest.approx(fd, rel=1e-6)

    def loss_of(w2: np.ndarray) -> np.ndarray:
        return np.mean((np.tanh(X @ model.w1) @ w2 - Y) ** 2)

    for _ in range(3):  # the weights change every step; no retrace, results follow eager
        model.w2 = model.w2 - 0.1 * tracegrad.grad(loss_of)(model.w2)
        np.testing.assert_allclose(
            model.loss(X, Y), np.mean((_eager(model, X) - Y) ** 2), rtol=1e-12
        )


def test_the_jitted_function_itself_is_still_reachable() -> None:
    assert isinstance(MLP.__call__, tracegrad.Jitted)
    assert "jitted method __call__" in repr(_model().__call__)


def test_an_inplace_change_of_a_list_attribute_retraces() -> None:
    class Scaled:
        def __init__(self) -> None:
            self.factors = [2.0]

        @tracegrad.jit
        def __call__(self, x: np.ndarray) -> np.ndarray:
            return x * self.factors[0]

    model = Scaled()
    np.testing.assert_array_equal(model(np.ones(2)), [2.0, 2.0])
    model.factors[0] = 3.0  # eager code would see it: so must the jitted method
    np.testing.assert_array_equal(model(np.ones(2)), [3.0, 3.0])
