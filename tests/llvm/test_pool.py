"""Recycled large output buffers (tracegrad/llvm/runtime/pool.py): reused only when unreferenced."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

import tracegrad
from tracegrad.llvm.runtime.pool import MIN_BYTES, OutputPool, output_pool, set_output_pool

N = MIN_BYTES // 8  # float64 elements in the smallest pooled buffer


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


@pytest.mark.parametrize(
    "derive",
    [
        lambda a: a[::2],
        lambda a: a.reshape(2, -1),
        lambda a: a.view(np.int64),
        lambda a: memoryview(a),
        lambda a: np.frombuffer(memoryview(a), np.uint8),
    ],
    ids=["slice", "reshape", "view", "memoryview", "frombuffer"],
)
def test_a_buffer_is_reused_only_when_nothing_references_it(derive) -> None:  # type: ignore[no-untyped-def]
    pool = OutputPool(budget_bytes=1 << 30)
    a = pool.empty((N,), np.float64)
    first = _address(a)
    keep = derive(a)
    del a
    b = pool.empty((N,), np.float64)
    assert _address(b) != first  # something derived from the first buffer is alive
    del keep
    c = pool.empty((N,), np.float64)
    assert _address(c) == first and pool.reused == 1 and pool.created == 2


def test_small_arrays_and_a_zero_budget_bypass_the_pool() -> None:
    pool = OutputPool(budget_bytes=1 << 30)
    small = pool.empty((10,), np.float64)
    assert small.flags.owndata and pool.created == 0
    off = OutputPool(budget_bytes=0)
    assert off.empty((N,), np.float64).flags.owndata and off.created == 0


def test_the_budget_caps_retained_bytes() -> None:
    pool = OutputPool(budget_bytes=MIN_BYTES)
    held = [pool.empty((N,), np.float64) for _ in range(3)]
    assert pool.created == 3 and pool._held == MIN_BYTES
    del held
    pool.empty((N,), np.float64)
    assert pool.reused == 1


def test_free_buffers_of_other_sizes_make_room_for_new_ones() -> None:
    pool = OutputPool(budget_bytes=2 * MIN_BYTES)
    a, b = pool.empty((N,), np.float64), pool.empty((N,), np.float64)
    assert pool._held == 2 * MIN_BYTES
    del a, b  # both free now
    big = pool.empty((2 * N,), np.float64)  # needs both slots' bytes
    assert pool._held == 2 * MIN_BYTES and pool._buffers[MIN_BYTES] == []
    kept = pool.empty((N,), np.float64)  # big is alive: nothing to evict, not retained
    assert pool._held == 2 * MIN_BYTES and not kept.flags.owndata
    del big
    again = pool.empty((2 * N,), np.float64)
    assert pool.reused == 1 and again.nbytes == 2 * MIN_BYTES


def test_jit_outputs_stay_fresh_across_calls() -> None:
    f = tracegrad.jit(lambda x: np.exp(x) * 2.0)
    x = np.linspace(-1, 1, 2 * N)
    kept = f(x)
    snapshot = kept.copy()
    for _ in range(4):
        other = f(x + 1.0)
        assert not np.shares_memory(other, kept)
    np.testing.assert_array_equal(kept, snapshot)  # never overwritten by later calls
    before = output_pool().reused
    del kept, other
    f(x)
    assert output_pool().reused > before  # the freed outputs were recycled


def test_threads_never_share_a_buffer() -> None:
    pool = OutputPool(budget_bytes=1 << 30)
    errors: list[str] = []

    def work(k: int) -> None:
        for _ in range(30):
            a = pool.empty((N,), np.float64)
            a.fill(k)
            if not np.all(a == k):
                errors.append(f"thread {k} saw another thread's writes")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.fixture(autouse=True)
def _restore_budget() -> object:
    yield
    set_output_pool(256)


@pytest.mark.parametrize("free", list(itertools.permutations(range(3), 2)))
def test_eviction_finds_free_buffers_in_any_position(free: tuple[int, int]) -> None:
    """Regression: eviction removed a buffer with ``list.remove``, which compares arrays with
    ``==`` and raised once the free buffer was not first in its bucket."""
    pool = OutputPool(budget_bytes=3 * MIN_BYTES)
    held = [pool.empty((N,), np.float64) for _ in range(3)]
    alive = [a for i, a in enumerate(held) if i not in free]
    del held
    big = pool.empty((2 * N,), np.float64)  # needs both free slots' bytes
    assert pool._held == 3 * MIN_BYTES
    assert len(pool._buffers[MIN_BYTES]) == 1
    assert pool._buffers[MIN_BYTES][0] is alive[0].base  # the referenced one stayed
    assert big.nbytes == 2 * MIN_BYTES


def test_eviction_through_jit_with_a_live_output() -> None:
    """The reported sequence: a = f(x); b = f(x); del b; then a call needing eviction."""
    set_output_pool(16)
    try:
        f = tracegrad.jit(lambda x: x * 2.0)
        x = np.ones(1_000_000)  # 8 MB outputs: two fill the 16 MB budget
        a = f(x)
        b = f(x)
        del b
        out = f(np.ones(2_000_000))  # 16 MB: the free buffer must be evicted
        np.testing.assert_array_equal(out, 2.0)
        np.testing.assert_array_equal(a, 2.0)
    finally:
        set_output_pool(256)
