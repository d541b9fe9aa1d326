"""jit-, grad- and tracegrad.function-made objects pickle (#12 item 6) without their compiled
state, so process pools and Dask run them; the other side starts cold and traces, then
compiles or loads from the disk cache (docs/distributed.md)."""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tracegrad
import tracegrad.tensor as T  # noqa: N812 (Theano's spelling)
from tracegrad.backend import get_backend
from tracegrad.llvm.machine.cache import cache_info


def loss(w: Any) -> Any:
    return np.sum(np.tanh(w) ** 2 + 0.5 * w)


def loss_with_aux(w: Any) -> tuple[Any, Any]:
    return loss(w), w[0]


# module-level: pickled by name, so every worker process imports one and compiles it once
jgrad = tracegrad.jit(tracegrad.grad(loss))


def chunks(n: int) -> list[np.ndarray]:
    return [np.linspace(-2.0, 2.0, 64) * (1 + i / n) for i in range(n)]


def call_and_count(f: tracegrad.Jitted, x: np.ndarray) -> tuple[np.ndarray, int]:
    """Run in a worker: the result and how often this process's copy of ``f`` traced."""
    return f(x), f.trace_count


def compile_counts() -> dict[str, int]:
    """Run in a worker: jgrad's traces and the compile-cache events of this process."""
    info = cache_info()
    return {"traces": jgrad.trace_count, "compiled": info.misses, "loaded": info.disk_hits}


def roundtrip(obj: Any) -> Any:
    return pickle.loads(pickle.dumps(obj))


# ---- in one process -------------------------------------------------------------------------


def test_a_module_level_jitted_function_pickles_by_name() -> None:
    x = chunks(1)[0]
    jgrad(x)  # compiled state must not travel
    data = pickle.dumps(jgrad)
    assert b"jgrad" in data and len(data) < 200
    assert pickle.loads(data) is jgrad


def test_a_hot_jitted_function_unpickles_cold_and_works() -> None:
    f = tracegrad.jit(loss)  # not a module attribute: pickled as (loss, options)
    x = chunks(1)[0]
    for _ in range(20):  # hot: the native entry may have replaced __call__ by now
        f(x)
    g = roundtrip(f)
    assert type(g) is tracegrad.Jitted and g is not f
    assert g.trace_count == 0 and g.__name__ == "loss"
    for _ in range(20):
        assert float(g(x)) == float(f(x))
    assert g.trace_count == 1 and f.trace_count == 1


def test_static_arguments_and_options_survive() -> None:
    f = tracegrad.jit(np.multiply, static_argnums=1, opt_level=1)
    g = roundtrip(f)
    assert (g.static_argnums, g.opt_level) == ((1,), 1)
    assert g(np.ones(2), 3).tolist() == [3.0, 3.0]


def test_transforms_and_vjp_functions_pickle() -> None:
    x = chunks(1)[0]
    for make in (tracegrad.grad, tracegrad.value_and_grad, tracegrad.jacobian):
        f = make(loss)
        same(roundtrip(f)(x), f(x))
    hessian = tracegrad.hessian(loss)
    np.testing.assert_array_equal(roundtrip(hessian)(x[:4]), hessian(x[:4]))
    with_aux = tracegrad.grad(loss_with_aux, has_aux=True)
    same(roundtrip(with_aux)(x), with_aux(x))
    _, vjp_fn = tracegrad.vjp(np.sin, x)
    same(roundtrip(vjp_fn)(x), vjp_fn(x))


def same(got: Any, want: Any) -> None:
    if isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            same(g, w)
    else:
        np.testing.assert_array_equal(got, want)


def test_lambdas_and_closures_pickle_by_value_with_cloudpickle() -> None:
    pytest.importorskip("cloudpickle")
    scale = 3.0
    f = tracegrad.jit(lambda x: np.sum(x * scale))
    g = tracegrad.jit(tracegrad.grad(lambda w: np.sum(np.sin(w) * scale)))
    x = np.arange(3.0)
    assert float(roundtrip(f)(x)) == 9.0
    np.testing.assert_array_equal(roundtrip(g)(x), g(x))
    data = pickle.dumps(f)
    first = pickle.loads(data)
    assert pickle.loads(data) is first  # restored once per process: traced once


def test_a_closure_that_calls_its_own_jitted_version_gives_a_clear_error() -> None:
    pytest.importorskip("cloudpickle")

    @tracegrad.jit
    def power(x: Any, n: int) -> Any:  # the closure cell holds the Jitted itself
        return x if n == 0 else power(x, n - 1) * x

    with pytest.raises(pickle.PicklingError, match="refers to its own jitted"):
        pickle.dumps(power)


