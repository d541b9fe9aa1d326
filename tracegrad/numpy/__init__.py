"""tracegrad.numpy: numpy's names for traced code (and eager use on arrays).

Inside ``tracegrad.jit``/``grad`` you may write plain numpy (``np.exp(x)``); these functions are
what numpy dispatches to. Outside a trace they compute eagerly on numpy arrays.

>>> import tracegrad.numpy as tnp
>>> tnp.softmax([0.0, 0.0]).tolist()
[0.5, 0.5]
"""

from __future__ import annotations

from typing import Any

import numpy as _np

from tracegrad.ir import build as _b
from tracegrad.numpy._accumulate import cumprod, cumulative_prod, ufunc_accumulate, ufunc_at
from tracegrad.numpy._calculus import cross, gradient, linspace  # noqa: F401
from tracegrad.numpy._composites import (
    clip,
    einsum,
    log_softmax,
    logsumexp,
    norm,
    relu,
    sigmoid,
    softmax,
    softplus,
    tensordot,
)  # fmt: skip
from tracegrad.numpy._convolve import *  # noqa: F403
from tracegrad.numpy._core import dtype_arg as _dtype_arg
from tracegrad.numpy._core import has_tracer as _has_tracer
from tracegrad.numpy._core import traced as _traced
from tracegrad.numpy._core import wrap as _wrap
from tracegrad.numpy._elementwise import *  # noqa: F403
from tracegrad.numpy._elementwise import abs, absolute, round  # noqa: F401
from tracegrad.numpy._interp import *  # noqa: F403
from tracegrad.numpy._mathfuncs import (
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctanh,
    cbrt,
    deg2rad,
    degrees,
    fabs,
    hypot,
    logaddexp,
    logaddexp2,
    rad2deg,
    radians,
    sinc,
)  # fmt: skip
from tracegrad.numpy._nanorder import *  # noqa: F403
from tracegrad.numpy._rearrange import *  # noqa: F403
from tracegrad.numpy._select import *  # noqa: F403
from tracegrad.numpy._sorting import *  # noqa: F403
from tracegrad.numpy._statistics import *  # noqa: F403
from tracegrad.numpy._structural import *  # noqa: F403
from tracegrad.numpy._structural import all, any, max, min, sum  # noqa: F401
from tracegrad.tracing.context import current_trace as _current_trace

# creation functions with static sizes return numpy arrays (constants in traced code)
zeros, ones, full, empty = _np.zeros, _np.ones, _np.full, _np.zeros
arange, eye, identity = _np.arange, _np.eye, _np.identity


def asarray(a: Any, dtype: Any = None) -> Any:
    """numpy.asarray that also accepts traced values (returned as they are, or cast) and
    nested lists mixing traced values and constants (stacked, with numpy's dtypes). While a
    function is traced, a concrete array becomes a traced constant (as ``jnp.asarray``), so
    ``tnp.asarray(table)[i]`` works with a traced ``i``.

    >>> import numpy as np, tracegrad, tracegrad.numpy as tnp
    >>> tracegrad.jit(lambda x: tnp.asarray([[x, 1.0], [2.0, x * 3]]))(2.0)
    array([[2., 1.],
           [2., 6.]])
    """
    if hasattr(a, "value") and hasattr(a, "trace"):
        return a if dtype is None else astype(a, dtype)  # noqa: F405
    if isinstance(a, (list, tuple)) and _has_tracer(a):
        return _from_sequence(a, dtype)
    if _current_trace() is not None:  # while tracing: a traced constant, so table[i] traces
        return _wrap(_b.to_value(_np.asarray(a, dtype=dtype)))
    return _np.asarray(a, dtype=dtype)


@_traced
def _from_sequence(a: Any, dtype: Any = None) -> Any:
    return _b.to_value(list(a), _dtype_arg(dtype))


array = asarray
pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, _np.newaxis
float32, float64, int32, int64, bool_ = _np.float32, _np.float64, _np.int32, _np.int64, _np.bool_
float16, int8, int16, uint8, uint16 = _np.float16, _np.int8, _np.int16, _np.uint8, _np.uint16
uint32, uint64 = _np.uint32, _np.uint64


def shape(a: Any) -> tuple:
    return _np.shape(a) if not hasattr(a, "value") else a.value.shape  # dims, not T.shape


def ndim(a: Any) -> int:
    return len(shape(a))


def size(a: Any) -> int:
    return int(_np.prod(shape(a)))


def copy(a: Any) -> Any:
    return a.copy()


def atleast_1d(a: Any) -> Any:
    return reshape(a, (1,)) if ndim(a) == 0 else a  # noqa: F405


# numpy.linalg's functions; numpy's samplers record draws while a function is traced
# (importing random registers the hooks; numpy.dispatch installs numpy.lists's)
from tracegrad.numpy import linalg, random  # noqa: E402, F401
