"""Stabilization does not depend on spelling (issue #14 item 5).

Hypothesis writes each stability probe (log-sigmoid, softplus, log(1 - sigmoid), logsumexp,
log-softmax, binary cross-entropy) in many algebraically equal spellings: sums and negations
in any arrangement (Theano's tutorial writes ``1 / (1 + exp(-dot(x, w) - b))``), commuted
operands, ``exp(z) / (1 + exp(z))``, ``1 / (exp(-z) + 1)``, ``(1 + tanh(z / 2)) / 2``. At
extreme inputs every spelling must give the finite true value and gradient, at every opt
level. The reference is numpy's own stable formulas (``logaddexp``), in float64.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegrad
import tracegrad.numpy as tnp

Fn = Callable[..., object]


@pytest.fixture(autouse=True)
def _interpret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")  # about the optimizer, not LLVM


# z = a + b, the logit, written in any order; -z in any of the ways users negate a sum
LOGITS: list[Callable[[object, object], object]] = [
    lambda a, b: a + b,
    lambda a, b: b + a,
    lambda a, b: a - (-b),
]
NEG_LOGITS: list[Callable[[object, object], object]] = [
    lambda a, b: -(a + b),
    lambda a, b: -a - b,
    lambda a, b: -b - a,
    lambda a, b: (-a) + (-b),
    lambda a, b: 0.0 - (a + b),
    lambda a, b: -1.0 * (a + b),
    lambda a, b: (a + b) * -1.0,
    lambda a, b: -b + -a,
]


def _sigmoids(neg: Callable, pos: Callable) -> list[Callable[[object, object], object]]:
    """sigmoid(z) spelled every way; ``neg``/``pos`` write -z and z."""
    return [
        lambda a, b: 1 / (1 + np.exp(neg(a, b))),
        lambda a, b: 1.0 / (np.exp(neg(a, b)) + 1.0),
        lambda a, b: np.reciprocal(1 + np.exp(neg(a, b))),
        lambda a, b: (1 + np.exp(neg(a, b))) ** -1,
        lambda a, b: np.exp(pos(a, b)) / (1 + np.exp(pos(a, b))),
        lambda a, b: np.exp(pos(a, b)) / (np.exp(pos(a, b)) + 1),
        lambda a, b: (1 + np.tanh(pos(a, b) / 2)) / 2,
        lambda a, b: 0.5 * (1 + np.tanh(0.5 * pos(a, b))),
        lambda a, b: 0.5 + 0.5 * np.tanh(pos(a, b) / 2),
        lambda a, b: tnp.sigmoid(pos(a, b)),
    ]


@st.composite
def sigmoid_spelling(draw: st.DrawFn) -> Callable[[object, object], object]:
    neg = draw(st.sampled_from(NEG_LOGITS))
    pos = draw(st.sampled_from(LOGITS))
    return draw(st.sampled_from(_sigmoids(neg, pos)))


def log_sigmoid_ref(z: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -z)


def sigmoid_ref(z: np.ndarray) -> np.ndarray:
    return np.exp(log_sigmoid_ref(z))


EXTREME = st.sampled_from([-800.0, -40.0, -1.5, 0.0, 2.0, 40.0, 800.0])
LEVELS = st.sampled_from([0, 1, 2, 3])


def _check(f: Fn, a: np.ndarray, b: np.ndarray, want: np.ndarray, grads: tuple, level: int):
    got = tracegrad.jit(f, opt_level=level)(a, b)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)
    got_grads = tracegrad.jit(tracegrad.grad(lambda a, b: np.sum(f(a, b)), argnums=(0, 1)),
                              opt_level=level)(a, b)  # fmt: skip
    for g, w in zip(got_grads, grads, strict=True):
        assert np.all(np.isfinite(g)), g
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-300)


def _inputs(z: float) -> tuple[np.ndarray, np.ndarray]:
    # a carries the extreme value, b a small offset: z = a + b
    return np.array([z, -z, z / 2]), np.array([0.25, -0.125, 0.5])


@settings(max_examples=60, deadline=None)
@given(sigmoid_spelling(), EXTREME, LEVELS)
def test_log_sigmoid_every_spelling(sigmoid: Fn, z: float, level: int) -> None:
    a, b = _inputs(z)
    s_neg = sigmoid_ref(-(a + b))  # 1 - sigmoid(z), without cancellation
    want = log_sigmoid_ref(a + b)
    _check(lambda a, b: np.log(sigmoid(a, b)), a, b, want, (s_neg, s_neg), level)


@settings(max_examples=60, deadline=None)
@given(sigmoid_spelling(), EXTREME, LEVELS, st.booleans())
def test_log_one_minus_sigmoid_every_spelling(sig: Fn, z: float, level: int, log1p: bool) -> None:
    a, b = _inputs(z)
    s = sigmoid_ref(a + b)
    f = (lambda a, b: np.log1p(-sig(a, b))) if log1p else (lambda a, b: np.log(1 - sig(a, b)))
    _check(f, a, b, log_sigmoid_ref(-(a + b)), (-s, -s), level)


@settings(max_examples=60, deadline=None)
@given(sigmoid_spelling(), EXTREME, LEVELS, st.sampled_from([0.0, 1.0, 0.25]))
def test_binary_cross_entropy_every_spelling(sig: Fn, z: float, level: int, y: float) -> None:
    """Theano's tutorial: xent = -y * log(p_1) - (1 - y) * log(1 - p_1)."""
    a, b = _inputs(z)
    s = (1 - y) * sigmoid_ref(a + b) - y * sigmoid_ref(-(a + b))  # sigmoid(z) - y, exactly
    want = -(y * log_sigmoid_ref(a + b) + (1 - y) * log_sigmoid_ref(-(a + b)))

    def xent(a: object, b: object) -> object:
        p = sig(a, b)
        return -y * np.log(p) - (1 - y) * np.log(1 - p)

    _check(xent, a, b, want, (s, s), level)


