"""Native loops (tracegrad.llvm.plan.loops): a scan whose body is compiled kernels runs as one
LLVM function; its results equal the reference interpreter's on bodies that swap carries,
return old carries as ys, carry ints, return constants, run in reverse, or run 0 or 1 times."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad
from tracegrad.ir.interpreter import evaluate
from tracegrad.ir.passes import optimize
from tracegrad.llvm.backend import LLVMBackend
from tracegrad.llvm.plan.loops import LoopRun


def swap(c, x):
    a, b = c
    return (b, a + x), a


def with_int_counter(c, x):
    i, v = c
    return (i + 1, np.sin(v) * x + i), v * 2.0


def constant_y(c, x):
    return c * x + 1.0, 3.0


BODIES = {"swap": swap, "int counter": with_int_counter, "constant y": constant_y}
INITS = {"swap": (np.array([1.0, 2.0]), np.array([0.5, -1.0])),
         "int counter": (0, np.array([0.1, 0.2])), "constant y": np.array([0.3, 0.7])}  # fmt: skip


def compiled_and_reference(fn, *args):
    function = optimize(tracegrad.make_ir(fn)(*args))
    exe = LLVMBackend().compile(function)
    leaves = [
        np.asarray(a, dtype=p.dtype.numpy) for a, p in zip(args, function.params, strict=False)
    ]
    return exe, exe(leaves), evaluate(function, leaves)


@pytest.mark.parametrize("name", sorted(BODIES))
@pytest.mark.parametrize("length", [0, 1, 7])
@pytest.mark.parametrize("reverse", [False, True])
def test_native_scan_equals_the_interpreter(name: str, length: int, reverse: bool) -> None:
    xs = np.linspace(0.5, 1.5, length * 2).reshape(length, 2)

    def f(xs):
        return tracegrad.scan(BODIES[name], INITS[name], xs, reverse=reverse)

    exe, got, expected = compiled_and_reference(f, xs)
    # a scan of length 0 is folded away by the optimizer: no loop is left to run
    assert any(isinstance(r, LoopRun) for r in exe.runs) == (length > 0)
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape and g.dtype == e.dtype
        np.testing.assert_allclose(g, e, rtol=1e-14, atol=1e-300)


def test_native_gradient_loops_equal_the_interpreter() -> None:
    def loss(x):
        return tracegrad.fori_loop(0, 25, lambda i, v: np.sin(v) * 0.9 + 0.05 * v * v, x).sum()

    exe, got, expected = compiled_and_reference(tracegrad.grad(loss), np.linspace(-1, 1, 33))
    assert sum(isinstance(r, LoopRun) for r in exe.runs) == 2  # forward and backward
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-13)


def test_a_body_with_a_batched_matmul_keeps_the_numpy_step() -> None:
    w = np.eye(3) * 0.5

    def f(x):  # a stack of matrix products: not a single gemm, numpy runs the body
        return tracegrad.fori_loop(0, 4, lambda i, v: np.tanh(v @ w), x)

    exe, got, expected = compiled_and_reference(f, np.ones((2, 2, 3)))
    assert not any(isinstance(r, LoopRun) for r in exe.runs)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-14)


@pytest.mark.parametrize("reverse", [False, True])
def test_checkpointed_scans_run_as_nested_native_loops(reverse: bool) -> None:
    def loss(x):
        step = lambda c, xi: (np.sin(c) * xi + 0.1 * c, c * xi)  # noqa: E731
        c, ys = tracegrad.scan(step, x, np.linspace(0.5, 1.5, 23), checkpoint=5, reverse=reverse)
        return c.sum() + ys.sum()

    exe, got, expected = compiled_and_reference(tracegrad.grad(loss), np.array([0.3, -0.4]))
    assert all(type(r).__name__ != "InterpretRun" for r in exe.runs)
    assert sum(isinstance(r, LoopRun) for r in exe.runs) >= 2
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-13)


def test_a_body_with_matrix_products_calls_blas_from_native_code() -> None:
    rng = np.random.default_rng(1)
    w, u = rng.normal(size=(5, 5)) * 0.4, rng.normal(size=(3, 5))
    xs = rng.normal(size=(7, 2, 3))

    def loss(w, u, xs):
        def step(h, x):
            h = np.tanh(h @ w + x @ u)
            return h, (h**2).sum()

        return tracegrad.scan(step, np.zeros((2, 5)), xs)[1].sum()

    exe, got, expected = compiled_and_reference(tracegrad.grad(loss, argnums=(0, 1)), w, u, xs)
    # forward and backward loops (the backward one multiplies by transposed views) are native
    assert sum(isinstance(r, LoopRun) for r in exe.runs) == 2
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-13)


def test_native_while_loops_equal_the_interpreter() -> None:
    def f(x, n):
        def body(c):
            k, a, b = c
            return k + 1, b, a + np.sin(b) * 0.5  # swaps carries: staged copies

        return tracegrad.while_loop(lambda c: (c[0] < n) & (c[2].sum() < 50.0), body, (0, x, x))

    exe, got, expected = compiled_and_reference(f, np.array([0.5, 1.0]), 7)
    assert any(isinstance(r, LoopRun) for r in exe.runs)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-14)


def test_an_endless_native_while_loop_stops_on_ctrl_c(tmp_path) -> None:
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    script = textwrap.dedent(
        """
        import numpy as np, tracegrad, sys
        def f(x, n):  # n trips: traced, so one compiled native loop serves every n
            body = lambda c: (c[0] + 1, c[1] * 0.5 + 1.0)
            return tracegrad.while_loop(lambda c: c[0] < n, body, (0, x))[1]
        f = tracegrad.jit(f)
        f(np.zeros(3), 3)  # compiled and run once
        print("ready", flush=True)
        try:
            f(np.zeros(3), 2**62)  # endless in practice
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(7)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(3.0)  # compiling, then looping forever
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 7 and "interrupted" in out
