"""Call overhead: the cost of calling a compiled function when there is almost no work.

Two cases: ``grad(x**2)`` called on a Python float, and a tiny elementwise array function
``tanh(x) * 2 + x`` on an 8-element float64 array.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from bench import peers
from bench.check import tolerance
from bench.context import Context
from bench.report import Table, timing_table
from bench.runner import Case, Impl
from bench.workloads.common import (
    PYTENSOR_MODES,
    TRACEGRAD_NAME,
    jax_call,
    jax_numpy,
    pytensor_function,
    pytensor_tensor,
    pytensor_vector,
    tg,
    tnp,
)

NAME = "overhead"
X0 = 1.7


def square(x: Any) -> Any:
    return x**2


def scalar_grad_case() -> Case:
    def python_hand() -> Callable[[], Any]:
        def derivative(x: float) -> float:
            return 2.0 * x

        return lambda: derivative(X0)

    def numba_hand() -> Callable[[], Any]:
        fn = peers.numba().njit(lambda x: 2.0 * x)
        return lambda: fn(X0)

    def jax_grad() -> Callable[[], Any]:
        jax = peers.jax()
        fn = jax.jit(jax.grad(square))
        return lambda: fn(X0).block_until_ready()

    def pytensor_grad(mode: str) -> Callable[[], Any]:
        pytensor = peers.pytensor()
        x = pytensor_tensor().dscalar("x")
        fn = pytensor_function([x], pytensor.grad(square(x), x), mode)
        return lambda: fn(X0)

    def autograd_grad() -> Callable[[], Any]:
        fn = peers.autograd().grad(square)
        return lambda: fn(X0)

    def tracegrad_grad() -> Callable[[], Any]:
        fn = tg("jit")(tg("grad")(square))
        return lambda: fn(X0)

    def tracegrad_plain_grad() -> Callable[[], Any]:
        fn = tg("grad")(square)  # no jit: the same cache and call path (tracegrad.staging)
        return lambda: fn(X0)

    impls = [
        Impl(
            "python", python_hand, note="hand derivative; a plain call, not a peer", is_peer=False
        ),
        Impl("numba", numba_hand, note="hand derivative"),
        Impl("jax.jit(grad)", jax_grad),
        *[Impl(name, partial(pytensor_grad, mode)) for name, mode in PYTENSOR_MODES],
        Impl("autograd", autograd_grad),
        Impl(f"{TRACEGRAD_NAME} jit(grad)", tracegrad_grad, is_tracegrad=True),
        Impl(
            f"{TRACEGRAD_NAME} grad",
            tracegrad_plain_grad,
            note="un-jitted grad(f)(x), autograd's spelling",
            is_peer=False,
        ),
    ]
    return Case(
        NAME, "grad of x**2 on a Python float", lambda: 2.0 * X0, impls, rtol=tolerance(np.float64)
    )


def tiny_fn(xp: Any, x: Any) -> Any:
    return xp.tanh(x) * 2.0 + x


def tiny_array_case() -> Case:
    x = np.linspace(-1.0, 1.0, 8)

    def numpy_fn() -> Callable[[], Any]:
        return lambda: tiny_fn(np, x)

    def numba_fn() -> Callable[[], Any]:
        fn = peers.numba().njit(lambda v: np.tanh(v) * 2.0 + v)
        return lambda: fn(x)

    def jax_fn() -> Callable[[], Any]:
        jnp = jax_numpy()
        return jax_call(peers.jax().jit(lambda v: tiny_fn(jnp, v)), x)

    def pytensor_fn(mode: str) -> Callable[[], Any]:
        v = pytensor_vector(np.float64)
        fn = pytensor_function([v], tiny_fn(pytensor_tensor(), v), mode)
        return lambda: fn(x)

    def tracegrad_fn() -> Callable[[], Any]:
        t = tnp()
        fn = tg("jit")(lambda v: tiny_fn(t, v))
        return lambda: fn(x)

    impls = [
        Impl("numpy", numpy_fn),
        Impl("numba", numba_fn),
        Impl("jax.jit", jax_fn),
        *[Impl(name, partial(pytensor_fn, mode)) for name, mode in PYTENSOR_MODES],
        Impl(f"{TRACEGRAD_NAME} jit", tracegrad_fn, is_tracegrad=True),
    ]
    return Case(
        NAME,
        "tanh(x)*2 + x on an 8-element float64 array",
        lambda: tiny_fn(np, x),
        impls,
        rtol=tolerance(np.float64),
        dtype=np.dtype(np.float64),
    )


def run(ctx: Context) -> list[Table]:
    return [
        timing_table(case.key, ctx.run(case)) for case in (scalar_grad_case(), tiny_array_case())
    ]
