"""Correctness check of one implementation's result against the float64 numpy reference."""

from __future__ import annotations

from typing import Any

import numpy as np


def flatten(result: Any) -> list[np.ndarray]:
    """Arrays of a (possibly nested) tuple/list/dict result, in order."""
    if isinstance(result, (tuple, list)):
        return [arr for item in result for arr in flatten(item)]
    if isinstance(result, dict):
        return [arr for key in sorted(result) for arr in flatten(result[key])]
    return [np.asarray(result)]


def mismatch(got: Any, want: Any, rtol: float) -> str | None:
    """Why ``got`` does not match ``want`` (None when it does).

    Each output array is compared on the scale of its reference: the largest absolute error
    must be at most ``rtol`` times the largest absolute reference value.
    """
    got_arrays, want_arrays = flatten(got), flatten(want)
    if len(got_arrays) != len(want_arrays):
        return f"{len(got_arrays)} outputs, expected {len(want_arrays)}"
    for index, (a, b) in enumerate(zip(got_arrays, want_arrays, strict=True)):
        if a.shape != b.shape:
            return f"output {index} has shape {a.shape}, expected {b.shape}"
        a64 = a.astype(np.float64)
        b64 = b.astype(np.float64)
        if not np.all(np.isfinite(a64)):
            return f"output {index} has non-finite values"
        scale = float(np.max(np.abs(b64))) if b64.size else 0.0
        error = float(np.max(np.abs(a64 - b64))) if b64.size else 0.0
        if error > rtol * max(scale, np.finfo(np.float64).tiny):
            return f"output {index}: max error {error:.3g} on scale {scale:.3g} (rtol {rtol:g})"
    return None


def result_dtype(result: Any) -> np.dtype | None:
    """The dtype of the first floating-point array in the result, if any."""
    for arr in flatten(result):
        if np.issubdtype(arr.dtype, np.floating):
            return arr.dtype
    return None


def tolerance(dtype: np.dtype | type) -> float:
    """Default relative tolerance for results computed in ``dtype``."""
    return 5e-4 if np.dtype(dtype) == np.float32 else 1e-9
