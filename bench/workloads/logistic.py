"""The tutorial's logistic-sum gradient: d/dx sum(1 / (1 + exp(-x))).

Reported per element and against the bandwidth floor: the gradient reads x and writes dx, so
a kernel at the floor moves 2 * itemsize bytes per element (16 for float64, 8 for float32).
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
from bench.runner import Case, Impl, Metrics
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

NAME = "logistic"
DTYPES = (np.float64, np.float32)


def logistic_sum(xp: Any, x: Any) -> Any:
    """The function itself, written once for every numpy-like namespace ``xp``."""
    return xp.sum(1.0 / (1.0 + xp.exp(-x)))


def hand_grad(x: np.ndarray) -> np.ndarray:
    s = 1.0 / (1.0 + np.exp(-x))
    return s * (1.0 - s)


def sizes(ctx: Context) -> list[int]:
    return [10**2, 10**3] if ctx.settings.tiny else [10**3, 10**5, 10**7]


def make_input(n: int, dtype: type) -> np.ndarray:
    return (np.random.default_rng(n).standard_normal(n) * 2.0).astype(dtype)


def numba_kernels(dtype: type) -> tuple[Callable[..., Any], Callable[..., Any], Any]:
    """(gradient, gradient with parallel loops, the constant one in ``dtype``)."""
    nb = peers.numba()
    one = np.dtype(dtype).type(1.0)

    def grad_loop(x: np.ndarray, one: Any) -> np.ndarray:
        out = np.empty_like(x)
        for i in nb.prange(x.shape[0]):
            s = one / (one + np.exp(-x[i]))
            out[i] = s * (one - s)
        return out

    return nb.njit(grad_loop), nb.njit(parallel=True)(grad_loop), one


def numba_value_kernels(dtype: type) -> tuple[Callable[..., Any], Callable[..., Any], Any]:
    nb = peers.numba()
    one = np.dtype(dtype).type(1.0)

    def value_loop(x: np.ndarray, one: Any) -> Any:
        total = 0.0
        for i in nb.prange(x.shape[0]):
            total += one / (one + np.exp(-x[i]))
        return total

    return nb.njit(value_loop), nb.njit(parallel=True)(value_loop), one


def grad_impls(x: np.ndarray) -> list[Impl]:
    def numpy_hand() -> Callable[[], Any]:
        return lambda: hand_grad(x)

    def numba_hand(parallel: bool) -> Callable[[], Callable[[], Any]]:
        def build() -> Callable[[], Any]:
            plain, par, one = numba_kernels(x.dtype.type)
            kernel = par if parallel else plain
            return lambda: kernel(x, one)

        return build

    def jax_grad() -> Callable[[], Any]:
        jax, jnp = peers.jax(), jax_numpy()
        return jax_call(jax.jit(jax.grad(lambda v: logistic_sum(jnp, v))), x)

    def pytensor_grad(mode: str) -> Callable[[], Any]:
        pytensor = peers.pytensor()
        v = pytensor_vector(x.dtype)
        fn = pytensor_function([v], pytensor.grad(logistic_sum(pytensor.tensor, v), v), mode)
        return lambda: fn(x)

    def autograd_grad() -> Callable[[], Any]:
        anp = autograd_numpy()
        fn = peers.autograd().grad(lambda v: logistic_sum(anp, v))
        return lambda: fn(x)

    def tracegrad_grad() -> Callable[[], Any]:
        t = tnp()
        fn = tg("jit")(tg("grad")(lambda v: logistic_sum(t, v)))
        return lambda: fn(x)

    return [
        Impl("numpy", numpy_hand, note="hand-written derivative"),
        Impl("numba", numba_hand(False), note="hand derivative"),
        Impl("numba parallel", numba_hand(True), note="hand derivative"),
        Impl("jax.jit(grad)", jax_grad),
        *[Impl(name, partial(pytensor_grad, mode)) for name, mode in PYTENSOR_MODES],
        Impl("autograd", autograd_grad),
        Impl(f"{TRACEGRAD_NAME} jit(grad)", tracegrad_grad, is_tracegrad=True),
    ]


def value_impls(x: np.ndarray) -> list[Impl]:
    """The function alone (no gradient), for the gradient-cost workload."""

    def numpy_value() -> Callable[[], Any]:
        return lambda: logistic_sum(np, x)

    def numba_value(parallel: bool) -> Callable[[], Callable[[], Any]]:
        def build() -> Callable[[], Any]:
            plain, par, one = numba_value_kernels(x.dtype.type)
            kernel = par if parallel else plain
            return lambda: kernel(x, one)

        return build

    def jax_value() -> Callable[[], Any]:
        jax, jnp = peers.jax(), jax_numpy()
        return jax_call(jax.jit(lambda v: logistic_sum(jnp, v)), x)

    def pytensor_value(mode: str) -> Callable[[], Any]:
        pytensor = peers.pytensor()
        v = pytensor_vector(x.dtype)
        fn = pytensor_function([v], logistic_sum(pytensor.tensor, v), mode)
        return lambda: fn(x)

    def autograd_value() -> Callable[[], Any]:
        anp = autograd_numpy()
        return lambda: logistic_sum(anp, x)

    def tracegrad_value() -> Callable[[], Any]:
        t = tnp()
        fn = tg("jit")(lambda v: logistic_sum(t, v))
        return lambda: fn(x)

    return [
        Impl("numpy", numpy_value),
        Impl("numba", numba_value(False)),
        Impl("numba parallel", numba_value(True)),
        Impl("jax.jit", jax_value),
        *[Impl(name, partial(pytensor_value, mode)) for name, mode in PYTENSOR_MODES],
        Impl("autograd", autograd_value),
        Impl(f"{TRACEGRAD_NAME} jit", tracegrad_value, is_tracegrad=True),
    ]


def floor_metrics(n: int, bytes_per_element: int, floor: float) -> Metrics:
    def metrics(seconds: float) -> dict[str, float]:
        at_floor = bytes_per_element * n / (floor * 1e9)
        return {
            "ns/elem": seconds / n * 1e9,
            "GB/s": bytes_per_element * n / seconds / 1e9,
            "x floor": seconds / at_floor,
        }

    return metrics


def grad_case(ctx: Context, n: int, dtype: type) -> Case:
    x = make_input(n, dtype)
    floor, _ = bandwidth.floor_gbps(ctx)
    return Case(
        NAME,
        f"gradient, n={n:.0e} {np.dtype(dtype).name}",
        lambda: hand_grad(x.astype(np.float64)),
        grad_impls(x),
        rtol=tolerance(dtype),
        dtype=np.dtype(dtype),
        metrics=floor_metrics(n, 2 * np.dtype(dtype).itemsize, floor),
        metric_names=("ns/elem", "GB/s", "x floor"),
    )


def value_case(n: int, dtype: type) -> Case:
    x = make_input(n, dtype)
    return Case(
        NAME,
        f"value only, n={n:.0e} {np.dtype(dtype).name}",
        lambda: logistic_sum(np, x.astype(np.float64)),
        value_impls(x),
        rtol=tolerance(dtype) * 10,
        dtype=None,
    )


def run(ctx: Context) -> list[Table]:
    floor, source = bandwidth.floor_gbps(ctx)
    tables = []
    for dtype in DTYPES:
        for n in sizes(ctx):
            case = grad_case(ctx, n, dtype)
            bpe = 2 * np.dtype(dtype).itemsize
            note = (
                f"x floor: median / ({bpe} B/elem at the {floor:.1f} GB/s floor, {source});"
                " below 1e5 elements the data sit in cache and the floor does not bind"
            )
            tables.append(timing_table(case.key, ctx.run(case), case.metric_names, [note]))
    return tables
