"""The harness behind tests/test_numpy_listed_*.py (issue #15 target: every function the issue
lists has a test row with a value, a gradient, a size-0 and a 0-d case where meaningful).

A ``Row`` names one listed function: a lambda calling ``np.<name>`` as a user would, its inputs,
and for each of the 0-d case, the size-0 case and the gradient either the inputs to use (or
``True``) or a one-line reason why the case is not meaningful. The checks:

- value: ``jit(f)(*args)`` against eager numpy, same shape and dtype; bitwise when the row is
  ``exact`` (structural functions, sorting, order statistics), else ``assert_allclose`` with a
  tight rtol (numpy's transcendental SIMD code differs per CPU, so never bitwise there);
- gradient: ``tracegrad.grad`` of ``sum(f(x) * w)`` against central finite differences;
- 0-d and size-0: the value check again, or, where numpy raises, the same exception type.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import tracegrad

# Issue #15's list of missing functions, copied from its text, one entry per bullet (the
# array-construction and dtype bullets are covered by their own tests).
LISTED: dict[str, tuple[str, ...]] = {
    "linear algebra": (
        "cholesky", "solve", "inv", "det", "slogdet", "eigh", "eigvalsh", "qr", "svd", "lstsq",
        "pinv", "matrix_power", "multi_dot", "trace", "diag", "diagonal", "diagflat", "tril",
        "triu", "outer", "einsum",
    ),
    "sorting and order statistics": (
        "sort", "argsort", "partition", "median", "percentile", "quantile", "nanmedian",
    ),
    "reductions and statistics": (
        "cumprod", "average", "nansum", "nanmean", "nanmax", "nanmin", "nanstd", "nanvar", "cov",
        "corrcoef", "count_nonzero", "ptp",
    ),
    "structure": (
        "diff", "roll", "flip", "fliplr", "flipud", "rot90", "tile", "repeat", "split",
        "array_split", "hsplit", "vsplit", "dsplit", "atleast_1d", "atleast_2d", "atleast_3d",
        "meshgrid", "kron", "convolve", "correlate", "column_stack", "row_stack", "dstack", "c_",
        "r_", "swapaxes", "interp", "select", "piecewise",
    ),
    "elementwise": (
        "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "arctan2", "hypot",
        "logaddexp", "logaddexp2", "cbrt", "sinc", "heaviside", "deg2rad", "rad2deg", "radians",
        "degrees", "round", "around", "rint", "fix", "trunc", "nan_to_num", "isclose",
        "copysign", "fmod", "fmax", "fmin", "signbit", "isnan", "isinf", "isfinite",
    ),
    "ufunc methods": (
        "add.at", "subtract.at", "multiply.at", "maximum.at", "minimum.at", "add.reduce",
        "maximum.accumulate", "add.outer",
    ),
}  # fmt: skip

Case = tuple[Any, ...] | str  # the inputs of a case, or why the case is not meaningful


@dataclass(frozen=True)
class Row:
    """One listed function. ``grad`` is True (differentiate every float argument), a tuple of
    argnums, or a reason string; ``zero_d``/``size_0`` are inputs or a reason string."""

    name: str
    f: Callable[..., Any]
    args: tuple[Any, ...]
    zero_d: Case
    size_0: Case
    grad: bool | tuple[int, ...] | str = True
    exact: bool = False
    rtol: float = 1e-13
    numpy_f: Callable[..., Any] | None = None  # the reference when ``f`` is not numpy's own


def _reference(row: Row) -> Callable[..., Any]:
    return row.f if row.numpy_f is None else row.numpy_f


def covered(rows: list[Row]) -> set[str]:
    """The listed names a table covers (a row named "sort_axis0" covers "sort")."""
    names = {name for bullet in LISTED.values() for name in bullet}
    return {r.name.split(":")[0] for r in rows} & names


CASES = ("value", "grad", "zero_d", "size_0")


def params(rows: list[Row], xfails: dict[str, str]) -> list[Any]:
    """One pytest param per meaningful (row, case), id "name/case"; ``xfails`` maps such an id
    to the tracegrad bug that makes it fail (strict: the mark goes when the bug is fixed)."""
    out = []
    for row in rows:
        for case in CASES:
            spec = True if case == "value" else getattr(row, case)
            if isinstance(spec, str):
                continue  # not meaningful; the row states why
            key = f"{row.name}/{case}"
            marks = [pytest.mark.xfail(strict=True, reason=xfails[key])] if key in xfails else []
            out.append(pytest.param(row, case, id=key, marks=marks))
    unknown = set(xfails) - {p.id for p in out}
    assert not unknown, f"xfails name no case: {sorted(unknown)}"
    return out


def _numpy(f: Callable, *args: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return f(*args)


def _leaves(x: Any) -> list[Any]:
    if isinstance(x, (tuple, list)):
        return [leaf for item in x for leaf in _leaves(item)]
    return [x]


def _assert_same(got: Any, want: Any, exact: bool, rtol: float) -> None:
    got_leaves, want_leaves = _leaves(got), _leaves(want)
    assert len(got_leaves) == len(want_leaves), (len(got_leaves), len(want_leaves))
    for g, w in zip(got_leaves, want_leaves, strict=True):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, (g.shape, w.shape)
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        if exact or w.dtype.kind not in "fc":
            np.testing.assert_array_equal(g, w, strict=True)
            if w.dtype.kind == "f":  # -0.0 and +0.0 compare equal: check the sign bits too
                np.testing.assert_array_equal(np.signbit(g), np.signbit(w))
        else:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=0, equal_nan=True)


def check_value(row: Row, args: tuple[Any, ...]) -> None:
    """jit(f) equals numpy at ``args``; where numpy raises, tracegrad raises the same type."""
    try:
        want = _numpy(_reference(row), *args)
    except Exception as e:  # noqa: BLE001 - any numpy error is the expected one
        with pytest.raises(type(e)):
            tracegrad.jit(row.f)(*args)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = tracegrad.jit(row.f)(*args)
    _assert_same(got, want, row.exact, row.rtol)


def _weights(out: Any) -> list[np.ndarray | None]:
    """Fixed, distinct cotangent weights per output leaf (None for non-float outputs)."""
    return [
        np.cos(np.arange(np.size(leaf)) + 0.5).reshape(np.shape(leaf))
        if np.asarray(leaf).dtype.kind == "f"
        else None
        for leaf in _leaves(out)
    ]


def _loss(row: Row, weights: list[np.ndarray | None]) -> Callable[..., Any]:
    def loss(*xs: Any) -> Any:
        outs = _leaves(row.f(*xs))
        return sum(np.sum(o * w) for o, w in zip(outs, weights, strict=True) if w is not None)

    return loss


def _finite_differences(loss: Callable, args: tuple, argnum: int, eps: float) -> np.ndarray:
    x = np.asarray(args[argnum], np.float64)
    out = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        shifted = []
        for sign in (1.0, -1.0):
            xi = x.copy()
            xi[i] += sign * eps
            new = args[:argnum] + (xi,) + args[argnum + 1 :]
            shifted.append(float(_numpy(loss, *new)))
        out[i] = (shifted[0] - shifted[1]) / (2 * eps)
    return out


def check_grad(row: Row) -> None:
    """grad of sum(f(x) * w) against central finite differences, for each float argument."""
    if isinstance(row.grad, str):
        pytest.fail(f"check_grad called on a row without a gradient: {row.grad}")
    floats = [k for k, a in enumerate(row.args) if np.asarray(a).dtype.kind == "f"]
    argnums = floats if row.grad is True else list(row.grad)
    weights = _weights(_numpy(_reference(row), *row.args))
    loss = _loss(row, weights)
    got = tracegrad.grad(loss, argnums=tuple(argnums))(*row.args)
    for k, g in zip(argnums, got, strict=True):
        want = _finite_differences(loss, row.args, k, 1e-6)
        assert np.shape(g) == np.shape(row.args[k])
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6, err_msg=f"argument {k}")


def run_case(row: Row, case: str) -> None:
    """One of "value", "grad", "zero_d", "size_0" (params() yields only meaningful ones)."""
    if case == "value":
        check_value(row, row.args)
    elif case == "grad":
        check_grad(row)
    else:
        check_value(row, getattr(row, case))
