"""Module-level locks that stay usable in a child created by ``os.fork()``.

A forked child has only the thread that called ``fork``; a lock that another thread held
at that moment stays held forever in the child, and the child's first compile deadlocks.
The modules of the backend register their locks here, in one of two ways:

* :func:`reset_in_child` for locks that guard a few Python objects (cache counters, the
  thread pool, the output pool, a jitted function's specialization cache, the IR's name
  counters): the child gets the lock back unlocked
  (``_at_fork_reinit``, what CPython's ``threading`` does for its own locks). Every
  object stays valid at every bytecode; the worst a fork in mid-update leaves is a
  counter one step behind or an output-pool buffer listed but not yet counted against
  the budget, and the thread pool is dropped in the child anyway. Locks are held weakly,
  so per-object locks register too and go away with their object.
* :func:`hold_across_fork` for locks that guard native state (:data:`tracegrad.llvm.
  target.LLVM_LOCK`, llvmlite's lock): an unlocked lock is not enough there, since a
  thread stopped in the middle of LLVM may leave LLVM's own mutexes held and its data
  half-updated. ``fork`` takes these locks first (after the compile in progress, if
  any, finishes) and releases them in parent and child, so the child always sees LLVM
  between two compiles. They are taken in registration order, the nesting order of
  the code; a fork that cannot get one within ``HOLD_TIMEOUT_S`` goes ahead without
  it (the child then resets it) rather than hang the parent.

This module lives in ``ir/`` (it imports only the standard library) so that every layer,
the IR included, can register its locks.

Only ``os.fork()`` (and multiprocessing's "fork" start method) runs these handlers;
``subprocess`` does not need them, the child execs at once.
"""

from __future__ import annotations

import os
import weakref
from typing import Any, TypeVar

__all__ = ["HOLD_TIMEOUT_S", "hold_across_fork", "reset_in_child"]

HOLD_TIMEOUT_S = 30.0  # a compile is well under this; a fork never waits forever

L = TypeVar("L")
_LockSource = Any  # a lock, or a function returning a lock or None (one made later)

_reset: weakref.WeakSet[Any] = weakref.WeakSet()  # locks unlocked in the child
_held: list[_LockSource] = []  # locks taken before fork, in this order
_taken: list[Any] = []  # the held locks the current fork got
_missed: list[Any] = []  # the held locks it did not get (timeout or interrupt)


def reset_in_child(lock: L) -> L:
    """Unlock ``lock`` in a forked child (any ``threading`` lock). Returns the lock, so
    that ``_lock = reset_in_child(threading.Lock())`` is the whole registration."""
    if not hasattr(lock, "_at_fork_reinit"):
        raise TypeError(f"{type(lock).__name__} cannot be reset after fork")
    _reset.add(lock)
    return lock


def hold_across_fork(*locks: _LockSource) -> None:
    """Take these locks, in this order, before every fork. Each argument is a re-entrant
    lock, or a function returning one (or None) when the lock may not exist yet."""
    _held.extend(locks)


def _resolve(source: _LockSource) -> Any:
    if hasattr(source, "acquire"):
        return source
    return source() if callable(source) else None


def _before() -> None:
    _taken.clear()
    _missed.clear()
    for source in _held:
        lock = _resolve(source)
        if lock is None:
            continue
        try:
            got = lock.acquire(timeout=HOLD_TIMEOUT_S)
        except BaseException:  # noqa: BLE001 -- a signal; fork must go on
            got = False
        (_taken if got else _missed).append(lock)


def _after_in_parent() -> None:
    for lock in reversed(_taken):
        lock.release()
    _taken.clear()
    _missed.clear()


def _after_in_child() -> None:
    # The forking thread owns the taken locks in the child too (same thread id), so a
    # release keeps any outer acquisition of its own intact; a lock it could not take
    # may belong to a thread the child does not have.
    for lock in reversed(_taken):
        lock.release()
    for lock in [*_missed, *list(_reset)]:
        lock._at_fork_reinit()
    _taken.clear()
    _missed.clear()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(
        before=_before, after_in_parent=_after_in_parent, after_in_child=_after_in_child
    )
