"""A 2-layer MLP step: loss and the gradient of all parameters.

Batch 256, 784-256 tanh-10, softmax cross-entropy (mean over the batch). GFLOP/s counts the
three matrix products of each layer (forward, weight gradient, input gradient; the first
layer's input gradient is not needed): 2*B*(2*784*256 + 3*256*10) = 209 MFLOP per step.
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
from bench.workloads.common import (
    PYTENSOR_MODES,
    TRACEGRAD_NAME,
    autograd_numpy,
    jax_call,
    jax_numpy,
    pytensor_function,
    pytensor_matrix,
    pytensor_tensor,
    pytensor_vector,
    tg,
    tnp,
)

NAME = "mlp"
DTYPES = (np.float32, np.float64)
Arrays = tuple[np.ndarray, ...]


def shape(ctx: Context) -> tuple[int, int, int, int]:
    """(batch, inputs, hidden, classes)."""
    return (16, 32, 16, 10) if ctx.settings.tiny else (256, 784, 256, 10)


def flops(batch: int, n_in: int, n_hidden: int, n_out: int, with_grad: bool = True) -> float:
    products = (
        2 * n_in * n_hidden + 3 * n_hidden * n_out
        if with_grad
        else (n_in * n_hidden + n_hidden * n_out)
    )
    return 2.0 * batch * products


def make_data(dims: tuple[int, int, int, int], dtype: type) -> tuple[Arrays, Arrays]:
    """((w1, b1, w2, b2), (x, one-hot labels)) in ``dtype``."""
    batch, n_in, n_hidden, n_out = dims
    rng = np.random.default_rng(784)
    params = (
        rng.standard_normal((n_in, n_hidden)) / np.sqrt(n_in),
        rng.standard_normal(n_hidden) * 0.1,
        rng.standard_normal((n_hidden, n_out)) / np.sqrt(n_hidden),
        rng.standard_normal(n_out) * 0.1,
    )
    x = rng.random((batch, n_in))
    y = np.eye(n_out)[rng.integers(0, n_out, batch)]
    return tuple(p.astype(dtype) for p in params), (x.astype(dtype), y.astype(dtype))


def mlp_loss(xp: Any, w1: Any, b1: Any, w2: Any, b2: Any, x: Any, y: Any, batch: int) -> Any:
    """Mean softmax cross-entropy, written once for every numpy-like namespace ``xp``."""
    h = xp.tanh(xp.dot(x, w1) + b1)
    logits = xp.dot(h, w2) + b2
    z = logits - xp.max(logits, axis=1, keepdims=True)
    log_probs = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
    return -xp.sum(y * log_probs) / batch


def hand_backprop(params: Arrays, data: Arrays) -> tuple[Any, Arrays]:
    """Loss and (dw1, db1, dw2, db2), written out by hand in numpy."""
    w1, b1, w2, b2 = params
    x, y = data
    batch = x.shape[0]
    h = np.tanh(x @ w1 + b1)
    logits = h @ w2 + b2
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    total = e.sum(axis=1, keepdims=True)
    loss = -np.sum(y * (z - np.log(total))) / batch
    dlogits = (e / total - y) / batch  # rows of y sum to one
    dh = (dlogits @ w2.T) * (1 - h * h)
    return loss, (x.T @ dh, dh.sum(axis=0), h.T @ dlogits, dlogits.sum(axis=0))


def as64(arrays: Arrays) -> Arrays:
    return tuple(a.astype(np.float64) for a in arrays)


def pytensor_inputs(params: Arrays, data: Arrays) -> list[Any]:
    dtype = params[0].dtype
    return [
        pytensor_matrix(dtype, "w1"),
        pytensor_vector(dtype, "b1"),
        pytensor_matrix(dtype, "w2"),
        pytensor_vector(dtype, "b2"),
        pytensor_matrix(dtype, "x"),
        pytensor_matrix(dtype, "y"),
    ]


def tracegrad_value_and_grad(f: Callable[..., Any]) -> Callable[..., Any]:
    try:
        return tg("value_and_grad")(f, argnums=(0, 1, 2, 3))
    except TypeError as exc:
        message = f"tracegrad.value_and_grad(argnums=(0, 1, 2, 3)) failed: {exc}"
        raise peers.UnavailableError(message) from exc


def step_impls(params: Arrays, data: Arrays) -> list[Impl]:
    """Loss and gradient of the four parameters."""
    batch = data[0].shape[0]
    args = (*params, *data)

    def numpy_hand() -> Callable[[], Any]:
        return lambda: hand_backprop(params, data)

    def jax_step() -> Callable[[], Any]:
        jax, jnp = peers.jax(), jax_numpy()
        fn = jax.value_and_grad(lambda *a: mlp_loss(jnp, *a, batch), argnums=(0, 1, 2, 3))
        return jax_call(jax.jit(fn), *args)

    def pytensor_step(mode: str) -> Callable[[], Any]:
        pytensor = peers.pytensor()
        inputs = pytensor_inputs(params, data)
        loss = mlp_loss(pytensor_tensor(), *inputs, batch)
        fn = pytensor_function(inputs, [loss, *pytensor.grad(loss, inputs[:4])], mode)
        return lambda: fn(*args)

    def autograd_step() -> Callable[[], Any]:
        anp = autograd_numpy()
        fn = peers.autograd().value_and_grad(lambda p: mlp_loss(anp, *p, *data, batch))
        return lambda: fn(params)

    def tracegrad_step() -> Callable[[], Any]:
        t = tnp()
        fn = tg("jit")(tracegrad_value_and_grad(lambda *a: mlp_loss(t, *a, batch)))
        return lambda: fn(*args)

    return [
        Impl("numpy", numpy_hand, note="hand-written backprop"),
        Impl("jax.jit(value_and_grad)", jax_step),
        *[Impl(name, partial(pytensor_step, mode)) for name, mode in PYTENSOR_MODES],
        Impl("autograd", autograd_step),
        Impl(f"{TRACEGRAD_NAME} jit(value_and_grad)", tracegrad_step, is_tracegrad=True),
    ]


def loss_impls(params: Arrays, data: Arrays) -> list[Impl]:
    """The loss alone, for the gradient-cost workload (same order as ``step_impls``)."""
    batch = data[0].shape[0]
    args = (*params, *data)

    def numpy_loss() -> Callable[[], Any]:
        return lambda: mlp_loss(np, *args, batch)

    def jax_loss() -> Callable[[], Any]:
        jax, jnp = peers.jax(), jax_numpy()
        return jax_call(jax.jit(lambda *a: mlp_loss(jnp, *a, batch)), *args)

    def pytensor_loss(mode: str) -> Callable[[], Any]:
        inputs = pytensor_inputs(params, data)
        fn = pytensor_function(inputs, mlp_loss(pytensor_tensor(), *inputs, batch), mode)
        return lambda: fn(*args)

    def autograd_loss() -> Callable[[], Any]:
        anp = autograd_numpy()
        return lambda: mlp_loss(anp, *args, batch)

    def tracegrad_loss() -> Callable[[], Any]:
        t = tnp()
        fn = tg("jit")(lambda *a: mlp_loss(t, *a, batch))
        return lambda: fn(*args)

    return [
        Impl("numpy", numpy_loss),
        Impl("jax.jit", jax_loss),
        *[Impl(name, partial(pytensor_loss, mode)) for name, mode in PYTENSOR_MODES],
        Impl("autograd", autograd_loss, note="forward is plain numpy"),
        Impl(f"{TRACEGRAD_NAME} jit", tracegrad_loss, is_tracegrad=True),
    ]


def gflops_metric(total_flops: float) -> Metrics:
    return lambda seconds: {"GFLOP/s": total_flops / seconds / 1e9}


def step_case(ctx: Context, dtype: type) -> Case:
    dims = shape(ctx)
    params, data = make_data(dims, dtype)
    return Case(
        NAME,
        "loss and gradient, batch {} {}-{} tanh-{}, {}".format(*dims, np.dtype(dtype).name),
        lambda: hand_backprop(as64(params), as64(data)),
        step_impls(params, data),
        rtol=tolerance(dtype),
        dtype=np.dtype(dtype),
        metrics=gflops_metric(flops(*dims)),
        metric_names=("GFLOP/s",),
    )


def loss_case(ctx: Context, dtype: type) -> Case:
    dims = shape(ctx)
    params, data = make_data(dims, dtype)
    return Case(
        NAME,
        "loss only, batch {} {}-{} tanh-{}, {}".format(*dims, np.dtype(dtype).name),
        lambda: mlp_loss(np, *as64(params), *as64(data), dims[0]),
        loss_impls(params, data),
        rtol=tolerance(dtype),
        dtype=np.dtype(dtype),
        metrics=gflops_metric(flops(*dims, with_grad=False)),
        metric_names=("GFLOP/s",),
    )


def run(ctx: Context) -> list[Table]:
    tables = []
    for dtype in DTYPES[:1] if ctx.settings.quick else DTYPES:  # --quick: float32 only
        case = step_case(ctx, dtype)
        note = f"{flops(*shape(ctx)) / 1e6:.0f} MFLOP per step (matrix products only)"
        tables.append(timing_table(case.key, ctx.run(case), case.metric_names, [note]))
    return tables
