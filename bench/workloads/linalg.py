"""Gaussian log-likelihood and its gradient through numpy.linalg (issue #15 item 4).

    loglik(S, r) = -(r^T S^-1 r + log det S + n log 2 pi) / 2

value and gradient with respect to the covariance S and the residual r, at n = 100 and 1000
(float64), written twice for every numpy-like namespace: with ``solve`` and ``slogdet``, and
with ``cholesky`` (log det S = 2 sum log diag L, S^-1 r through two triangular systems, as
numpy spells them: ``solve(L, r)``). The numpy row is the hand-written derivative
``dS = (a a^T - S^-1) / 2``, ``dr = -a`` with ``a = S^-1 r``, which is what a numpy user
writes: one ``slogdet`` and one ``inv``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench import peers
from bench.check import tolerance
from bench.context import Context
from bench.report import Table, timing_table
from bench.runner import Case, Impl
from bench.workloads.common import TRACEGRAD_NAME, autograd_numpy, jax_call, jax_numpy, tg, tnp

NAME = "linalg"
LOG_2PI = float(np.log(2 * np.pi))


def loglik_solve(xp: Any, s: Any, r: Any) -> Any:
    """With ``solve`` and ``slogdet``."""
    quad = r @ xp.linalg.solve(s, r)
    return -0.5 * (quad + xp.linalg.slogdet(s)[1] + r.shape[0] * LOG_2PI)


def loglik_cholesky(xp: Any, s: Any, r: Any) -> Any:
    """With ``cholesky``: log det from its diagonal, the quadratic form from ``solve(L, r)``."""
    low = xp.linalg.cholesky(s)
    z = xp.linalg.solve(low, r)
    logdet = 2.0 * xp.sum(xp.log(xp.diagonal(low)))
    return -0.5 * (z @ z + logdet + r.shape[0] * LOG_2PI)


FORMS: dict[str, Callable[..., Any]] = {"solve+slogdet": loglik_solve, "cholesky": loglik_cholesky}


def hand_value_and_grad(s: np.ndarray, r: np.ndarray) -> tuple[Any, tuple[Any, Any]]:
    """The numpy user's version: one slogdet, one inverse."""
    _, logdet = np.linalg.slogdet(s)
    s_inv = np.linalg.inv(s)
    a = s_inv @ r
    value = -0.5 * (r @ a + logdet + r.shape[0] * LOG_2PI)
    return value, (0.5 * (np.outer(a, a) - s_inv.T), -a)


def sizes(ctx: Context) -> list[int]:
    return [8, 32] if ctx.settings.tiny else [100, 1000]


def make_input(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, n)) / np.sqrt(n)
    return x @ x.T + np.eye(n), rng.standard_normal(n)


def impls(form: Callable[..., Any], s: np.ndarray, r: np.ndarray) -> list[Impl]:
    def numpy_hand() -> Callable[[], Any]:
        return lambda: hand_value_and_grad(s, r)

    def jax_step() -> Callable[[], Any]:
        jax, jnp = peers.jax(), jax_numpy()
        fn = jax.jit(jax.value_and_grad(lambda a, b: form(jnp, a, b), argnums=(0, 1)))
        return jax_call(fn, s, r)

    def autograd_step() -> Callable[[], Any]:
        anp = autograd_numpy()
        fn = peers.autograd().value_and_grad(lambda p: form(anp, *p))
        return lambda: fn((s, r))

    def tracegrad_step() -> Callable[[], Any]:
        t = tnp()
        fn = tg("jit")(tg("value_and_grad")(lambda a, b: form(t, a, b), argnums=(0, 1)))
        return lambda: fn(s, r)

    return [
        Impl("numpy", numpy_hand, note="hand-written derivative (slogdet + inv)"),
        Impl("jax.jit(value_and_grad)", jax_step),
        Impl("autograd", autograd_step),
        Impl(f"{TRACEGRAD_NAME} jit(value_and_grad)", tracegrad_step, is_tracegrad=True),
    ]


def case(name: str, n: int) -> Case:
    s, r = make_input(n)
    return Case(
        NAME,
        f"Gaussian log-likelihood value and gradient ({name}), n={n} float64",
        lambda: hand_value_and_grad(s, r),
        impls(FORMS[name], s, r),
        rtol=tolerance(np.float64) * n,  # O(n) condition-number growth of the solves
        dtype=np.dtype(np.float64),
    )


def run(ctx: Context) -> list[Table]:
    tables = []
    for n in sizes(ctx):
        for name in FORMS:
            c = case(name, n)
            tables.append(timing_table(c.key, ctx.run(c), c.metric_names, []))
    return tables
