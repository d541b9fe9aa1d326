"""autograd's differentiation API mapped onto tracegrad's (issue #15, the autograd target).

The stand-in ``autograd`` package (``shim/autograd``) re-exports these names, so autograd's own
tests run their derivatives through tracegrad while ``autograd.numpy`` is plain numpy:

>>> import numpy as np
>>> from tools.autograd_standin import mapping
>>> float(mapping.grad(lambda x: np.sum(x**2))(np.array([1.0, 2.0]))[1])
4.0
>>> mapping.check_grads(lambda x, y: np.sin(x) * y)(0.3, np.array([1.0, 2.0]))

autograd spells ``argnums`` as ``argnum``; its ``check_grads(f, argnum, modes, order)`` returns
a function of ``f``'s arguments and checks the derivative in argument ``argnum`` (an int or a
tuple) with the other arguments and keyword arguments held fixed. The check itself is
``tracegrad.testing.check_grads`` (central differences, JAX's tolerances), orders 1-2, modes
``fwd``/``rev``, as autograd's does.

Complex numbers are out of scope for tracegrad (a separate issue). The survey mode
(``AUTOGRAD_STANDIN_SURVEY=1``, used by the runner) only records whether a test hands complex
values to the API (``saw_complex``) and checks nothing, so the runner can count both ways.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from itertools import product
from typing import Any

import numpy as np

import tracegrad
from tracegrad import tree
from tracegrad.testing import check_grads as _tracegrad_check_grads

SURVEY = os.environ.get("AUTOGRAD_STANDIN_SURVEY") == "1"
# set when a test passes complex values to the API; the runner's pytest plugin resets it per test
saw_complex = False

Argnum = int | Sequence[int]


def _note_complex(*values: Any) -> bool:
    """Record (and return) whether any leaf of ``values`` is complex."""
    global saw_complex
    leaves = tree.flatten(values, is_leaf=lambda y: isinstance(y, np.ndarray | np.generic))[0]
    found = any(_is_complex(leaf) for leaf in leaves)
    saw_complex = saw_complex or found
    return found


def _is_complex(leaf: Any) -> bool:
    """A concrete complex value (traced values inside a nested transform are never complex)."""
    if isinstance(leaf, complex | np.complexfloating):
        return True
    return isinstance(leaf, np.ndarray) and leaf.dtype.kind == "c"


def _argnums(argnum: Argnum) -> int | tuple[int, ...]:
    return argnum if isinstance(argnum, int) else tuple(argnum)


def _noting(transform: Callable[..., Any]) -> Callable[..., Any]:
    """``transform`` with the complex survey on its arguments."""

    def call(*args: Any, **kwargs: Any) -> Any:
        _note_complex(args, kwargs)
        return transform(*args, **kwargs)

    return call


def grad(fun: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., Any]:
    """autograd.grad: the gradient of a scalar ``fun`` in argument ``argnum``."""
    return _noting(tracegrad.grad(fun, argnums=_argnums(argnum)))


def value_and_grad(fun: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., Any]:
    """autograd.value_and_grad: ``(fun(*args), grad(fun)(*args))``."""
    return _noting(tracegrad.value_and_grad(fun, argnums=_argnums(argnum)))


def jacobian(fun: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., Any]:
    """autograd.jacobian: shape ``out.shape + in.shape``."""
    return _noting(tracegrad.jacobian(fun, argnums=_argnums(argnum)))


def hessian(fun: Callable[..., Any], argnum: Argnum = 0) -> Callable[..., Any]:
    """autograd.hessian: ``jacobian(jacobian(fun))``."""
    return _noting(tracegrad.hessian(fun, argnums=_argnums(argnum)))


def elementwise_grad(fun: Callable[..., Any], argnum: int = 0) -> Callable[..., Any]:
    """autograd.elementwise_grad: the vjp of ``fun`` with a cotangent of ones."""

    def egrad(*args: Any, **kwargs: Any) -> Any:
        _note_complex(args, kwargs)

        def unary(x: Any) -> Any:
            return fun(*_replace(args, (argnum,), (x,)), **kwargs)

        out, pullback = tracegrad.vjp(unary, args[argnum])
        return pullback(np.ones_like(out))[0]

    return egrad


def _replace(args: tuple, nums: tuple[int, ...], values: tuple) -> tuple:
    new = list(args)
    for i, v in zip(nums, values, strict=True):
        new[i] = v
    return tuple(new)


AUTOGRAD_EPS = 1e-6


def check_grads(
    fun: Callable[..., Any],
    argnum: Argnum = 0,
    modes: Sequence[str] | None = None,
    order: int = 2,
) -> Callable[..., None]:
    """autograd.test_util.check_grads: ``check_grads(fun, ...)(*args, **kwargs)``."""
    modes = ("fwd", "rev") if modes is None else tuple(modes)

    def check(*args: Any, **kwargs: Any) -> None:
        nums = (argnum,) if isinstance(argnum, int) else tuple(argnum)
        x = args[argnum] if isinstance(argnum, int) else tuple(args[i] for i in argnum)

        def unary(x: Any) -> Any:
            return fun(*_replace(args, nums, (x,) if isinstance(argnum, int) else x), **kwargs)

        if _note_complex(args, kwargs) or SURVEY:
            if SURVEY:
                return
            # tracegrad's checker draws tangents for real leaves only: it must not pass silently
            tracegrad.vjp(unary, x)
            raise NotImplementedError("stand-in: complex derivatives are not checked")
        # autograd's own step (test_util.EPS = 1e-6: central differences over [x - 5e-7 v,
        # x + 5e-7 v]): a larger step crosses near-ties of sort/partition/min in its inputs
        _tracegrad_check_grads(unary, (x,), order=order, modes=modes, eps=AUTOGRAD_EPS / 2)

    return check


def combo_check(fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., None]:
    """autograd.test_util.combo_check: check_grads on every combination of the given values."""

    def check(*arg_lists: Any, **kwarg_lists: Any) -> None:
        pairs = [[(k, v) for v in values] for k, values in kwarg_lists.items()]
        for combo_args in product(*arg_lists):
            for combo_kwargs in product(*pairs):
                check_grads(fun, *args, **kwargs)(*combo_args, **dict(combo_kwargs))

    return check
