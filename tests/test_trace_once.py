"""Threads that call a jitted function at once trace each specialization once (#12 item 11):
the first traces while the others wait for its result, instead of all of them tracing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import tracegrad

THREADS = 8


def run_together(f: Callable[[np.ndarray], Any], x: np.ndarray) -> tuple[list, list]:
    """Call ``f(x)`` from THREADS threads released by one barrier: (results, errors)."""
    barrier = threading.Barrier(THREADS)
    results: list = []
    errors: list = []

    def worker() -> None:
        barrier.wait()
        try:
            results.append(f(x))
        except Exception as error:  # noqa: BLE001 -- reported to the test
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_eight_threads_trace_one_specialization_once() -> None:
    calls = []

    def slow(x: Any) -> Any:
        calls.append(1)  # runs once per trace
        time.sleep(0.05)  # the first trace is still running when the other threads arrive
        return np.sum(x * 2.0)

    f = tracegrad.jit(slow)
    results, errors = run_together(f, np.arange(4.0))
    assert not errors, errors
    assert [float(r) for r in results] == [12.0] * THREADS
    assert len(calls) == 1
    assert f.trace_count == 1


def test_a_failed_trace_is_retried_by_one_waiting_thread_only() -> None:
    # the waiting threads must not all trace after a failure: the next one traces, and the
    # rest take its result from the cache
    calls = []

    def flaky(x: Any) -> Any:
        calls.append(1)
        time.sleep(0.05)
        if len(calls) == 1:
            raise RuntimeError("first trace fails")
        return x + 1.0

    f = tracegrad.jit(flaky)
    results, errors = run_together(f, np.zeros(2))
    assert [str(e) for e in errors] == ["first trace fails"]
    assert all(r.tolist() == [1.0, 1.0] for r in results) and len(results) == THREADS - 1
    assert len(calls) == 2


def test_eight_threads_share_one_trace_of_an_unjitted_gradient() -> None:
    calls = []

    def slow_loss(x: Any) -> Any:
        calls.append(1)  # runs once per trace of the forward function
        time.sleep(0.05)
        return np.sum(np.sin(x) * x)

    g = tracegrad.grad(slow_loss)
    x = np.linspace(0.0, 1.0, 5)
    results, errors = run_together(g, x)
    assert not errors, errors
    want = np.sin(x) + x * np.cos(x)
    assert len(results) == THREADS
    for r in results:
        np.testing.assert_allclose(r, want, rtol=1e-13)
    assert len(calls) == 1
