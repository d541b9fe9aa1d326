"""Runs one implementation of one case in a fresh process: ``python -m bench.child``.

Used where a fresh process is the point (cold and warm-cache compile times) or where a peer
may take too long to compile (graph scale): the parent gives it a timeout. The last line of
stdout is ``BENCH_RESULT <json>``, holding the runner's Result plus the import time.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np

MARKER = "BENCH_RESULT "
GRAPH_WIDTH = 100
# PyTensor walks deep graphs recursively (N = 1000 steps overflows Python's default limit), so
# every implementation runs in a thread with a large stack and a raised recursion limit.
RECURSION_LIMIT = 1_000_000
STACK_BYTES = 1 << 30


def graph_fn(xp: Any, x: Any, steps: int) -> Any:
    """N unrolled elementwise steps, then a sum so that the gradient exists."""
    for _ in range(steps):
        x = xp.sin(x) * 1.0001 + 0.001
    return xp.sum(x)


def graph_hand_grad(
    x0: np.ndarray, steps: int, scale: float = 1.0001, shift: float = 0.001
) -> np.ndarray:
    """d/dx0 of sum(x_steps) for ``x = sin(x) * scale + shift``, reverse mode by hand: keep
    every intermediate, then walk back."""
    xs = np.empty((steps, x0.shape[0]), dtype=x0.dtype)
    x = x0
    for i in range(steps):
        xs[i] = x
        x = np.sin(x) * scale + shift
    grad = np.ones_like(x0)
    for i in range(steps - 1, -1, -1):
        grad = grad * np.cos(xs[i]) * scale
    return grad


def graph_hand_grad_loop(x0: np.ndarray, steps: int) -> np.ndarray:
    """The same, element by element, for Numba."""
    n = x0.shape[0]
    xs = np.empty((steps, n))
    grad = np.empty(n)
    for j in range(n):
        x = x0[j]
        for i in range(steps):
            xs[i, j] = x
            x = np.sin(x) * 1.0001 + 0.001
        g = 1.0
        for i in range(steps - 1, -1, -1):
            g = g * np.cos(xs[i, j]) * 1.0001
        grad[j] = g
    return grad


def logistic_grad_loop(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        s = 1.0 / (1.0 + np.exp(-x[i]))
        out[i] = s * (1.0 - s)
    return out


def graph_builders(steps: int, x0: np.ndarray) -> dict[str, Callable[[], Callable[[], Any]]]:
    from bench import peers
    from bench.workloads import common

    def numpy_hand() -> Callable[[], Any]:
        return lambda: graph_hand_grad(x0, steps)

    def numba_hand() -> Callable[[], Any]:
        fn = peers.numba().njit(graph_hand_grad_loop)
        return lambda: fn(x0, steps)

    def jax_grad() -> Callable[[], Any]:
        jax, jnp = peers.jax(), common.jax_numpy()
        return common.jax_call(jax.jit(jax.grad(lambda v: graph_fn(jnp, v, steps))), x0)

    def pytensor_grad() -> Callable[[], Any]:
        pytensor = peers.pytensor()
        v = common.pytensor_vector(np.float64)
        grad = pytensor.grad(graph_fn(pytensor.tensor, v, steps), v)
        fn = common.pytensor_function([v], grad, "CVM")
        return lambda: fn(x0)

    def autograd_grad() -> Callable[[], Any]:
        anp = common.autograd_numpy()
        fn = peers.autograd().grad(lambda v: graph_fn(anp, v, steps))
        return lambda: fn(x0)

    def tracegrad_grad() -> Callable[[], Any]:
        t = common.tnp()
        fn = common.tg("jit")(common.tg("grad")(lambda v: graph_fn(t, v, steps)))
        return lambda: fn(x0)

    return {
        "numpy": numpy_hand,
        "numba": numba_hand,
        "jax": jax_grad,
        "pytensor-c": pytensor_grad,
        "autograd": autograd_grad,
        "tracegrad": tracegrad_grad,
    }


def logistic_builders(x: np.ndarray) -> dict[str, Callable[[], Callable[[], Any]]]:
    """The logistic gradient, with each framework's disk cache switched on (the parent points
    the caches at a directory of its own through environment variables)."""
    from bench import peers
    from bench.workloads.logistic import grad_impls

    by_name = {impl.name: impl.build for impl in grad_impls(x)}

    def numba_cached() -> Callable[[], Any]:
        fn = peers.numba().njit(cache=True)(logistic_grad_loop)
        return lambda: fn(x)

    return {
        "numpy": by_name["numpy"],
        "numba": numba_cached,
        "jax": by_name["jax.jit(grad)"],
        "pytensor-c": by_name["pytensor C"],
        "pytensor-numba": by_name["pytensor numba"],
        "autograd": by_name["autograd"],
        "tracegrad": by_name["tracegrad jit(grad)"],
    }


# implementation -> the loader in bench.peers that imports its framework
IMPORTS = {
    "numpy": "numpy",
    "numba": "numba",
    "jax": "jax",
    "pytensor-c": "pytensor",
    "pytensor-numba": "pytensor",
    "autograd": "autograd",
    "tracegrad": "tracegrad",
}


def main(argv: list[str] | None = None) -> int:
    sys.setrecursionlimit(RECURSION_LIMIT)
    threading.stack_size(STACK_BYTES)
    status: list[int] = []
    worker = threading.Thread(target=lambda: status.append(run(argv)))
    worker.start()
    worker.join()
    return status[0] if status else 1


def run(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    parser.add_argument("task", choices=("graph", "logistic"))
    parser.add_argument("impl", choices=sorted(IMPORTS))  # graph has no pytensor-numba
    parser.add_argument("n", type=int, help="steps (graph) or elements (logistic)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)

    from bench import peers
    from bench.runner import Case, Impl, run_impl
    from bench.timing import FULL, QUICK

    started = time.perf_counter()
    try:  # the framework's import time, reported apart from compile time
        getattr(peers, IMPORTS[args.impl])() if args.impl != "numpy" else None
    except peers.UnavailableError:
        pass  # the build below raises it again and the runner records the skip
    import_s = time.perf_counter() - started

    if args.task == "graph":
        x0 = np.linspace(-1.0, 1.0, GRAPH_WIDTH)
        builders = graph_builders(args.n, x0)
        reference: Any = graph_hand_grad(x0, args.n)
    else:
        x = np.random.default_rng(args.n).standard_normal(args.n) * 2.0
        builders = logistic_builders(x)
        reference = logistic_grad_loop(x)
    if args.impl not in builders:
        parser.error(f"no {args.impl} implementation of {args.task}")
    impl = Impl(args.impl, builders[args.impl], is_tracegrad=args.impl == "tracegrad")
    case = Case(args.task, f"n={args.n}", lambda: reference, [impl], rtol=1e-9)
    result = run_impl(case, impl, reference, QUICK if args.quick else FULL)
    result.extra["import_s"] = import_s
    print(MARKER + json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
