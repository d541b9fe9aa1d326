"""Theano's ``RandomStreams`` on the symbolic front end (issue #17 item 5): fresh draws at each
call, Theano's seeding (so the numbers are numpy's for the same seeds), default updates and
``no_default_updates``, ``rv.rng.get_value/set_value`` and ``srng.seed``."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad.tensor as T  # noqa: N812
from tracegrad import function
from tracegrad.errors import TracegradError
from tracegrad.tensor.shared_randomstreams import RandomStreams


def _theano_generators(seed: int, count: int) -> list[np.random.RandomState]:
    """The generators Theano gives a stream's first ``count`` random variables."""
    seedgen = np.random.RandomState(seed)
    return [np.random.RandomState(int(seedgen.randint(2**30))) for _ in range(count)]


def test_each_call_draws_the_next_numbers_of_the_variables_generator() -> None:
    assert T.shared_randomstreams.RandomStreams is RandomStreams  # Theano's spelling
    srng = RandomStreams(seed=234)
    rv_u, rv_n = srng.uniform((2, 2)), srng.normal((3,), avg=1.0, std=2.0)
    f = function([], [rv_u, rv_n])
    ru, rn = _theano_generators(234, 2)
    for _ in range(3):
        u, n = f()
        np.testing.assert_array_equal(u, ru.uniform(0.0, 1.0, (2, 2)))
        np.testing.assert_array_equal(n, rn.normal(1.0, 2.0, (3,)))


def test_no_default_updates_repeats_the_draws() -> None:
    srng = RandomStreams(seed=1)
    rv_u, rv_n = srng.uniform((4,)), srng.normal((4,))
    g = function([], rv_n, no_default_updates=True)
    np.testing.assert_array_equal(g(), g())
    partial = function([], [rv_u, rv_n], no_default_updates=[rv_n])
    (u1, n1), (u2, n2) = partial(), partial()
    np.testing.assert_array_equal(n1, n2)
    assert not np.any(u1 == u2)


def test_a_variable_is_drawn_once_per_call() -> None:
    rv_u = RandomStreams(seed=7).uniform((2, 2))
    nearly_zeros = function([], rv_u + rv_u - 2 * rv_u)
    np.testing.assert_array_equal(nearly_zeros(), np.zeros((2, 2)))


def test_rng_get_set_value_and_state_replay_the_stream() -> None:
    srng = RandomStreams(seed=234)
    rv_u = srng.uniform((2, 2))
    f = function([], rv_u)
    rng_val = rv_u.rng.get_value(borrow=True)
    rng_val.seed(89234)
    rv_u.rng.set_value(rng_val, borrow=True)
    np.testing.assert_array_equal(f(), np.random.RandomState(89234).uniform(size=(2, 2)))
    state = rv_u.rng.get_value().get_state()
    v1 = f()
    rng = rv_u.rng.get_value(borrow=True)
    rng.set_state(state)
    rv_u.rng.set_value(rng, borrow=True)
    np.testing.assert_array_equal(f(), v1)
    with pytest.raises(TypeError, match="RandomState"):
        rv_u.rng.set_value(np.random.default_rng(0))


def test_seed_reseeds_every_generator_as_theano_does() -> None:
    srng = RandomStreams(seed=234)
    rv_u, rv_n = srng.uniform((3,)), srng.normal((3,))
    f = function([], [rv_u, rv_n])
    f()
    srng.seed(902340)
    ru, rn = _theano_generators(902340, 2)
    u, n = f()
    np.testing.assert_array_equal(u, ru.uniform(size=(3,)))
    np.testing.assert_array_equal(n, rn.normal(size=(3,)))


def test_symbolic_parameters_and_size_from_an_input() -> None:
    x = T.dvector("x")
    srng = RandomStreams(seed=3)
    u = srng.uniform((x.shape[0],), low=x, high=2 * x + 1)
    f = function([x], [u, T.grad(u.sum(), x)])
    (r,) = _theano_generators(3, 1)
    xv = np.array([0.0, 1.0, 5.0])
    value, grad = f(xv)
    np.testing.assert_array_equal(value, r.uniform(xv, 2 * xv + 1))  # numpy's bits
    np.testing.assert_allclose(grad, 1 + (value - xv) / (xv + 1), rtol=1e-12)  # d/dx: 1 + u
    assert f(np.zeros(5))[0].shape == (5,)


def test_a_failed_call_does_not_advance_the_generator() -> None:
    x = T.dvector("x")
    rv = RandomStreams(seed=5).normal((2,))
    f = function([x], x + rv)
    before = rv.rng.get_value().get_state()[1]
    with pytest.raises(ValueError):
        f(np.zeros(3))
    np.testing.assert_array_equal(rv.rng.get_value().get_state()[1], before)


def test_a_size_no_input_determines_is_refused() -> None:
    x = T.dvector("x")
    u = RandomStreams(seed=5).uniform((x.shape[0],))
    with pytest.raises(TracegradError, match="no input"):
        function([], u)


def test_copy_without_updates_and_other_distributions() -> None:
    srng = RandomStreams(seed=11)
    b, k = srng.binomial((50,), n=3, p=0.5), srng.random_integers((50,), low=2, high=4)
    f32 = srng.uniform((2,), dtype="float32")
    f = function([], [b, k, f32])
    frozen = f.copy(delete_updates=True)
    np.testing.assert_array_equal(frozen()[0], frozen()[0])
    rb, rk, rf = _theano_generators(11, 3)
    bv, kv, fv = f()
    np.testing.assert_array_equal(bv, rb.binomial(3, 0.5, (50,)))
    np.testing.assert_array_equal(kv, rk.randint(2, 5, (50,)))
    assert bv.dtype == np.int64 and kv.min() >= 2 and kv.max() <= 4
    assert fv.dtype == np.float32
    np.testing.assert_array_equal(fv, rf.uniform(size=(2,)).astype(np.float32))
