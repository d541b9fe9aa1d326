"""``check_grads``: derivatives against central finite differences, the way JAX's
``check_grads`` and PyTensor's ``verify_grad`` do it.

The check is a dot-product (adjoint) test, so its cost does not grow with the input size: draw
a random tangent ``v`` (one array per float argument leaf) and a random cotangent ``u`` (one per
float output leaf), compute ``<u, J v>`` by central differences in float64, and compare it with
``<J^T u, v>`` from ``tracegrad.vjp`` (mode ``"rev"``) and with ``<u, J v>`` from
``tracegrad.jvp`` (mode ``"fwd"``). With ``order=2`` the same test runs on the derivative
functions themselves (``x -> vjp(f, x)[1](u)`` and ``x -> jvp(f, x, v)[1]``).

>>> import numpy as np
>>> from tracegrad.testing import check_grads
>>> check_grads(lambda x: np.sum(np.sin(x) * x), (np.array([0.5, 1.5]),), order=2)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad import tree

# dtype -> (rtol, atol) for the dot products (JAX's defaults); eps for central differences
_TOLERANCES = {np.dtype(np.float64): (1e-5, 1e-5), np.dtype(np.float32): (2e-3, 2e-3)}
_EPS = 1e-5


def check_grads(
    f: Callable[..., Any],
    args: Sequence[Any],
    order: int = 2,
    modes: Sequence[str] = ("rev", "fwd"),
    rtol: float | None = None,
    atol: float | None = None,
    eps: float | None = None,
) -> None:
    """Check the derivatives of ``f`` at ``args`` (a tuple of array pytrees) up to ``order``
    in the given modes; raise AssertionError with the numbers on a mismatch."""
    args = tuple(args)
    for mode in modes:
        if mode not in ("rev", "fwd"):
            raise ValueError(f"unknown mode {mode!r} (use 'rev' and/or 'fwd')")
    default_rtol, default_atol = _TOLERANCES[_working_dtype(args)]
    settings = (
        default_rtol if rtol is None else rtol,
        default_atol if atol is None else atol,
        _EPS if eps is None else eps,
    )
    _check(f, args, order, tuple(modes), settings, level=1)


def _check(f: Callable, args: tuple, order: int, modes: tuple, settings: tuple, level: int) -> None:
    if order <= 0:
        return
    rng = np.random.RandomState(level)
    v = _random_like(args, rng)
    out = f(*args)
    u = _random_like(out, rng)
    fd = _finite_difference(f, args, v, u, settings[2])
    if "rev" in modes:
        _check_rev(f, args, v, u, fd, out, settings, level)
        _check(_compiled(_vjp_function(f, u)), args, order - 1, modes, settings, level + 1)
    if "fwd" in modes:
        _check_fwd(f, args, v, u, fd, out, settings, level)
        _check(_compiled(_jvp_function(f, v)), args, order - 1, modes, settings, level + 1)


def _compiled(f: Callable) -> Callable:
    """jit the derivative function: the finite differences evaluate it three times."""
    from tracegrad import jit

    return jit(f)


def _vjp_function(f: Callable, u: Any) -> Callable:
    from tracegrad import vjp

    def f_vjp(*xs: Any) -> Any:
        return vjp(f, *xs)[1](u)

    return f_vjp


def _jvp_function(f: Callable, v: tuple) -> Callable:
    from tracegrad import jvp

    def f_jvp(*xs: Any) -> Any:
        return jvp(f, xs, v)[1]

    return f_jvp


def _check_rev(f, args, v, u, fd, out, settings, level) -> None:  # type: ignore[no-untyped-def]
    from tracegrad import vjp

    value, f_vjp = vjp(f, *args)
    _check_values(value, out, "rev", level)
    analytic = _dot(f_vjp(u), v)
    _compare(fd, analytic, "rev (<J^T u, v> from vjp)", level, settings)


def _check_fwd(f, args, v, u, fd, out, settings, level) -> None:  # type: ignore[no-untyped-def]
    from tracegrad import jvp

    value, tangent = jvp(f, args, v)
    _check_values(value, out, "fwd", level)
    analytic = _dot(u, tangent)
    _compare(fd, analytic, "fwd (<u, J v> from jvp)", level, settings)


# ---- numbers ----------------------------------------------------------------------------------


def _leaves(x: Any) -> list[Any]:
    return tree.flatten(x, is_leaf=lambda y: isinstance(y, (np.ndarray, np.generic)))[0]


def _is_float(x: Any) -> bool:
    return np.asarray(x).dtype.kind == "f"


def _working_dtype(args: tuple) -> np.dtype:
    kinds = {np.asarray(x).dtype for x in _leaves(args) if _is_float(x)}
    return np.dtype(np.float32) if np.dtype(np.float32) in kinds else np.dtype(np.float64)


def _random_like(x: Any, rng: np.random.RandomState) -> Any:
    """A standard-normal pytree like ``x`` (float leaves only; other leaves get zeros)."""
    leaves, treedef = tree.flatten(x, is_leaf=lambda y: isinstance(y, (np.ndarray, np.generic)))
    out = []
    for leaf in leaves:
        a = np.asarray(leaf)
        noise = rng.standard_normal(a.shape) if _is_float(a) else np.zeros(a.shape)
        out.append(noise.astype(a.dtype))
    return tree.unflatten(treedef, out)


def _dot(a: Any, b: Any) -> float:
    """<a, b> summed over the float leaves, in float64."""
    total = 0.0
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        if _is_float(x) and _is_float(y):
            total += float(np.sum(np.asarray(x, np.float64) * np.asarray(y, np.float64)))
    return total


def _shift(args: tuple, v: tuple, step: float) -> tuple:
    """args + step * v on the float leaves, computed in float64."""
    leaves, treedef = tree.flatten(args, is_leaf=lambda y: isinstance(y, (np.ndarray, np.generic)))
    shifted = []
    for x, t in zip(leaves, _leaves(v), strict=True):
        if _is_float(x):
            x = np.asarray(x, np.float64) + step * np.asarray(t, np.float64)
        shifted.append(x)
    return tree.unflatten(treedef, shifted)


def _finite_difference(f: Callable, args: tuple, v: tuple, u: Any, eps: float) -> float:
    """<u, (f(x + eps v) - f(x - eps v)) / (2 eps)> in float64."""
    plus = f(*_shift(args, v, eps))
    minus = f(*_shift(args, v, -eps))
    return (_dot(u, plus) - _dot(u, minus)) / (2 * eps)


def _compare(fd: float, analytic: float, what: str, level: int, settings: tuple) -> None:
    rtol, atol, _ = settings
    tolerance = atol + rtol * max(abs(fd), abs(analytic))
    if not (np.isfinite(analytic) and abs(fd - analytic) <= tolerance):
        raise AssertionError(
            f"check_grads: order {level}, mode {what}: central differences give {fd!r} but "
            f"tracegrad gives {analytic!r} (|difference| {abs(fd - analytic):.3g} > tolerance "
            f"{tolerance:.3g} = atol {atol:g} + rtol {rtol:g} * max magnitude)"
        )


def _check_values(value: Any, expected: Any, mode: str, level: int) -> None:
    for got, want in zip(_leaves(value), _leaves(expected), strict=True):
        got, want = np.asarray(got), np.asarray(want)
        tol = 1e-4 if np.float32 in (got.dtype, want.dtype) else 1e-7
        if got.shape != want.shape or not np.allclose(
            got, want, rtol=tol, atol=tol, equal_nan=True
        ):
            raise AssertionError(
                f"check_grads: order {level}, mode {mode}: the primal output {got!r} differs "
                f"from f(*args) = {want!r}"
            )
