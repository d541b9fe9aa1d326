"""Checkpointed scans: ``scan(f, init, xs, checkpoint=k)`` keeps the carry of every k-th
iteration for reverse mode instead of every carry, and recomputes the k iterations between two
of them during the backward pass: memory O(n / k + k) carries (O(sqrt n) with ``k = sqrt(n)``,
``checkpoint=True``) for about one more forward pass of compute.

It is a scan of segments: the outer scan's body is the inner scan of k iterations, so reverse
mode stores one carry per segment in the outer loop and, inside the backward loop, one carry per
iteration of the segment being differentiated. Iterations past the last whole segment run as
a short scan of their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from tracegrad import tree
from tracegrad.tracing.trace import is_leaf

Scan = Callable[..., tuple[Any, Any]]


def segment_length(n: int, checkpoint: int | bool) -> int:
    """``k``: ``True`` picks ``ceil(sqrt(n))``; an int must be at least 1."""
    if checkpoint is True:
        return max(1, math.isqrt(max(n - 1, 0)) + 1)
    k = int(checkpoint)
    if k < 1:
        raise ValueError(f"scan: checkpoint must be True or an int >= 1, got {checkpoint!r}")
    return k


def checkpointed_scan(
    scan: Scan, f: Callable[[Any, Any], tuple[Any, Any]], init: Any, xs: Any, n: int, k: int,
    reverse: bool,
) -> tuple[Any, Any]:  # fmt: skip
    """``scan(f, init, xs, length=n, reverse=reverse)`` in segments of ``k`` (module doc)."""
    whole = (n // k) * k
    if whole == 0 or k == 1:
        return scan(f, init, xs, length=n, reverse=reverse)
    head, tail = _split(xs, whole)

    def segment(carry: Any, x: Any) -> tuple[Any, Any]:
        return scan(f, carry, x, length=k, reverse=reverse)

    def segments(carry: Any) -> tuple[Any, Any]:
        carry, ys = scan(segment, carry, _fold(head, k), length=whole // k, reverse=reverse)
        return carry, _unfold(ys)

    def rest(carry: Any) -> tuple[Any, Any]:
        return scan(f, carry, tail, length=n - whole, reverse=reverse)

    if n == whole:
        return segments(init)
    if reverse:  # a reverse scan meets the last iterations first
        carry, ys_tail = rest(init)
        carry, ys_head = segments(carry)
    else:
        carry, ys_head = segments(init)
        carry, ys_tail = rest(carry)
    return carry, _join(ys_head, ys_tail)


def _map(fn: Callable[[Any], Any], x: Any) -> Any:
    leaves, treedef = tree.flatten(x, is_leaf=is_leaf)
    return tree.unflatten(treedef, [fn(leaf) for leaf in leaves])


def _split(xs: Any, at: int) -> tuple[Any, Any]:
    return _map(lambda a: a[:at], xs), _map(lambda a: a[at:], xs)


def _fold(xs: Any, k: int) -> Any:
    return _map(lambda a: a.reshape((a.shape[0] // k, k, *a.shape[1:])), xs)


def _unfold(ys: Any) -> Any:
    return _map(lambda a: a.reshape((a.shape[0] * a.shape[1], *a.shape[2:])), ys)


def _join(head: Any, tail: Any) -> Any:
    head_leaves, treedef = tree.flatten(head, is_leaf=is_leaf)
    tail_leaves, _ = tree.flatten(tail, is_leaf=is_leaf)
    joined = [np.concatenate([h, t]) for h, t in zip(head_leaves, tail_leaves, strict=True)]
    return tree.unflatten(treedef, joined)
