"""Recycled buffers for large outputs: no page faults on the hot path.

A fresh ``np.empty`` of tens of megabytes is a new ``mmap``: the first write to every page
faults and the kernel zero-fills it (on this VM a 10^7-element float64 copy into a fresh
array takes about twice as long as into an existing one). Calling the same compiled
function again and again on large arrays (a training loop) would pay that on every call.

The pool keeps the buffers it handed out (up to a byte budget) and reuses one only when
nothing else references it: ``sys.getrefcount`` of the owning buffer equals the pool's own
references (measured at start-up: the count differs between CPython versions, see
:func:`_refcounts`). Every array numpy derives from an output (views, slices, reshapes)
references the owner through ``.base``, so a buffer is never reused while any of them is
alive: outputs stay fresh arrays that alias nothing the caller can see. Outputs from the
pool have ``flags.owndata == False`` (like any view); everything else about them is an
ordinary C-contiguous ndarray.

Configure with :func:`set_output_pool` or ``TRACEGRAD_OUTPUT_POOL_MB`` (default 256; 0
turns recycling off); when a new buffer would exceed the budget, free buffers of
other sizes are forgotten first. Only arrays of at least ``MIN_BYTES`` go through the pool.

>>> pool = OutputPool(budget_bytes=1 << 30)
>>> a = pool.empty((MIN_BYTES // 8,), np.float64)
>>> address = a.ctypes.data
>>> b = pool.empty((MIN_BYTES // 8,), np.float64)  # a is alive: another buffer
>>> b.ctypes.data != address
True
>>> del a
>>> pool.empty((MIN_BYTES // 8,), np.float64).ctypes.data == address  # recycled
True
"""

from __future__ import annotations

import math
import os
import sys
import threading
from typing import Any

import numpy as np

from tracegrad.ir import forksafe

_np_empty = np.empty
MIN_BYTES = 1 << 22  # 4 MiB: below this malloc reuses freed memory without faults


def _budget_from_env() -> int:
    try:
        return max(0, int(float(os.environ.get("TRACEGRAD_OUTPUT_POOL_MB", "256")) * 2**20))
    except ValueError:
        return 256 * 2**20


class OutputPool:
    """Owner-tracked large buffers (see the module docstring)."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._buffers: dict[int, list[np.ndarray]] = {}  # nbytes -> owners handed out
        self._held = 0
        self._lock = threading.Lock()
        self.reused = 0  # statistics, for tests and inspection
        self.created = 0
        self._free_count = _free_count()  # None: refcounts unusable, recycling off

    def empty(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        # on every plan allocation: small arrays leave after one C-level product
        dt = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
        nbytes = math.prod(shape) * dt.itemsize
        if nbytes < MIN_BYTES or self.budget_bytes <= 0 or self._free_count is None:
            return _np_empty(shape, dt)
        owner = self._take(nbytes)
        return owner.view(dt).reshape(shape)

    def _take(self, nbytes: int) -> np.ndarray:
        with self._lock:
            bucket = self._buffers.setdefault(nbytes, [])
            for owner, count in zip(bucket, _refcounts(bucket), strict=True):
                if count == self._free_count:
                    self.reused += 1
                    return owner
            owner = np.empty(nbytes, np.uint8)  # owns its data: views point at it
            self.created += 1
            if self._held + nbytes > self.budget_bytes:
                self._evict(self._held + nbytes - self.budget_bytes)
            if self._held + nbytes <= self.budget_bytes:
                bucket.append(owner)
                self._held += nbytes
            return owner

    def _evict(self, need: int) -> None:
        """Forget free buffers (of any size) until ``need`` bytes are released: shapes that
        stopped occurring do not pin the budget forever. Buffers are told apart by identity:
        ``list.remove`` would compare arrays with ``==``."""
        for nbytes, bucket in list(self._buffers.items()):
            kept = []
            for owner, count in zip(bucket, _refcounts(bucket), strict=True):
                if need > 0 and count == self._free_count:
                    self._held -= nbytes
                    need -= nbytes
                else:
                    kept.append(owner)
            bucket[:] = kept  # in place: _take may hold this very list
            if need <= 0:
                return

    def clear(self) -> None:
        """Forget every buffer (arrays still in use stay valid: they own a reference)."""
        with self._lock:
            self._buffers.clear()
            self._held = 0


def _refcounts(bucket: list[np.ndarray]) -> list[int]:
    """``sys.getrefcount`` of every owner, seen from this loop. The same code measures the
    baseline (:func:`_free_count`): what the pool's own references add up to depends on the
    interpreter (3 on CPython 3.11-3.13; 3.14 loads locals as borrowed references, so its
    count is one lower and a hard-coded 3 would match a buffer still referenced once)."""
    counts = []
    for owner in bucket:
        counts.append(sys.getrefcount(owner))
    return counts


def _free_count() -> int | None:
    """What :func:`_refcounts` reports for an owner nothing else references, or None when
    the count does not move by exactly one per outside reference (no recycling then)."""
    if not getattr(sys, "_is_gil_enabled", lambda: True)():
        return None  # free-threaded build: counts read while other threads run
    try:
        probe = [np.empty(1, np.uint8)]
        free = _refcounts(probe)[0]
        held = probe[0]
        referenced = _refcounts(probe)[0]
        del held
    except (AttributeError, TypeError):  # no sys.getrefcount (not CPython)
        return None
    return free if referenced == free + 1 else None


_POOL = OutputPool(_budget_from_env())
forksafe.reset_in_child(_POOL._lock)


def output_pool() -> OutputPool:
    return _POOL


def set_output_pool(megabytes: float) -> None:
    """Byte budget of recycled output buffers in MiB (0 turns recycling off).

    >>> set_output_pool(256); output_pool().budget_bytes == 256 * 2**20
    True
    >>> set_output_pool(512)
    """
    _POOL.clear()
    _POOL.budget_bytes = max(0, int(megabytes * 2**20))
