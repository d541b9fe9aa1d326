"""The native whole-call entry (tracegrad.llvm.plan.entry): a hot jit specialization runs as one
builtin (argument checks, output allocation, kernel, result) with no Python in between.

"Handled natively" is checked by making every Python call path of the Jitted raise: the entry
does not reach them for the arguments it takes, and forwards everything else to them.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import tracemalloc
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import tracegrad
from tracegrad.llvm.plan import entry as entry_mod
from tracegrad.llvm.plan.entry_runtime import entry_selftest
from tracegrad.llvm.plan.module import GIL_RELEASE_WORK

pytestmark = pytest.mark.skipif(not entry_selftest(), reason="entry self-test fails here")

WARM = 10  # calls: the backend tiers up after 3, the jit watches for the entry up to 8


def hot(fn: Callable[..., Any], *args: Any) -> tracegrad.Jitted:
    g = tracegrad.jit(fn, backend="llvm")
    for _ in range(WARM):
        g(*args)
    return g


def oracle(fn: Callable[..., Any], *args: Any) -> Any:
    return tracegrad.jit(fn, backend="interpret")(*args)


class _Forbidden(dict):
    def get(self, *args: Any) -> Any:
        raise AssertionError("the Python fast path ran")


def _slow(*args: Any) -> Any:
    raise AssertionError("the Python slow path ran")


@contextlib.contextmanager
def python_paths_forbidden(g: tracegrad.Jitted) -> Iterator[None]:
    """Inside, any call that is not handled natively raises AssertionError."""
    saved = g._fast_one, g._fast
    g._fast_one, g._fast = _Forbidden(), _Forbidden()
    g._call_slow = _slow  # type: ignore[method-assign]
    try:
        yield
    finally:
        g._fast_one, g._fast = saved
        del g._call_slow


def same(a: Any, b: Any) -> None:
    """Bitwise equal arrays (or flat tuples/lists of them) of the same type."""
    assert type(a) is type(b)
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y)
        return
    assert type(a) is np.ndarray
    assert (a.dtype, a.shape) == (b.dtype, b.shape)
    assert a.tobytes() == b.tobytes()


def square_grad(x: Any) -> Any:
    return tracegrad.grad(lambda t: t**2)(x)


SPECIAL = [3.0, -0.0, 0.0, float("nan"), float("inf"), -float("inf"), 5e-324, 1e308, -2.5]


def test_grad_of_square_on_a_float_runs_natively() -> None:
    g = hot(square_grad, 3.0)
    assert type(g).__call__ is g._entry and isinstance(g, tracegrad.Jitted)
    traces = g.trace_count
    with python_paths_forbidden(g):
        for x in SPECIAL:
            same(g(x), oracle(square_grad, x))
    assert g.trace_count == traces
    assert type(g(3.0)) is np.ndarray and g(3.0).shape == ()  # a 0-d array, as before


@pytest.mark.parametrize(
    "fn, args",
    [
        (lambda x: x * 3 - 1, (7,)),
        (lambda x: x // 3 + x % 5, (np.array([-7, 0, 9, 2**62, -(2**63)]),)),
        (lambda b, x: np.where(b, x, -x), (True, 2.5)),
        (lambda x: np.logical_not(x), (np.array([True, False]),)),
        (lambda x: x * 2.0 - 1.0, (np.linspace(-3, 3, 7, dtype=np.float32),)),
        (lambda x, y: x * y + 1.0, (np.ones(3), np.arange(3.0))),
        (lambda x, y: np.maximum(x, y), (np.array([np.nan, 1.0, -0.0]), np.zeros(3))),
        (lambda x, y: x * 2.0, (np.arange(4.0), 1.5)),  # y unused by the kernel
        (lambda x: x + 1.0, (np.zeros((0, 3)),)),
    ],
)
def test_results_are_bitwise_the_interpreters(fn: Callable[..., Any], args: tuple) -> None:
    g = hot(fn, *args)
    with python_paths_forbidden(g):
        got = g(*args)
    same(got, oracle(fn, *args))
    same(got, tracegrad.Jitted.__call__(g, *args))  # the Python path of the same code


def test_math_kernels_match_their_python_path() -> None:
    # exp is the backend's own polynomial (ulps from numpy's): compare with the old path
    x = np.linspace(-3, 3, 7, dtype=np.float32)
    g = hot(lambda t: np.exp(t) * 2.0, x)
    with python_paths_forbidden(g):
        got = g(x)
    same(got, tracegrad.Jitted.__call__(g, x))
    np.testing.assert_allclose(got, np.exp(x) * 2.0, rtol=1e-6)


def test_ints_and_bools_edges() -> None:
    g = hot(lambda x: x + 1, 1)
    with python_paths_forbidden(g):
        for x in (0, -1, 2**63 - 1, -(2**63), 12345678901234):
            same(g(x), oracle(lambda t: t + 1, x))
    # outside int64: the entry declines and jit specializes on the value; 2**70 + 1 is a
    # Python int no tracegrad dtype holds, a clear error (never a wrapped number)
    with pytest.raises(tracegrad.DTypeError):
        Jitted_call = tracegrad.Jitted.__call__  # noqa: N806
        Jitted_call(g, 2**70)
    with pytest.raises(tracegrad.DTypeError):
        g(2**70)
    scaled = hot(lambda x: x * 0.5, 1)
    assert float(scaled(2**70)) == 2.0**69  # numpy's result: the int is exact in float64
    h = hot(lambda b: np.logical_not(b), True)
    with python_paths_forbidden(h):
        same(h(False), oracle(lambda b: np.logical_not(b), False))


def test_tuple_and_list_outputs() -> None:
    vg = hot(tracegrad.value_and_grad(lambda x: np.sin(x) * x), 0.5)
    pair = hot(lambda x: [x + 1.0, x * 2.0], np.arange(3.0))
    with python_paths_forbidden(vg), python_paths_forbidden(pair):
        same(vg(0.25), oracle(tracegrad.value_and_grad(lambda x: np.sin(x) * x), 0.25))
        same(pair(np.ones(3)), oracle(lambda x: [x + 1.0, x * 2.0], np.ones(3)))


def test_other_arguments_fall_back_with_todays_behaviour() -> None:
    g = hot(lambda x: x * 2.0, np.arange(3.0))
    ref = tracegrad.jit(lambda x: x * 2.0, backend="llvm")
    base = np.arange(6.0)
    frozen = np.arange(3.0)
    frozen.flags.writeable = False

    class Sub(np.ndarray):
        pass

    cases = [
        np.arange(3.0, dtype=np.float32),  # other dtype: another specialization
        np.arange(4.0),  # other shape
        base[::2],  # not contiguous
        base[:3].astype(">f8"),  # byte-swapped
        np.float64(2.0),  # a numpy scalar
        2.0,  # a Python scalar
        frozen,  # read-only: the kernel only reads it
    ]
    for x in cases:
        before = np.array(x, copy=True)
        same(g(x), ref(x))
        assert np.array_equal(np.asarray(x), before)
    for f in (g, ref):  # a subclass is refused on every path, the native entry's included
        with pytest.raises(tracegrad.DTypeError, match="ndarray subclass"):
            f(base[:3].view(Sub))
    with python_paths_forbidden(g):
        same(g(frozen), ref(frozen))
        with pytest.raises(AssertionError, match="Python"):
            g(base[::2])
    assert type(g(x=np.ones(3))) is np.ndarray  # keywords go the old way
    for bad in ([np.ones(3), np.ones(3)], [[0.0, 1.0]]):  # arity; a list is a pytree
        with pytest.raises(TypeError):
            g(*bad)
        with pytest.raises(TypeError):
            ref(*bad)


def test_outputs_are_fresh_and_inputs_untouched() -> None:
    g = hot(lambda x: x + 1.0, np.arange(3.0))
    x = np.arange(3.0)
    a, b = g(x), g(x)
    assert a is not b and not np.shares_memory(a, b) and not np.shares_memory(a, x)
    assert a.flags.owndata and a.flags.writeable and a.flags.c_contiguous
    a[:] = -1.0
    assert b.tolist() == [1.0, 2.0, 3.0] and x.tolist() == [0.0, 1.0, 2.0]


def test_every_hot_signature_of_one_jitted_runs_natively() -> None:
    g = tracegrad.jit(square_grad, backend="llvm")
    args = [3.0, np.array(2.0), np.array(1.0, dtype=np.float32)]
    for x in args:
        for _ in range(WARM):
            g(x)
    with python_paths_forbidden(g):
        for x in args:
            same(g(x), oracle(square_grad, x))


def test_no_reference_or_memory_leaks() -> None:
    g = hot(square_grad, 3.0)
    h = hot(lambda x, y: (x * y, x + y), np.ones(3), np.ones(3))
    x, a = float("3.5"), np.ones(3)
    f8 = np.dtype(np.float64)

    def calls(n: int) -> None:
        for _ in range(n):
            g(x)
            h(a, a)
            g(a[1:2].reshape(()))  # another signature: its own entry, later in the chain
            g(x=x)  # keywords: declined by both entries, then Jitted.__call__

    def refcounts() -> tuple[int, ...]:
        gc.collect()  # the keyword calls' slow path leaves cyclic garbage holding dtypes
        return sys.getrefcount(x), sys.getrefcount(a), sys.getrefcount(f8)

    calls(WARM)  # the third call traces and compiles its own specialization
    counts = refcounts()
    calls(10_000)
    assert refcounts() == counts
    r = g(x)
    assert sys.getrefcount(r) == 2  # the local and the call's argument
    tracemalloc.start()
    try:
        for _ in range(1000):
            g(x), h(a, a)
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(20_000):
            g(x), h(a, a)
        assert tracemalloc.get_traced_memory()[0] - start < 64 * 1024
    finally:
        tracemalloc.stop()


def test_threads() -> None:
    g = hot(lambda x, y: x * y + 1.0, np.ones(5), np.ones(5))
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            x = np.full(5, float(k))
            for _ in range(2000):
                assert g(x, x).tolist() == [k * k + 1.0] * 5
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_threads_racing_through_tier_up() -> None:
    g = tracegrad.jit(lambda x, y: x * y + 1.0, backend="llvm")
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            x, y = (np.full(4, float(k)), np.full(4, 2.0)) if k % 2 else (float(k), 2.0)
            for _ in range(200):
                assert np.all(g(x, y) == k * 2.0 + 1.0)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(g._entries) == 2
    with python_paths_forbidden(g):
        assert g(3.0, 2.0).tolist() == 7.0 and g(np.ones(4), np.ones(4)).tolist() == [2.0] * 4


def test_large_kernel_releases_the_gil_and_still_matches() -> None:
    x = np.linspace(-1.0, 1.0, 1 << 17)
    g = hot(lambda t: t * 3.0 + 1.0, x)
    (run,) = g.lower(x).executable.runs  # type: ignore[attr-defined]
    assert run.kernel.work >= GIL_RELEASE_WORK and not run.threaded
    with python_paths_forbidden(g):
        same(g(x), oracle(lambda t: t * 3.0 + 1.0, x))


def test_a_jitted_with_an_entry_is_collected() -> None:
    g = hot(square_grad, 3.0)
    ref = weakref.ref(g)
    del g
    gc.collect()
    assert ref() is None


def test_plans_without_a_single_kernel_get_no_entry() -> None:
    a = np.ones((3, 3))
    two_steps = hot(lambda m: np.exp(m @ m), a)  # matmul then a kernel
    assert two_steps._entry is None and type(two_steps) is tracegrad.Jitted
    interp = tracegrad.jit(square_grad, backend="interpret")
    for _ in range(WARM):
        interp(3.0)
    assert interp._entry is None and float(interp(3.0)) == 6.0


def test_builder_declines_kinds_that_do_not_fit() -> None:
    g = hot(square_grad, 3.0)
    exe = g.lower(3.0).executable
    builder = entry_mod.build_entry(exe)
    assert builder is not None
    assert builder((int,)) is None and builder((bool,)) is None  # a float64 param
    assert builder(((np.float32, ()),)) is None and builder(((">f8", ()),)) is None
    assert builder((float, float)) is None and builder((float,), "tuple") is not None
    native = builder((float,))
    assert native is not None
    assert native(3.0).tolist() == 6.0
    assert native(np.array(3.0)) is NotImplemented  # the default fallback
    assert native(3.0, y=1) is NotImplemented
    calls: list[tuple] = []
    spy = builder((float,), "leaf", lambda *a, **k: calls.append((a, k)) or "fallback")
    assert spy(7) == "fallback" and spy(x=1.0) == "fallback" and spy() == "fallback"
    assert calls == [((7,), {}), ((), {"x": 1.0}), ((), {})]
    assert spy(1.5).tolist() == 3.0 and len(calls) == 3


def test_a_failed_allocation_raises_memoryerror_and_releases_the_others() -> None:
    import uuid

    from tracegrad.llvm.machine import engine

    kernel = f"test_entry_stub_{uuid.uuid4().hex[:12]}"
    name = kernel + ".e"
    outs = [((3,), np.float64), ((1 << 45,), np.float64)]  # 256 TiB: no allocator gives it
    text = entry_mod.entry_ir(name, kernel, (float,), [0], outs, out="tuple")
    text = text.replace(f'declare void @"{kernel}"(ptr, ptr)', "")
    text += f'define void @"{kernel}"(ptr %b, ptr %e) {{\n  ret void\n}}\n'
    module = engine.compile_module(text, opt_level=1, name_hint="stub", exports=[name])
    native = entry_mod._new_builtin(module, name, entry_mod._not_implemented, None)
    with pytest.raises(MemoryError):
        native(1.0)
    tracemalloc.start()
    try:
        with pytest.raises(MemoryError):  # numpy tracks its failed malloc at address 0, once
            native(1.0)
        start = tracemalloc.get_traced_memory()[0]
        failures = 0
        for _ in range(2000):  # not pytest.raises: its records would be the growth
            try:
                native(1.0)
            except MemoryError:
                failures += 1
        assert failures == 2000
        assert tracemalloc.get_traced_memory()[0] - start < 64 * 1024  # the 24-byte outputs
    finally:
        tracemalloc.stop()
