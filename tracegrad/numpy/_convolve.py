"""1-d ``convolve`` and ``correlate`` with numpy's modes, as one gather and one reduction.

``correlate(a, v, "full")[k] = sum_j a_padded[k + j] * v[j]``, with ``a`` padded by
``len(v) - 1`` zeros on each side: a constant index table gathers every window at once, so
the value and both gradients (through the gather and the product) come from existing rows.
``"same"`` and ``"valid"`` are slices of the full result at numpy's offsets; ``convolve`` is the
correlation with the reversed kernel after numpy's swap of the longer operand to the front.

>>> import numpy as np, tracegrad
>>> import tracegrad.numpy as tnp
>>> a = np.array([1.0, 2.0, 3.0])
>>> tracegrad.jit(lambda a, v: tnp.convolve(a, v))(a, np.array([0.0, 1.0, 0.5]))
array([0. , 1. , 2.5, 4. , 1.5])
>>> tracegrad.grad(lambda v: np.sum(tnp.correlate(a, v, "same")))(np.array([1.0, 1.0]))
array([3., 6.])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir import indexing
from tracegrad.ir.value import Value
from tracegrad.numpy._core import traced

__all__ = ["convolve", "correlate"]

_MODES = ("full", "same", "valid")


def _vector(x: Any, empty: str, scalars: bool) -> Value:
    """A 1-d operand. ``convolve`` reads a 0-d one as one item (numpy's ``ndmin=1``),
    ``correlate`` refuses it as numpy does; 2-d is refused by both."""
    v = b.to_value(x)
    if v.ndim == 0 and not scalars:
        raise ValueError("object of too small depth for desired array")
    if v.ndim == 0:
        v = bs.reshape(v, (1,))
    if v.ndim > 1:
        raise ValueError("object too deep for desired array")
    if v.shape[0] == 0:
        raise ValueError(empty)
    return v


def _full_correlation(a: Value, v: Value) -> Value:
    n, m = int(a.shape[0]), int(v.shape[0])
    pad = b.full((m - 1,), 0, a.dtype)
    padded = bs.concatenate([pad, a, pad], 0) if m > 1 else a
    windows = np.arange(n + m - 1)[:, None] + np.arange(m)[None, :]  # a constant index table
    products = b.mul(indexing.getitem(padded, (windows,)), v)
    total = bs.sum(products, -1)  # numpy keeps the operands' dtype (np.sum widens small ints)
    return total if total.dtype == products.dtype else b.cast(total, products.dtype)


def _slice(full: Value, mode: str, n: int, m: int) -> Value:
    """numpy's window of the full result: ``valid`` has max - min + 1 items, ``same`` max(n, m),
    centred as numpy's correlate2 centres them (it swaps a shorter first operand)."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of 'full', 'same', or 'valid', got {mode!r}")
    if mode == "full":
        return full
    start = min(n, m) - 1 if mode == "valid" else ((m - 1) // 2 if n >= m else n // 2)
    length = max(n, m) - min(n, m) + 1 if mode == "valid" else max(n, m)
    return indexing.getitem(full, (slice(start, start + length),))


@traced
def correlate(a: Any, v: Any, mode: str = "valid") -> Any:
    """numpy.correlate of two 1-d sequences (real: no conjugation), differentiable in both."""
    x = _vector(a, "first array argument cannot be empty", scalars=False)
    y = _vector(v, "second array argument cannot be empty", scalars=False)
    n, m = int(x.shape[0]), int(y.shape[0])
    return _slice(_full_correlation(x, y), mode, n, m)


@traced
def convolve(a: Any, v: Any, mode: str = "full") -> Any:
    """numpy.convolve of two 1-d sequences, differentiable in both."""
    x, y = _vector(a, "a cannot be empty", True), _vector(v, "v cannot be empty", True)
    if y.shape[0] > x.shape[0]:  # numpy's swap: it fixes where "same" is centred
        x, y = y, x
    n, m = int(x.shape[0]), int(y.shape[0])
    flipped = indexing.getitem(y, (slice(None, None, -1),))
    return _slice(_full_correlation(x, flipped), mode, n, m)
