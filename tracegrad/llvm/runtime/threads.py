"""Split a kernel's outer range across a small persistent thread pool.

Row-parallel kernels get the entry ABI
``void @entry(ptr %buffers, ptr %extents, i64 %start, i64 %stop)`` and process rows
``[start, stop)`` of their outer dimension. :func:`parallel_for` cuts ``[0, n_rows)``
into contiguous chunks that pool threads and the calling thread take one at a time;
each chunk is a ctypes call, and ctypes releases the GIL for the duration of the
native call, so the chunks really run in parallel.

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
* Ctrl-C: Python runs signal handlers in the main thread only, so a KeyboardInterrupt
  can stop the caller anywhere, also while it waits for the workers, but never a
  worker. The caller therefore owns no count anyone waits for: workers count the
  chunks they run, an interrupted caller stops the hand-out (chunks not started are
  dropped, one running finishes) and waits until that count is zero before the
  exception leaves :meth:`ThreadPool.run`; a worker never writes into buffers the
  caller has freed.
* fork: a child has no workers; it drops the inherited pool and starts a new one on
  first use (the pool lock is reset by :mod:`tracegrad.ir.forksafe`).
"""

from __future__ import annotations

import ctypes
import os
import queue
import threading
from collections.abc import Sequence
from typing import Any

from tracegrad.ir import forksafe

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


class _Batch:
    """The chunks of one :meth:`ThreadPool.run` call, handed out one at a time."""

    def __init__(self, fn: Any, buffers: ctypes.Array, extents: ctypes.Array, chunks: list) -> None:
        self._args = (fn, buffers, extents)
        self._chunks = chunks
        self._next = 0  # index of the next chunk to hand out
        self._running = 0  # chunks a worker has taken and not finished
        # an RLock: Condition.wait re-takes it in C without giving way to signals
        self._cond = threading.Condition(threading.RLock())
        self.error: BaseException | None = None  # the first exception of a worker

    def _take(self, by_worker: bool) -> tuple[int, int] | None:
        with self._cond:
            if self._next >= len(self._chunks):
                return None
            self._next += 1
            self._running += by_worker
            return self._chunks[self._next - 1]

    def work(self, by_worker: bool) -> None:
        """Run chunks until none is left; a worker stops the batch at its first error."""
        fn, buffers, extents = self._args
        while (chunk := self._take(by_worker)) is not None:
            if not by_worker:
                fn(buffers, extents, *chunk)
                continue
            error = None
            try:
                fn(buffers, extents, *chunk)
            except BaseException as exc:  # noqa: BLE001 -- handed to the caller
                error = exc
            with self._cond:
                if error is not None and self.error is None:
                    self.error, self._next = error, len(self._chunks)
                self._running -= 1
                if self._running == 0:
                    self._cond.notify_all()

    def settle(self) -> None:
        """Hand out no more chunks; return once no worker runs one. A signal can raise
        out of the wait (the caller then calls again)."""
        with self._cond:
            self._next = len(self._chunks)
            self._cond.wait_for(lambda: self._running == 0)


class ThreadPool:
    """``n_threads - 1`` daemon workers; the caller is the n-th thread."""

    def __init__(self, n_threads: int) -> None:
        if n_threads < 1:
            raise ValueError("n_threads must be >= 1")
        self.n_threads = n_threads
        self._tasks: queue.SimpleQueue[_Batch] = queue.SimpleQueue()
        self._workers = [
            threading.Thread(target=self._work, name=f"tracegrad-worker-{k}", daemon=True)
            for k in range(n_threads - 1)
        ]
        for worker in self._workers:
            worker.start()

    def _work(self) -> None:
        while True:
            self._tasks.get().work(by_worker=True)

    def run(
        self,
        fn: Any,
        buffers: ctypes.Array,
        extents: ctypes.Array,
        chunks: Sequence[tuple[int, int]],
    ) -> None:
        """Run ``fn`` on every (start, stop) chunk, on the workers and this thread."""
        batch = _Batch(fn, buffers, extents, list(chunks))
        interrupt: BaseException | None = None
        try:
            # wake-ups only: a worker woken late, or twice, finds the chunks taken
            for _ in range(min(len(chunks), self.n_threads) - 1):
                self._tasks.put(batch)
            batch.work(by_worker=False)
        finally:
            # Never leave while a worker still writes into the caller's buffers, not even
            # on Ctrl-C: an interrupted wait is resumed, its exception raised afterwards.
            while True:
                try:
                    batch.settle()
                    break
                except BaseException as exc:  # noqa: BLE001 -- re-raised below
                    interrupt = exc
        if interrupt is not None:
            raise interrupt
        if batch.error is not None:
            raise batch.error


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