SOFTPLUS: list[Callable[[object], object]] = [
    lambda z: np.log(1 + np.exp(z)),
    lambda z: np.log(np.exp(z) + 1),
    lambda z: np.log1p(np.exp(z)),
    lambda z: -np.log(1 / (1 + np.exp(z))),
    lambda z: -np.log(1 - 1 / (1 + np.exp(-z))),
]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SOFTPLUS), st.sampled_from(LOGITS), EXTREME, LEVELS)
def test_softplus_every_spelling(softplus: Fn, logit: Fn, z: float, level: int) -> None:
    a, b = _inputs(z)
    s = sigmoid_ref(a + b)
    _check(lambda a, b: softplus(logit(a, b)), a, b, np.logaddexp(0.0, a + b), (s, s), level)


LOGSUMEXP: list[Callable[[object], object]] = [
    lambda x: np.log(np.sum(np.exp(x))),
    lambda x: np.log(np.exp(x).sum()),
    lambda x: np.log(np.sum(np.exp(x), axis=0)),
    lambda x: tnp.logsumexp(x),
]
LOG_SOFTMAX: list[Callable[[object], object]] = [
    lambda x: np.log(np.exp(x) / np.sum(np.exp(x))),
    lambda x: np.log(np.exp(x) / np.sum(np.exp(x), keepdims=True)),
    lambda x: np.log(np.exp(x) / np.exp(x).sum()),
    lambda x: x - np.log(np.sum(np.exp(x))),
    lambda x: np.log(tnp.softmax(x)),
]
VECTORS = st.sampled_from([[0.0, 1000.0, 0.0], [-1000.0, -1000.5, -999.0], [5.0, -5.0, 0.5]])


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(LOGSUMEXP), st.sampled_from(LOGITS), VECTORS, LEVELS)
def test_logsumexp_every_spelling(lse: Fn, logit: Fn, values: list, level: int) -> None:
    a, b = np.array(values), np.array([0.25, -0.125, 0.5])
    z = a + b
    want = np.logaddexp.reduce(z)
    softmax = np.exp(z - want)
    _check(lambda a, b: lse(logit(a, b)), a, b, want, (softmax, softmax), level)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(LOG_SOFTMAX), st.sampled_from(LOGITS), VECTORS, LEVELS)
def test_log_softmax_every_spelling(log_softmax: Fn, logit: Fn, values: list, level: int) -> None:
    a, b = np.array(values), np.array([0.25, -0.125, 0.5])
    z = a + b
    want = z - np.logaddexp.reduce(z)
    grad = 1.0 - 3 * np.exp(want)  # d/dz sum(log_softmax(z)) = 1 - n * softmax(z)
    _check(lambda a, b: log_softmax(logit(a, b)), a, b, want, (grad, grad), level)


@pytest.mark.parametrize("spelling", ["theano", "parenthesized", "numpy_sigmoid"])
def test_theano_logistic_regression_cost_and_gradient(spelling: str) -> None:
    """Theano's "A Real Example: Logistic Regression" at saturated logits (|z| > 800): the
    symbolic T.grad differentiates the stabilized cost, so the gradient is finite and right."""
    import tracegrad.tensor as T  # noqa: N812  (Theano's spelling)
    from tracegrad import function

    rng = np.random.default_rng(0)
    data_x, data_y = rng.standard_normal((40, 30)), rng.integers(0, 2, 40).astype(float)
    w0 = 200 * rng.standard_normal(30)
    x, y, w, b = T.dmatrix("x"), T.dvector("y"), T.dvector("w"), T.dscalar("b")
    if spelling == "theano":
        p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    elif spelling == "parenthesized":
        p_1 = 1 / (1 + T.exp(-(T.dot(x, w) + b)))
    else:
        p_1 = T.exp(T.dot(x, w) + b) / (T.exp(T.dot(x, w) + b) + 1)
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w**2).sum()
    gw, gb = T.grad(cost, [w, b])
    got_cost, got_gw, got_gb = function([x, y, w, b], [cost, gw, gb])(data_x, data_y, w0, 0.5)

    z = data_x @ w0 + 0.5
    assert np.abs(z).max() > 800  # exp(800) overflows: the naive formula gives inf and NaN
    want_cost = np.mean(data_y * np.logaddexp(0, -z) + (1 - data_y) * np.logaddexp(0, z))
    residual = (1 - data_y) * sigmoid_ref(z) - data_y * sigmoid_ref(-z)  # p - y, exactly
    np.testing.assert_allclose(got_cost, want_cost + 0.01 * np.sum(w0**2), rtol=1e-12)
    np.testing.assert_allclose(got_gb, residual.mean(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(got_gw, data_x.T @ residual / 40 + 0.02 * w0, rtol=1e-10)
