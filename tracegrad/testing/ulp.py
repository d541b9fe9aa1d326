"""Compare against a correctly rounded reference in ulps, never against numpy's own bits.

numpy picks its ``exp``, ``log``, ``sin``, ``cos``, ``tanh``, ``power`` ... loops at run time
from the CPU's features (AVX2, AVX-512, ...), and those loops differ from each other by an
ulp or so. A test that demands tracegrad's ``exp`` equal numpy's bit for bit therefore passes
on one machine and fails on the next. Compare transcendental results here instead: the
reference is evaluated in ``np.longdouble`` (64-bit mantissa on x86-64: 11 more bits than
float64, so rounding it to float64 is correct except in ties far rarer than the bounds we
assert), and the error is measured in ulps of the result's dtype.

Results that are exact in numpy on every CPU (arithmetic, comparisons, integer ops, ``sqrt``)
should still be compared bitwise.

>>> import numpy as np
>>> x = np.linspace(-3, 3, 7)
>>> assert_ulp_close(np.exp(x), np.exp, x, max_ulp=1.0)
>>> bool(ulp_error(np.nextafter(np.exp(x), np.inf), reference(np.exp, x)).max() > 0.5)
True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["assert_ulp_close", "exact_reference_available", "reference", "ulp_error"]

LD = np.longdouble


def exact_reference_available() -> bool:
    """True where ``np.longdouble`` has more mantissa bits than float64 (x86-64 Linux:
    80-bit x87). Elsewhere (aarch64 macOS: long double is float64) the reference would be
    as inexact as the value tested."""
    return np.finfo(LD).nmant > np.finfo(np.float64).nmant


def reference(fn: Callable[..., np.ndarray], *arrays: np.ndarray) -> np.ndarray:
    """``fn`` evaluated on the inputs widened to long double (numpy's long double loops come
    from the C library's ``expl``/``logl``/..., the same on every x86-64 CPU)."""
    with np.errstate(all="ignore"):
        return np.asarray(fn(*(np.asarray(a).astype(LD) for a in arrays)))


def ulp_error(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``|got - ref| / ulp(ref)`` in ulps of ``got``'s dtype, elementwise (float64 array).

    Special values must agree exactly: NaN with NaN, infinities with their sign, zeros with
    their sign; any other disagreement there is an infinite error."""
    got = np.asarray(got)
    fi = np.finfo(got.dtype)
    with np.errstate(all="ignore"):
        ref_rounded = ref.astype(got.dtype)
        _, exponent = np.frexp(ref)
        ulp_exponent = np.maximum(exponent.astype(np.int64) - fi.nmant - 1, fi.minexp - fi.nmant)
        err = np.abs(got.astype(LD) - ref) / np.ldexp(LD(1), ulp_exponent)
    special = ~np.isfinite(ref_rounded) | ~np.isfinite(got)
    same = (np.isnan(ref_rounded) & np.isnan(got)) | (ref_rounded == got)
    err = np.where(special, np.where(same, 0.0, np.inf), err)
    zero_both = (got == 0) & (ref_rounded == 0)
    sign_differs = zero_both & (np.signbit(got) != np.signbit(ref_rounded))
    return np.where(sign_differs, np.inf, err).astype(np.float64)


def assert_ulp_close(
    got: np.ndarray, fn: Callable[..., np.ndarray], *arrays: np.ndarray, max_ulp: float
) -> None:
    """``got`` is within ``max_ulp`` ulps of ``fn(*arrays)`` computed in long double, with
    the same shape and exactly the same special values (see :func:`ulp_error`)."""
    got = np.asarray(got)
    ref = reference(fn, *arrays)
    assert got.shape == ref.shape, f"shape {got.shape} != reference shape {ref.shape}"
    if got.size == 0:
        return
    err = ulp_error(got, ref).ravel()
    worst = int(np.argmax(err))
    assert err[worst] <= max_ulp, (
        f"{err[worst]:.3g} ulp > {max_ulp} at flat index {worst}: got "
        f"{got.ravel()[worst]!r}, reference {ref.ravel()[worst]!r}"
    )