def test_without_cloudpickle_a_lambda_gives_a_clear_error(monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "cloudpickle", None)  # import cloudpickle fails
    f = tracegrad.jit(lambda x: x + 1.0)
    with pytest.raises(pickle.PicklingError, match="pip install cloudpickle"):
        pickle.dumps(f)
    with pytest.raises(pickle.PicklingError, match="cloudpickle"):
        pickle.dumps(tracegrad.grad(lambda x: x * x))


def test_symbolic_functions_pickle_and_keep_their_dim_checks() -> None:
    x, w = T.dvector("x"), T.dmatrix("W")
    f = tracegrad.function([x], T.sum(x**2))
    g = roundtrip(f)
    assert float(g([1.0, 2.0])) == 5.0 and float(g(np.arange(5.0))) == 30.0  # any length
    two = tracegrad.function([x, w], [T.sum(x**2), T.dot(w, x)], name="two")
    back = roundtrip(two)
    same(back(np.ones(3), np.ones((2, 3))), two(np.ones(3), np.ones((2, 3))))
    assert repr(back) == "<tracegrad.function two(x, W)>"
    with pytest.raises(ValueError, match="must be equal"):
        back(np.ones(3), np.ones((2, 4)))


# ---- process pools and Dask -----------------------------------------------------------------


def test_a_spawn_process_pool_maps_a_jitted_gradient(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "cache"))  # the workers' cache
    xs = chunks(6)
    by_value = tracegrad.jit(tracegrad.grad(loss))  # not importable by name
    x = T.dvector("x")
    symbolic = tracegrad.function([x], T.sum(x**2))
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        mapped = list(pool.map(jgrad, xs))
        counted = [pool.submit(call_and_count, by_value, c) for c in xs]
        squares = pool.submit(symbolic, xs[0])
        counted_results = [c.result() for c in counted]
        squares_result = squares.result()
    for got, c in zip(mapped, xs, strict=True):
        np.testing.assert_array_equal(got, jgrad(c))
    for (got, traces), c in zip(counted_results, xs, strict=True):
        np.testing.assert_array_equal(got, by_value(c))
        assert traces == 1  # each worker restored its copy once, not once per task
    np.testing.assert_array_equal(squares_result, symbolic(xs[0]))


def test_a_dask_cluster_maps_a_jitted_gradient_and_survives_a_killed_worker(
    tmp_path: Path,
) -> None:
    distributed = pytest.importorskip("dask.distributed")
    xs = chunks(100)
    expected = [jgrad(c) for c in xs]
    lookups = lookups_per_specialization(xs[0])
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        local_directory=str(tmp_path / "dask"),
        env={"TRACEGRAD_CACHE_DIR": str(tmp_path / "cache")},
        silence_logs=logging.CRITICAL,
    )
    with cluster, distributed.Client(cluster) as client:
        futures = client.map(jgrad, xs, pure=False)
        for done, _ in enumerate(distributed.as_completed(futures), 1):
            if done == 30:
                break
        before = set(client.scheduler_info()["workers"])
        victim = sorted(before)[0]
        client.run(os._exit, 1, workers=[victim], on_error="ignore")  # killed mid-run
        results = client.gather(futures)
        fresh = replacement(client, before)
        late = client.submit(jgrad, xs[0], workers=[fresh], pure=False).result()
        counts = client.run(compile_counts)
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(late, expected[0])
    for worker, count in counts.items():
        assert count["traces"] == 1, (worker, count)
        if get_backend().name == "llvm":  # the interpreter compiles nothing
            # each module of the specialization compiled or loaded once per worker
            assert 1 <= count["compiled"] + count["loaded"] <= lookups, (worker, count, lookups)
    if get_backend().name == "llvm":
        assert counts[fresh]["compiled"] == 0  # the replacement loaded the shared disk cache


def lookups_per_specialization(x: np.ndarray) -> int:
    """How many compiled modules one specialization of jgrad looks up here, warmed up as a
    worker warms it (each module a compile, a disk load or a hit in memory)."""
    before = cache_info()
    f = tracegrad.jit(tracegrad.grad(loss))
    for _ in range(100):
        f(x)
    after = cache_info()
    return after.hits + after.misses - before.hits - before.misses


def replacement(client: Any, before: set[str], timeout: float = 40.0) -> str:
    """The address of the worker the nanny started in place of the killed one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = set(client.scheduler_info()["workers"])
        new = workers - before
        if new and len(workers) == 2:
            return new.pop()
        time.sleep(0.1)
    raise AssertionError(f"no worker replaced the killed one within {timeout} s")
