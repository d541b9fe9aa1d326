"""Theano's ``ifelse`` (``from theano.ifelse import ifelse`` becomes
``from tracegrad.ifelse import ifelse``): choose one of two whole expressions by a scalar
condition.

Both branches are computed and the chosen one is returned (Theano evaluates lazily; the
values are the same, and the gradient flows only into the branch taken). For elementwise
choice use ``T.switch``; for loops and branches that must not run, ``tracegrad.cond``
(the control-flow issue).

>>> import numpy as np, tracegrad.tensor as T
>>> from tracegrad import function
>>> from tracegrad.ifelse import ifelse
>>> a, b = T.dscalars('a', 'b')
>>> x, y = T.dmatrices('x', 'y')
>>> f = function([a, b, x, y], ifelse(T.lt(a, b), T.mean(x), T.mean(y)))
>>> f(1.0, 2.0, np.ones((2, 2)), np.zeros((2, 2)))
array(1.)
"""

from __future__ import annotations

from typing import Any

from tracegrad import numpy as tnp

__all__ = ["ifelse"]


def ifelse(condition: Any, then_branch: Any, else_branch: Any, name: str | None = None) -> Any:
    """``then_branch`` if the scalar ``condition`` holds, else ``else_branch`` (same types)."""
    if getattr(condition, "ndim", 0) != 0:
        raise ValueError("ifelse needs a scalar condition; use T.switch to choose elementwise")
    then_shape = getattr(then_branch, "shape", ())
    else_shape = getattr(else_branch, "shape", ())
    if len(then_shape) != len(else_shape):
        raise ValueError(
            f"ifelse branches must have the same number of dimensions, got {len(then_shape)} "
            f"and {len(else_shape)}"
        )
    return tnp.where(condition, then_branch, else_branch)
