"""Loops: the gradient of N steps of ``x = sin(x) * 0.99 + 0.01`` on a 100-vector, and an RNN
(``scan`` over 100 steps, hidden 128, batch 32) value and gradient.

tracegrad runs ``fori_loop``/``scan`` (one loop op, bodies traced once); the references are
plain numpy with a hand-written backward loop, Numba's hand-written forward + backward loop,
and JAX's ``lax.fori_loop``/``lax.scan`` when installed. The first call column shows whether
compile time grows with N (an unrolled loop's does).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench import peers
from bench.child import graph_hand_grad
from bench.context import Context
from bench.report import Table, timing_table
from bench.runner import Case, Impl
from bench.workloads.common import TRACEGRAD_NAME, jax_call, jax_numpy, tg

NAME = "loops"


# ---- N steps of a damped map ----------------------------------------------------------------


def numpy_step_grad(x: np.ndarray, n: int) -> np.ndarray:
    """d/dx sum(x_n): the forward loop keeps every x_i, the backward loop multiplies."""
    return graph_hand_grad(x, n, scale=0.99, shift=0.01)


def numba_step_grad() -> Any:
    nb = peers.numba()

    @nb.njit
    def grad(x: np.ndarray, n: int) -> np.ndarray:
        xs = np.empty((n, x.size))
        v = x.copy()
        for i in range(n):
            xs[i] = v
            for j in range(x.size):
                v[j] = np.sin(v[j]) * 0.99 + 0.01
        g = np.ones_like(x)
        for i in range(n - 1, -1, -1):
            for j in range(x.size):
                g[j] = g[j] * np.cos(xs[i, j]) * 0.99
        return g

    return grad


def step_case(n: int) -> Case:
    x = np.linspace(-1.0, 1.0, 100)

    def tracegrad_impl() -> Any:
        import tracegrad

        def loss(x: Any) -> Any:
            return tracegrad.fori_loop(0, n, lambda i, v: np.sin(v) * 0.99 + 0.01, x).sum()

        g = tg("jit")(tg("grad")(loss))
        return lambda: g(x)

    def numba_impl() -> Any:
        grad = numba_step_grad()
        return lambda: grad(x, n)

    def jax_impl() -> Any:
        jax = peers.jax()
        jnp = jax_numpy()

        def loss(x: Any) -> Any:
            body = lambda i, v: jnp.sin(v) * 0.99 + 0.01  # noqa: E731
            return jax.lax.fori_loop(0, n, body, x).sum()

        return jax_call(jax.jit(jax.grad(loss)), x)

    impls = [
        Impl(TRACEGRAD_NAME, tracegrad_impl, is_tracegrad=True),
        Impl("numpy + hand backward", lambda: lambda: numpy_step_grad(x, n)),
        Impl("numba (hand fwd+bwd loops)", numba_impl),
        Impl("jax lax.fori_loop", jax_impl),
    ]
    return Case(NAME, f"grad of {n} steps, 100-vector", lambda: numpy_step_grad(x, n), impls, 1e-9)


# ---- an Euler ODE integrator ----------------------------------------------------------------


def numpy_euler_value_and_grad(theta: np.ndarray, x0: np.ndarray, n: int) -> np.ndarray:
    """x' = -theta x + sin(x) by Euler's method (dt = 1/n); loss = sum(x_n**2); the gradient
    in theta by the hand-written backward loop."""
    dt, xs, x = 1.0 / n, [], x0
    for _ in range(n):
        xs.append(x)
        x = x + dt * (-theta * x + np.sin(x))
    g, g_theta = 2.0 * x, np.zeros_like(theta)
    for x_t in reversed(xs):
        g_theta += g * (-dt * x_t)
        g = g * (1.0 + dt * (-theta + np.cos(x_t)))
    return np.concatenate([[np.sum(x**2)], g_theta])


def euler_case(n: int) -> Case:
    rng = np.random.default_rng(n)
    theta, x0 = rng.uniform(0.5, 1.5, 100), rng.normal(size=100)

    def tracegrad_impl() -> Any:
        import tracegrad

        def loss(theta: Any) -> Any:
            step = lambda i, x: x + (1.0 / n) * (-theta * x + np.sin(x))  # noqa: E731
            return (tracegrad.fori_loop(0, n, step, x0) ** 2).sum()

        f = tg("jit")(tg("value_and_grad")(loss))

        def run() -> np.ndarray:
            value, grad = f(theta)
            return np.concatenate([[float(value)], grad])

        return run

    def jax_impl() -> Any:
        jax = peers.jax()
        jnp = jax_numpy()

        def loss(theta: Any) -> Any:
            step = lambda i, x: x + (1.0 / n) * (-theta * x + jnp.sin(x))  # noqa: E731
            return (jax.lax.fori_loop(0, n, step, jnp.asarray(x0)) ** 2).sum()

        call = jax_call(jax.jit(jax.value_and_grad(loss)), theta)

        def run() -> np.ndarray:
            value, grad = call()
            return np.concatenate([[float(value)], np.asarray(grad)])

        return run

    impls = [
        Impl(TRACEGRAD_NAME, tracegrad_impl, is_tracegrad=True),
        Impl("numpy + hand backward", lambda: lambda: numpy_euler_value_and_grad(theta, x0, n)),
        Impl("jax lax.fori_loop", jax_impl),
    ]
    reference = lambda: numpy_euler_value_and_grad(theta, x0, n)  # noqa: E731
    return Case(NAME, f"Euler ODE value+grad, {n} steps, 100-vector", reference, impls, 1e-9)


# ---- an RNN with scan ---------------------------------------------------------------------------


def rnn_inputs(steps: int = 100, hidden: int = 128, batch: int = 32) -> tuple:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(hidden, hidden)) / np.sqrt(hidden)
    u = rng.normal(size=(16, hidden)) / 4.0
    xs = rng.normal(size=(steps, batch, 16))
    return w, u, xs


def numpy_rnn_value_and_grad(w: np.ndarray, u: np.ndarray, xs: np.ndarray) -> tuple:
    hs = [np.zeros((xs.shape[1], w.shape[0]))]
    for x in xs:
        hs.append(np.tanh(hs[-1] @ w + x @ u))
    loss = sum((h**2).sum() for h in hs[1:])
    gw, gu, gh = np.zeros_like(w), np.zeros_like(u), np.zeros_like(hs[0])
    for t in range(len(xs), 0, -1):
        gh = gh + 2 * hs[t]
        gz = gh * (1 - hs[t] ** 2)
        gw += hs[t - 1].T @ gz
        gu += xs[t - 1].T @ gz
        gh = gz @ w.T
    return loss, gw, gu


def rnn_case() -> Case:
    w, u, xs = rnn_inputs()

    def reference() -> Any:
        loss, gw, gu = numpy_rnn_value_and_grad(w, u, xs)
        return np.concatenate([[loss], gw.ravel(), gu.ravel()])

    def flat(result: Any) -> np.ndarray:
        loss, (gw, gu) = result
        return np.concatenate([[float(loss)], np.asarray(gw).ravel(), np.asarray(gu).ravel()])

    def tracegrad_impl() -> Any:
        import tracegrad

        def loss(w: Any, u: Any, xs: Any) -> Any:
            def step(h: Any, x: Any) -> Any:
                h = np.tanh(h @ w + x @ u)
                return h, (h**2).sum()

            return tracegrad.scan(step, np.zeros((xs.shape[1], w.shape[0])), xs)[1].sum()

        f = tg("jit")(tg("value_and_grad")(loss, argnums=(0, 1)))
        return lambda: flat(f(w, u, xs))

    def jax_impl() -> Any:
        jax = peers.jax()
        jnp = jax_numpy()

        def loss(w: Any, u: Any, xs: Any) -> Any:
            def step(h: Any, x: Any) -> Any:
                h = jnp.tanh(h @ w + x @ u)
                return h, (h**2).sum()

            return jax.lax.scan(step, jnp.zeros((xs.shape[1], w.shape[0])), xs)[1].sum()

        call = jax_call(jax.jit(jax.value_and_grad(loss, argnums=(0, 1))), w, u, xs)
        return lambda: flat(call())

    def numpy_impl() -> Any:
        return lambda: np.concatenate(
            [[r] if np.ndim(r) == 0 else r.ravel() for r in numpy_rnn_value_and_grad(w, u, xs)]
        )

    impls = [
        Impl(TRACEGRAD_NAME, tracegrad_impl, is_tracegrad=True),
        Impl("numpy + hand backward", numpy_impl),
        Impl("jax lax.scan", jax_impl),
    ]
    return Case(
        NAME, "RNN value+grad, scan 100 steps, hidden 128, batch 32", reference, impls, 1e-8
    )


def memory_table(n: int) -> Table:
    """Peak memory (tracemalloc: numpy's buffers included) of one jitted gradient call of n
    steps on a 100-vector: residuals of every step, or every sqrt(n)-th (checkpoint=True)."""
    import tracemalloc

    import tracegrad

    x = np.linspace(-1.0, 1.0, 100)
    rows = []
    for checkpoint in (None, True):

        def loss(x: Any, checkpoint: Any = checkpoint) -> Any:
            step = lambda c, _: (np.sin(c) * 0.99 + 0.01, None)  # noqa: E731
            return tracegrad.scan(step, x, None, length=n, checkpoint=checkpoint)[0].sum()

        g = tracegrad.jit(tracegrad.grad(loss))
        g(x)
        tracemalloc.start()
        g(x)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        bound = n * x.nbytes if checkpoint is None else 2 * int(np.sqrt(n) + 1) * x.nbytes
        rows.append([f"checkpoint={checkpoint}", f"{peak / 1e6:.2f} MB", f"{bound / 1e6:.2f} MB"])
    return Table(f"{NAME}: peak memory of grad, {n} steps, 100-vector",
                 ["scan", "peak (tracemalloc)", "residual bound"], rows)  # fmt: skip


def run(ctx: Context) -> list[Table]:
    counts = (
        [10, 100]
        if ctx.settings.tiny
        else [10, 10**4]
        if ctx.settings.quick
        else [10, 10**4, 10**6]
    )
    euler = [50] if ctx.settings.tiny else [50, 1000]
    cases = [*map(step_case, counts), *map(euler_case, euler)]
    tables = [timing_table(f"{NAME}: {case.label}", ctx.run(case)) for case in cases]
    if not ctx.settings.tiny:
        case = rnn_case()
        tables.append(timing_table(f"{NAME}: {case.label}", ctx.run(case)))
        tables.append(memory_table(10**4 if ctx.settings.quick else 10**5))
    return tables
