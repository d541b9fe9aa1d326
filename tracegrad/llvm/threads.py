"""Split a kernel's outer range across a small persistent thread pool.

Row-parallel kernels get the entry ABI
``void @entry(ptr %buffers, ptr %extents, i64 %start, i64 %stop)`` and process rows
``[start, stop)`` of their outer dimension. :func:`parallel_for` cuts ``[0, n_rows)``
into contiguous chunks, hands all but one to pool threads and runs the last one on the
calling thread; each chunk is a ctypes call, and ctypes releases the GIL for the
duration of the native call, so the chunks really run in parallel.

Why this shape:

* Waking a Python worker costs 25-80 us on this kind of VM (``docs/llvmlite.md`` section 5),
  so work is split only when each chunk gets at least ``min_rows`` rows (callers pass
  a value worth about 0.5 ms of work; the default assumes cheap elementwise rows).
  A native spin pool would cut the hand-off to under 1 us; this Python pool is the
  simple first step and keeps the same ``parallel_for`` interface.
* Chunk boundaries are multiples of ``align`` rows (default 64), so vector loops start
  at the same alignment as in a single-threaded run; for elementwise kernels every
  output element is computed by the same instructions whatever the split, so results
  are bitwise identical to one thread.
* Thread count: ``TRACEGRAD_NUM_THREADS`` (read when the pool is created), else the
  CPUs this process may run on. The pool is created on first use and its threads are
  daemons, so it never blocks interpreter exit.
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracegrad.llvm import forksafe

__all__ = [
    "ENV_THREADS",
    "RowKernel",
    "ThreadPool",
    "default_num_threads",
    "get_pool",
    "parallel_for",
    "split_rows",
]

ENV_THREADS = "TRACEGRAD_NUM_THREADS"
RowKernel = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)


def default_num_threads() -> int:
    """``TRACEGRAD_NUM_THREADS`` if set (>= 1), else the usable CPU count."""
    env = os.environ.get(ENV_THREADS, "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"{ENV_THREADS} must be an integer, got {env!r}") from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def split_rows(n_rows: int, n_chunks: int, align: int = 1) -> list[tuple[int, int]]:
    """Cut ``[0, n_rows)`` into at most ``n_chunks`` contiguous, non-empty ranges whose
    inner boundaries are multiples of ``align`` and whose sizes differ by <= ``align``."""
    if n_rows <= 0:
        return []
    blocks = -(-n_rows // align)  # ceil
    n_chunks = max(1, min(n_chunks, blocks))
    base, extra = divmod(blocks, n_chunks)
    bounds, start = [], 0
    for k in range(n_chunks):
        stop = min(n_rows, start + (base + (k < extra)) * align)
        bounds.append((start, stop))
        start = stop
    return bounds


@dataclass(frozen=True)
class _Task:
    fn: Any  # a RowKernel
    buffers: ctypes.Array
    extents: ctypes.Array
    start: int
    stop: int
    latch: _Latch


class _Latch:
    """Counts finished chunks; keeps the first exception."""

    def __init__(self, count: int) -> None:
        self._count = count
        self._cond = threading.Condition()
        self.error: BaseException | None = None

    def done(self, error: BaseException | None = None) -> None:
        with self._cond:
            if error is not None and self.error is None:
                self.error = error
            self._count -= 1
            if self._count == 0:
                self._cond.notify_all()

    def wait(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._count == 0)


class ThreadPool:
    """``n_threads - 1`` daemon workers; the caller is the n-th thread."""

    def __init__(self, n_threads: int) -> None:
        if n_threads < 1:
            raise ValueError("n_threads must be >= 1")
        self.n_threads = n_threads
        self._tasks: queue.SimpleQueue[_Task] = queue.SimpleQueue()
        self._workers = [
            threading.Thread(target=self._work, name=f"tracegrad-worker-{k}", daemon=True)
            for k in range(n_threads - 1)
        ]
        for worker in self._workers:
            worker.start()

    def _work(self) -> None:
        while True:
            task = self._tasks.get()
            try:
                task.fn(task.buffers, task.extents, task.start, task.stop)
            except BaseException as exc:  # noqa: BLE001 -- handed to the caller
                task.latch.done(exc)
            else:
                task.latch.done()

    def run(
        self,
        fn: Any,
        buffers: ctypes.Array,
        extents: ctypes.Array,
        chunks: Sequence[tuple[int, int]],
    ) -> None:
        """Run ``fn`` on every (start, stop) chunk; the last one on this thread."""
        *others, mine = chunks
        latch = _Latch(len(others))
        for start, stop in others:
            self._tasks.put(_Task(fn, buffers, extents, start, stop, latch))
        try:
            fn(buffers, extents, mine[0], mine[1])
        finally:
            latch.wait()  # never return while workers still use the buffers
        if latch.error is not None:
            raise latch.error


_pool: ThreadPool | None = None
_pool_lock = forksafe.reset_in_child(threading.Lock())
_kernels: dict[int, Any] = {}  # address -> RowKernel (JIT code is never unloaded)


def _forget_pool_after_fork() -> None:
    """A forked child inherits the pool object but not its worker threads: queued work
    would wait forever. The child starts a fresh pool on first use."""
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_forget_pool_after_fork)


def get_pool() -> ThreadPool:
    """The process-wide pool (created on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPool(default_num_threads())
        return _pool


def parallel_for(
    entry_address: int,
    buffers: Sequence[int],
    extents: Sequence[int],
    n_rows: int,
    *,
    min_rows: int = 1 << 16,
    align: int = 64,
    num_threads: int | None = None,
    pool: ThreadPool | None = None,
) -> int:
    """Run a row kernel over ``[0, n_rows)``, split when each chunk gets >= ``min_rows``.

    ``buffers`` are data pointers; the caller keeps the arrays alive. ``num_threads``
    caps the chunk count (default: the pool size); ``pool`` defaults to :func:`get_pool`.
    Returns the number of chunks used.
    """
    fn = _kernels.get(entry_address)
    if fn is None:
        fn = _kernels.setdefault(entry_address, RowKernel(entry_address))
    bufs = (ctypes.c_void_p * max(len(buffers), 1))(*buffers)
    exts = (ctypes.c_int64 * max(len(extents), 1))(*extents)
    pool = pool or get_pool()
    limit = pool.n_threads if num_threads is None else min(num_threads, pool.n_threads)
    n_chunks = min(limit, n_rows // max(min_rows, 1))
    if n_chunks <= 1:
        if n_rows > 0:
            fn(bufs, exts, 0, n_rows)
        return 1 if n_rows > 0 else 0
    chunks = split_rows(n_rows, n_chunks, align)
    pool.run(fn, bufs, exts, chunks)
    return len(chunks)
