"""A reduction chain: value and gradient of sum(sin(x)*cos(x) + x**2).

The gradient is cos(x)**2 - sin(x)**2 + 2x; a fused kernel reads x once and writes the
gradient once, so the bandwidth floor is 16 bytes per float64 element.
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
from bench.workloads import bandwidth
from bench.workloads.common import (
    PYTENSOR_MODES,
    TRACEGRAD_NAME,
    autograd_numpy,
    jax_call,
    jax_numpy,
    pytensor_function,
    pytensor_vector,
    tg,
    tnp,
)
from bench.workloads.logistic import floor_metrics

NAME = "reduction"


def chain(xp: Any, x: Any) -> Any:
    return xp.sum(xp.sin(x) * xp.cos(x) + x**2)


def hand_value_and_grad(x: np.ndarray) -> tuple[Any, np.ndarray]:
    s, c = np.sin(x), np.cos(x)
    return np.sum(s * c + x * x), c * c - s * s + 2.0 * x


def size(ctx: Context) -> int:
    if ctx.settings.tiny:
        return 10**3
    return 10**6 if ctx.settings.quick else 10**7


def numba_kernel(parallel: bool) -> Callable[..., Any]:
    nb = peers.numba()

    def kernel(x: np.ndarray) -> tuple[float, np.ndarray]:
        grad = np.empty_like(x)
        total = 0.0
        for i in nb.prange(x.shape[0]):
            s, c = np.sin(x[i]), np.cos(x[i])
            total += s * c + x[i] * x[i]
            grad[i] = c * c - s * s + 2.0 * x[i]
        return total, grad

    return nb.njit(parallel=parallel)(kernel)


def impls(x: np.ndarray) -> list[Impl]:
    def numpy_hand() -> Callable[[], Any]:
        return lambda: hand_value_and_grad(x)

    def numba_hand(parallel: bool) -> Callable[[], Callable[[], Any]]:
        def build() -> Callable[[], Any]:
            kernel = numba_kernel(parallel)
            return lambda: kernel(x)

        return build

    def jax_vg() -> Callable[[], Any]:
        jax, jnp = peers.jax(), jax_numpy()
        return jax_call(jax.jit(jax.value_and_grad(lambda v: chain(jnp, v))), x)

    def pytensor_vg(mode: str) -> Callable[[], Any]:
        pytensor = peers.pytensor()
        v = pytensor_vector(x.dtype)
        value = chain(pytensor.tensor, v)
        fn = pytensor_function([v], [value, pytensor.grad(value, v)], mode)
        return lambda: fn(x)

    def autograd_vg() -> Callable[[], Any]:
        anp = autograd_numpy()
        fn = peers.autograd().value_and_grad(lambda v: chain(anp, v))
        return lambda: fn(x)

    def tracegrad_vg() -> Callable[[], Any]:
        t = tnp()
        fn = tg("jit")(tg("value_and_grad")(lambda v: chain(t, v)))
        return lambda: fn(x)

    return [
        Impl("numpy", numpy_hand, note="hand derivative"),
        Impl("numba", numba_hand(False), note="hand derivative"),
        Impl("numba parallel", numba_hand(True), note="hand derivative"),
        Impl("jax.jit(value_and_grad)", jax_vg),
        *[Impl(name, partial(pytensor_vg, mode)) for name, mode in PYTENSOR_MODES],
        Impl("autograd", autograd_vg),
        Impl(f"{TRACEGRAD_NAME} jit(value_and_grad)", tracegrad_vg, is_tracegrad=True),
    ]


def run(ctx: Context) -> list[Table]:
    n = size(ctx)
    x = np.random.default_rng(7).uniform(-3.0, 3.0, n)
    floor, source = bandwidth.floor_gbps(ctx)
    case = Case(
        NAME,
        f"value and gradient of sum(sin(x)*cos(x) + x**2), n={n:.0e} float64",
        lambda: hand_value_and_grad(x),
        impls(x),
        rtol=tolerance(np.float64),
        dtype=np.dtype(np.float64),
        metrics=floor_metrics(n, 16, floor),
        metric_names=("ns/elem", "GB/s", "x floor"),
    )
    note = f"x floor: median / (16 B/elem at the {floor:.1f} GB/s floor, {source})"
    return [timing_table(case.key, ctx.run(case), case.metric_names, [note])]
