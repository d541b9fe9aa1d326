"""theano.scan on the control-flow ops: values against the same loop in numpy, gradients
against finite differences, symbolic step counts, go_backwards, several outputs, errors."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as theano
import tracegrad.tensor as T  # noqa: N812  (Theano's spelling)
from tracegrad.errors import UnsupportedError


def test_power_with_a_symbolic_step_count_compiles_once() -> None:
    k, a = T.iscalar("k"), T.vector("A")
    result, updates = theano.scan(
        fn=lambda prior, a: prior * a, outputs_info=T.ones_like(a), non_sequences=a, n_steps=k
    )
    power = theano.function([a, k], result[-1], updates=updates)
    history = theano.function([a, k], result)
    x = np.array([0.5, 2.0, -1.5])
    for n in (1, 3, 6):
        np.testing.assert_allclose(power(x, n), x**n, rtol=1e-15)
        np.testing.assert_allclose(history(x, n), np.stack([x**i for i in range(1, n + 1)]))
    grad = theano.function([a, k], T.grad(result[-1].sum(), a))
    np.testing.assert_allclose(grad(x, 4), 4 * x**3, rtol=1e-14)


def test_go_backwards_and_two_outputs() -> None:
    x = T.vector("x")

    def step(v, total, count):
        return total + v * (count + 1.0), count + 1.0

    (totals, counts), _ = theano.scan(
        step, sequences=x, outputs_info=[T.as_tensor_variable(0.0), T.as_tensor_variable(0.0)],
        go_backwards=True,
    )  # fmt: skip
    f = theano.function([x], [totals, counts])
    data = np.array([1.0, 2.0, 3.0])
    got_totals, got_counts = f(data)
    expected, total = [], 0.0
    for i, v in enumerate(data[::-1]):
        total += v * (i + 1.0)
        expected.append(total)
    np.testing.assert_allclose(got_totals, expected)
    np.testing.assert_allclose(got_counts, [1.0, 2.0, 3.0])
    g = theano.function([x], T.grad(totals[-1], x))(data)
    np.testing.assert_allclose(g, [3.0, 2.0, 1.0])  # x[2] is seen first, weight 1


def test_outputs_not_fed_back_and_the_shortest_sequence() -> None:
    a, b = T.vector("a"), T.vector("b")
    out, _ = theano.scan(lambda x, y: x * y + 1.0, sequences=[a, b], outputs_info=None)
    f = theano.function([a, b], out)
    np.testing.assert_allclose(f(np.arange(3.0), np.arange(5.0)), np.arange(3.0) ** 2 + 1.0)


def test_taps_other_than_the_previous_step_are_refused() -> None:
    x = T.vector("x")
    with pytest.raises(UnsupportedError, match="taps"):
        theano.scan(lambda a, b, c: a + b, outputs_info=dict(initial=x, taps=[-2, -1]), n_steps=3)


def test_jax_style_scan_is_still_tracegrad_scan() -> None:
    carry, ys = theano.jit(lambda xs: theano.scan(lambda c, x: (c + x, c), 0.0, xs))(np.arange(4.0))
    assert float(carry) == 6.0
    np.testing.assert_allclose(ys, [0.0, 0.0, 1.0, 3.0])
