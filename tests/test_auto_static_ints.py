"""A Python int (or bool) argument used where only a concrete value works (an index, a slice
bound, range(), if) is specialized on its value by jit and by the derivative API; used only
arithmetically, it stays traced (issue #14 item 3)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracegrad
from tracegrad.errors import TracerBoolError
from tracegrad.specialize import MAX_VALUES, SpecializationWarning

DATA = np.random.default_rng(0).normal(size=(4, 5))
N = len(DATA)


def objective(params, i):
    """autograd's optimizer style: a minibatch picked and a prefix sliced by the iteration."""
    batch = DATA[i % N]
    k = i % 5 + 1
    return np.sum((params[:k] * batch[:k] - 1.0) ** 2) + 0.1 * np.sum(params**2)


def objective_grad(params, i):
    """The gradient of ``objective``, by hand, in numpy."""
    batch, k = DATA[i % N], i % 5 + 1
    g = 0.2 * params
    g[:k] += 2.0 * (params[:k] * batch[:k] - 1.0) * batch[:k]
    return g


def finite_difference(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for j in range(x.size):
        step = np.zeros_like(x)
        step[j] = eps
        grad[j] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


@pytest.mark.parametrize(
    "make",
    [
        lambda f: tracegrad.grad(f),
        lambda f: tracegrad.jit(tracegrad.grad(f)),
        lambda f: tracegrad.grad(tracegrad.jit(f)),
        lambda f: lambda p, i: tracegrad.value_and_grad(f)(p, i)[1],
    ],
    ids=["grad", "jit_of_grad", "grad_of_jit", "value_and_grad"],
)
def test_optimizer_objective_matches_numpy(make):
    g = make(objective)
    params = np.linspace(-1.0, 1.0, 5)
    for i in [0, 1, 2, 7, 3, 12, 1]:
        expected = objective_grad(params, i)
        np.testing.assert_allclose(g(params, i), expected, rtol=1e-13, atol=1e-14)
        fd = finite_difference(lambda p, i=i: objective(p, i), params)
        np.testing.assert_allclose(g(params, i), fd, rtol=1e-6, atol=1e-8)


def test_sgd_loop_trains_like_eager_numpy():
    step = tracegrad.grad(objective)
    params = eager = np.zeros(5)
    for i in range(30):
        params = params - 0.05 * step(params, i)
        eager = eager - 0.05 * objective_grad(eager, i)
    np.testing.assert_allclose(params, eager, rtol=1e-12, atol=1e-14)


def test_jit_value_matches_numpy_for_each_concrete_use():
    def body(x, i, flag):
        total = np.sum(x[: i + 1]) + DATA[i % N, 0]
        for k in range(i):
            total = total + x[k] * k
        if flag:
            total = -total
        return total + np.sum(np.zeros(i))

    f = tracegrad.jit(body)
    x = np.arange(1.0, 7.0)
    for i, flag in [(0, False), (3, True), (5, False), (3, False)]:
        assert float(f(x, i, flag)) == pytest.approx(float(body(x, i, flag)), rel=1e-15)


def test_int_used_only_arithmetically_is_traced_once():
    runs = []

    def scaled(x, i):
        runs.append(type(i).__name__)
        return np.sum(x * i) + i**2

    f = tracegrad.jit(scaled)
    g = tracegrad.grad(scaled)
    x = np.ones(3)
    for i in range(1, 6):
        assert float(f(x, i)) == float(scaled(x, i))
        assert g(x, i).tolist() == [float(i)] * 3
    assert f.trace_count == 1
    assert len(runs) == 2 + 5  # one trace each for jit and grad, five eager calls
    assert f.recompile_log.entries == [] and g.recompile_log.entries == []


def test_one_trace_per_value_after_learning():
    runs = []

    def prefix(x, i):
        runs.append(i if isinstance(i, int) else "traced")
        return np.sum(x[:i])

    for transform in (tracegrad.jit, tracegrad.grad):
        runs.clear()
        f = transform(prefix)
        for i in [1, 2, 3, 1, 2, 3]:
            f(np.ones(4), i)
        assert runs == ["traced", 1, 2, 3]  # the failed trace, then one per value


def test_recompile_log_says_why():
    def pick(x, i):
        return x[i % 2 :]  # the line the log names

    f = tracegrad.jit(pick)
    g = tracegrad.jacobian(pick)
    for i in (0, 1):
        assert f(np.arange(3.0), i).tolist() == pick(np.arange(3.0), i).tolist()
        np.testing.assert_array_equal(g(np.arange(3.0), i), np.eye(3)[i % 2 :])
    for log in (f.recompile_log, g.recompile_log):
        first, *traces = log.entries
        assert "argument 1 (i) of pick is a Python int used as a concrete value" in first
        assert "return x[i % 2 :]  # the line the log names" in first
        assert traces == ["traced pick for i=0", "traced pick for i=1"]


def test_grad_cache_is_bounded_too():
    runs = []

    def prefix_sum(x, i):
        runs.append(i if isinstance(i, int) else "traced")
        return np.sum(x[:i])

    g = tracegrad.grad(prefix_sum)
    x = np.ones(MAX_VALUES + 10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(MAX_VALUES + 3):
            assert g(x, i).tolist() == (np.arange(x.size) < i).astype(float).tolist()
    assert [w.category for w in caught] == [SpecializationWarning]
    g(x, MAX_VALUES + 2)  # kept
    g(x, 0)  # dropped: traced again
    assert runs == ["traced", *range(MAX_VALUES + 3), 0]


def test_cache_is_bounded_and_warns_once():
    f = tracegrad.jit(lambda x, i: x[:i])
    x = np.arange(float(MAX_VALUES + 10))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(MAX_VALUES + 6):
            assert f(x, i).tolist() == x[:i].tolist()
    assert [w.category for w in caught] == [SpecializationWarning]
    assert "most recently used" in str(caught[0].message)
    count = f.trace_count
    f(x, MAX_VALUES + 5)  # kept
    assert f.trace_count == count
    assert f(x, 0).tolist() == []  # dropped: traced again
    assert f.trace_count == count + 1
    assert any("dropped" in e for e in f.recompile_log.entries)


def test_static_argnums_still_forces_static():
    runs = []

    def prefix(x, i):
        runs.append(i if isinstance(i, int) else "traced")
        return np.sum(x[:i])

    f = tracegrad.jit(prefix, static_argnums=1)
    for i in [2, 3, 2]:
        assert float(f(np.ones(4), i)) == i
    assert runs == [2, 3] and f.trace_count == 2
    assert f.recompile_log.entries == []  # nothing learned: no failed trace


def test_keywords_and_bools():
    def f(x, *, n, neg):
        y = x[:n]
        return -np.sum(y) if neg else np.sum(y)

    x = np.arange(1.0, 5.0)
    for n, neg in [(2, True), (3, False)]:
        assert float(tracegrad.jit(f)(x, n=n, neg=neg)) == f(x, n=n, neg=neg)
        expected = np.where(np.arange(4) < n, -1.0 if neg else 1.0, 0.0)
        assert tracegrad.grad(f)(x, n=n, neg=neg).tolist() == expected.tolist()


def test_what_cannot_be_specialized_still_raises():
    with pytest.raises(TracerBoolError, match="Python index"):
        tracegrad.jit(lambda x, pair: x[: pair[0]])(np.ones(3), (1, 2))  # nested in a tuple
    with pytest.raises(TracerBoolError, match="Python index"):  # depends on the array too
        tracegrad.jit(lambda x, i: x[: i + x.shape[0] * np.sum(x).astype(int)])(np.ones(3), 1)
    with pytest.raises(TracerBoolError, match="Python index"):  # differentiated: not static
        tracegrad.grad(lambda x, i: np.sum(x[:i]) * 1.0, argnums=1)(np.ones(3), 2)


def test_jitted_method_with_an_int_argument():
    class Model:
        def __init__(self):
            self.w = np.arange(4.0)

        @tracegrad.jit
        def __call__(self, x, i):
            return np.sum(self.w[:i] * x[:i])

    model = Model()
    for i in (1, 3):
        assert float(model(np.ones(4), i)) == float(np.sum(np.arange(4.0)[:i]))
