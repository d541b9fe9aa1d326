"""Random draws inside traced functions happen at call time, from the same generator and in
the same order as eager numpy: bit-identical results for the same seed (issue #14 item 1)."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad
from tracegrad.errors import UnsupportedError


def _run(fn, args, seed, calls=3):
    np.random.seed(seed)
    return [fn(*args) for _ in range(calls)]


def _same(results, expected):
    flat_r = [np.asarray(x) for r in results for x in (r if isinstance(r, tuple) else (r,))]
    flat_e = [np.asarray(x) for r in expected for x in (r if isinstance(r, tuple) else (r,))]
    assert len(flat_r) == len(flat_e)
    for r, e in zip(flat_r, flat_e, strict=True):
        assert r.shape == e.shape and r.dtype == e.dtype
        np.testing.assert_array_equal(r, e)  # bit-identical, not merely close


def _samplers(x):
    """(loss, draws): the draws are compared bit for bit, the loss (a sum: tracegrad's
    reduction order is not numpy's pairwise one) to 1e-14."""
    draws = (
        np.random.randn(3), np.random.rand(3), np.random.normal(1.0, 2.0, size=3),
        np.random.uniform(-1, 1, size=3), np.random.standard_normal(3), np.random.random(3),
        np.random.randint(0, 5, size=3), np.random.choice([1.0, 2.5, 4.0], size=3),
        np.random.permutation(3), np.random.binomial(10, 0.3, size=3),
        np.random.poisson(2.0, size=3), np.random.gamma(2.0, size=3),
        np.random.beta(2.0, 3.0, size=3), np.random.exponential(size=3), np.random.normal(),
    )  # fmt: skip
    loss = np.sum(x * draws[0] * draws[1]) + np.sum(x**2 * draws[2])
    return loss, draws


def _check(results, expected, grads=None):
    for (loss, draws), (loss_e, draws_e) in zip(results, expected, strict=True):
        _same([draws], [draws_e])
        np.testing.assert_allclose(loss, loss_e, rtol=1e-14)
    if grads is not None:  # d loss / dx = z0 * z1 + 2 x z2, with numpy's draws
        x = np.array([0.5, -1.0, 2.0])
        for g, (_, d) in zip(grads, expected, strict=True):
            np.testing.assert_allclose(g, d[0] * d[1] + 2 * x * d[2], rtol=1e-14)


@pytest.mark.parametrize("transform", ["jit", "grad", "value_and_grad", "jit_grad", "grad_jit"])
def test_global_samplers_match_eager_over_calls(transform):
    x = np.array([0.5, -1.0, 2.0])
    expected = _run(_samplers, (x,), seed=7)
    if transform == "jit":
        _check(_run(tracegrad.jit(_samplers), (x,), seed=7), expected)
        return
    if transform == "grad":
        results = _run(tracegrad.grad(_samplers, has_aux=True), (x,), seed=7)
        _check([(0.0, d) for _, d in results], [(0.0, d) for _, d in expected])
        _check(expected, expected, grads=[g for g, _ in results])
        return
    fn = {
        "value_and_grad": tracegrad.value_and_grad(_samplers, has_aux=True),
        "jit_grad": tracegrad.jit(tracegrad.value_and_grad(_samplers, has_aux=True)),
        "grad_jit": tracegrad.value_and_grad(tracegrad.jit(_samplers), has_aux=True),
    }[transform]
    results = _run(fn, (x,), seed=7)
    _check([v for v, _ in results], expected, grads=[g for _, g in results])


def test_gradient_treats_draws_as_constants():
    def f(x):
        return np.sum(x * np.random.randn(4))

    np.random.seed(3)
    grads = [tracegrad.grad(f)(np.ones(4)) for _ in range(2)]
    np.random.seed(3)
    noise = [np.random.randn(4) for _ in range(2)]
    _same(grads, noise)  # d/dx sum(x * z) = z, the same z numpy drew


def test_generator_closed_over_and_passed_to_jit():
    def make(seed):
        rng = np.random.default_rng(seed)

        def f(x):
            return x * rng.normal(size=2) + rng.integers(0, 10, size=2) + rng.gamma(2.0)

        return f

    eager = make(11)
    expected = [eager(np.ones(2)) for _ in range(3)]
    jitted = tracegrad.jit(make(11))
    _same([jitted(np.ones(2)) for _ in range(3)], expected)
    cell = jitted.fun.__closure__[0]  # the recorder stood in for the trace only
    assert type(cell.cell_contents) is np.random.Generator

    def g(x, rng):
        return x + rng.standard_normal(2) + rng.choice(5, size=2) + rng.permutation(2)

    rng = np.random.default_rng(5)
    expected = [g(np.zeros(2), rng) for _ in range(3)]
    rng = np.random.default_rng(5)
    jg = tracegrad.jit(g)  # a generator argument is static, keyed by identity
    _same([jg(np.zeros(2), rng) for _ in range(3)], expected)
    assert jg.trace_count == 1


def test_random_state_closed_over_black_box_svi_pattern():
    """autograd's black_box_svi: the loss draws noise from a RandomState it closes over;
    a few steps of gradient descent must match eager numpy step for step."""

    def optimize(grad_fn, rs_seed, steps=4):
        params = np.array([0.3, -0.2, 0.1, -1.0])
        path = []
        for _ in range(steps):
            value, g = grad_fn(params)
            params = params - 0.05 * g
            path.append((value, params.copy()))
        return path, rs_seed

    def make_objective(seed):
        rs = np.random.RandomState(seed)

        def objective(params):
            mean, log_std = params[:2], params[2:]
            samples = rs.randn(5, 2) * np.exp(log_std) + mean
            logprob = -0.5 * np.sum(samples**2, axis=1)
            entropy = np.sum(log_std)
            return -(np.mean(logprob) + entropy)

        return objective

    eager_obj = make_objective(0)

    def eager_value_and_grad(params):  # eager numpy: the same noise, analytic gradient
        noise = eager_obj.__closure__[0].cell_contents.randn(5, 2)
        mean, log_std = params[:2], params[2:]
        samples = noise * np.exp(log_std) + mean
        value = -(np.mean(-0.5 * np.sum(samples**2, axis=1)) + np.sum(log_std))
        d_samples = samples / 5
        grad = np.concatenate([d_samples.sum(0), (d_samples * noise * np.exp(log_std)).sum(0) - 1])
        return value, grad

    expected, _ = optimize(eager_value_and_grad, 0)
    for wrap in (lambda f: f, tracegrad.jit):
        got, _ = optimize(wrap(tracegrad.value_and_grad(make_objective(0))), 0)
        for (v, p), (ve, pe) in zip(got, expected, strict=True):
            np.testing.assert_allclose(v, ve, rtol=1e-13)
            np.testing.assert_allclose(p, pe, rtol=1e-13)
        values = [v for v, _ in got]
        assert len(set(np.asarray(values).tolist())) == len(values)  # fresh noise each step


def test_order_of_draws_in_nested_and_repeated_calls():
    def inner(x):
        return np.sum(x * np.random.randn(2))

    def outer(x):
        a = np.random.rand()
        g1 = tracegrad.grad(inner)(x)  # draws under grad inside jit: once per outer call
        b = inner(x)
        g2 = tracegrad.grad(inner)(x)
        return a, g1, b, g2, np.random.rand()

    x = np.array([1.0, 2.0])
    np.random.seed(2)
    expected = []
    for _ in range(3):
        a = np.random.rand()
        g1 = np.random.randn(2)
        b = np.sum(x * np.random.randn(2))
        g2 = np.random.randn(2)
        expected.append((a, g1, b, g2, np.random.rand()))
    _same(_run(tracegrad.jit(outer), (x,), seed=2), expected)


def test_traced_loc_and_scale_are_bit_identical_and_differentiable():
    def samples(mu, sigma):
        return np.random.normal(mu, sigma, size=(3,)), np.random.uniform(mu, sigma + 1.0)

    def f(mu, sigma):
        z = sum(samples(mu, sigma))
        return np.sum(z * z)

    mu, sigma = np.array([0.1, -0.4, 2.0]), np.array([1.5, 0.2, 3.0])
    expected = _run(samples, (mu, sigma), seed=4)
    _same(_run(tracegrad.jit(samples), (mu, sigma), seed=4), expected)
    gen = np.random.default_rng(9)
    expected = [(gen.normal(mu, sigma), gen.uniform(mu, 2.0)) for _ in range(3)]
    gen = np.random.default_rng(9)
    got = tracegrad.jit(lambda m, s: (gen.normal(m, s), gen.uniform(m, 2.0)))
    _same([got(mu, sigma) for _ in range(3)], expected)
    np.random.seed(4)
    g = tracegrad.grad(f, argnums=(0, 1))(mu, sigma)
    np.random.seed(4)
    z0 = np.random.standard_normal(3)
    u = np.random.random_sample(3)
    z = mu + sigma * z0 + (mu + (sigma + 1.0 - mu) * u)
    np.testing.assert_allclose(g[0], 2 * z * (1 + 1 - u), rtol=1e-12)
    np.testing.assert_allclose(g[1], 2 * z * (z0 + u), rtol=1e-12)


def test_unsupported_random_calls_raise_naming_the_line():
    original = np.random.shuffle

    def shuffles(x):
        np.random.shuffle(np.arange(3))
        return x

    with pytest.raises(UnsupportedError, match="shuffle.*test_random_draws.py"):
        tracegrad.jit(shuffles)(np.ones(2))

    def traced_gamma(x):
        return np.random.gamma(x)

    with pytest.raises(UnsupportedError, match="gamma.*traced argument.*test_random_draws"):
        tracegrad.jit(traced_gamma)(np.ones(2))

    from numpy.random import randn  # not seen by the interception: detected afterwards

    with pytest.raises(UnsupportedError, match="global random state"):
        tracegrad.jit(lambda x: x + randn(2))(np.ones(2))

    with pytest.raises(UnsupportedError, match="vjp"):
        tracegrad.vjp(lambda x: x * np.random.randn(2), np.ones(2))
    assert np.random.shuffle is original  # numpy's functions are back after a failed trace


RNG = np.random.default_rng(21)


def _noise(n):
    return RNG.normal(size=n)


def test_a_helper_drawing_from_a_module_generator():
    global RNG
    f = tracegrad.jit(lambda x: x + _noise(2))
    RNG = np.random.default_rng(21)
    got = [f(np.zeros(2)) for _ in range(3)]
    RNG = np.random.default_rng(21)
    _same(got, [_noise(2) for _ in range(3)])
    RNG = np.random.default_rng(4)  # rebinding the name: the next calls draw from the new one
    got = [f(np.zeros(2)) for _ in range(2)]
    RNG = np.random.default_rng(4)
    _same(got, [_noise(2) for _ in range(2)])


def test_seeding_inside_the_function_is_replayed_on_every_call():
    def f(x):
        np.random.seed(3)
        return x + np.random.randn(2)

    jitted = tracegrad.jit(f)
    np.random.seed(0)
    got = [(jitted(np.zeros(2)), np.random.rand()) for _ in range(2)]
    np.random.seed(0)
    _same(got, [(f(np.zeros(2)), np.random.rand()) for _ in range(2)])
