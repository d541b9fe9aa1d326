"""numpy's dispatch protocols: which tracegrad function implements each numpy ufunc and
function when a Tracer is among the arguments, and (``install_symbolic_class``) which class
the results built outside any trace (symbolic expressions) have."""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad import numpy as tnp
from tracegrad.ir.errors import ConcretizationError, UnsupportedError
from tracegrad.ir.prims import PRIMS
from tracegrad.numpy import lists
from tracegrad.numpy._core import install_symbolic_class  # noqa: F401  (public here)
from tracegrad.tracing.location import user_line_text, user_location
from tracegrad.tracing.tracer import Tracer

SUPPORTED_PAGE = "docs/numpy.md"  # the generated list of what is supported (numpy/docs.py)

# ufuncs with a primitive row take their names from the row; these are composites
_COMPOSITE_UFUNC_NAMES = [
    "fmax", "fmin", "logical_xor", "positive", "exp2", "log2", "log10", "sinh", "cosh", "ceil",
    "square", "reciprocal", "isnan", "isinf", "isfinite", "matmul", "bitwise_and", "bitwise_or",
    "bitwise_xor", "invert", "arcsin", "arccos", "arcsinh", "arccosh", "arctanh", "hypot",
    "logaddexp", "logaddexp2", "cbrt", "heaviside", "deg2rad", "rad2deg", "radians", "degrees",
    "signbit", "fabs",
]  # fmt: skip
_ROW_UFUNC_NAMES = [
    name
    for prim in PRIMS.values()
    if prim.is_elementwise
    for name in prim.numpy_names
    if isinstance(getattr(np, name, None), np.ufunc)
]
UFUNCS: dict[Any, Any] = {
    getattr(np, n): getattr(tnp, n) for n in _ROW_UFUNC_NAMES + _COMPOSITE_UFUNC_NAMES
}
_REDUCERS = {
    np.add: "sum", np.multiply: "prod", np.maximum: "max", np.minimum: "min",
    np.logical_and: "all", np.logical_or: "any",
}  # fmt: skip
_ACCUMULATORS = {np.add: "cumsum"}
# accumulate and at by a log-depth scan / ordered rounds (numpy/_accumulate.py)
_SCANNED = (np.multiply, np.maximum, np.minimum, np.logical_and, np.logical_or)
_AT_ROUNDS = (np.multiply, np.maximum, np.minimum)

_FUNCTION_NAMES = [
    "sum", "mean", "max", "min", "amax", "amin", "prod", "argmax", "argmin", "cumsum", "var",
    "std", "any", "all", "reshape", "transpose", "swapaxes", "moveaxis", "expand_dims",
    "squeeze", "ravel", "broadcast_to", "concatenate", "stack", "hstack", "vstack", "pad",
    "take", "take_along_axis", "dot", "outer", "inner", "vdot", "tensordot", "einsum", "where",
    "clip", "zeros_like", "ones_like", "full_like", "shape", "ndim", "size", "copy",
    "atleast_1d", "round", "around", "fix", "sinc", "nan_to_num", "isclose",
    # rearranging (numpy/_rearrange.py)
    "array_split", "atleast_2d", "atleast_3d", "column_stack", "diag", "diagflat", "diagonal",
    "diff", "dsplit", "dstack", "flip", "fliplr", "flipud", "hsplit", "kron", "meshgrid",
    "repeat", "roll", "rot90", "row_stack", "split", "tile", "trace", "tril", "triu", "vsplit",
    # NaN-ignoring reductions and statistics (numpy/_statistics.py)
    "average", "corrcoef", "count_nonzero", "cov", "nanmax", "nanmean", "nanmin", "nanstd",
    "nansum", "nanvar", "ptp",
    # sorting and order statistics (numpy/_sorting.py, numpy/_nanorder.py)
    "argpartition", "argsort", "median", "nanmedian", "nanpercentile", "nanquantile",
    "partition", "percentile", "quantile", "sort",
    # cumulative products (numpy/_accumulate.py)
    "cumprod", "cumulative_prod",
    # interpolation and selection (numpy/_interp.py, numpy/_select.py)
    "interp", "searchsorted", "select", "piecewise",
    # more structure (numpy/_structural.py)
    "rollaxis", "append",
    # finite differences, cross products, samples (numpy/_calculus.py)
    "gradient", "cross", "linspace",
    # convolution (numpy/_convolve.py)
    "convolve", "correlate",
]  # fmt: skip
FUNCTIONS: dict[Any, Any] = {
    getattr(np, n): getattr(tnp, n) for n in _FUNCTION_NAMES if hasattr(tnp, n)
}
FUNCTIONS.update(
    {
        getattr(np.linalg, n): getattr(tnp.linalg, n)
        for n in tnp.linalg.NUMPY_NAMES
        if hasattr(np.linalg, n)
    }
)


def _add_at(ufunc: np.ufunc, a: Any, indices: Any, b: Any = None) -> None:
    """``np.add.at(a, indices, b)`` (and ``subtract``) on a traced ``a``: rebinds ``a`` to
    the result, as numpy mutates it (numpy returns None too)."""
    if not isinstance(a, Tracer):
        raise UnsupportedError(f"numpy.{ufunc.__name__}.at into a concrete array of traced values")
    update = b if ufunc is np.add else tnp.negative(b)
    a.rebind(tnp.add_at(a, indices, update))  # numpy mutates a: so does the tracer


def _rounds_at(ufunc: np.ufunc, a: Any, indices: Any, b: Any) -> None:
    """``np.multiply.at`` (and maximum, minimum) on a traced ``a``: rebinds ``a``."""
    if not isinstance(a, Tracer):
        raise UnsupportedError(f"numpy.{ufunc.__name__}.at into a concrete array of traced values")
    a.rebind(tnp.ufunc_at(ufunc.__name__, a, indices, b))


def dispatch_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    if kwargs.get("out") is not None:
        raise UnsupportedError(f"numpy.{ufunc.__name__}(..., out=...) on traced values")
    kwargs = {k: v for k, v in kwargs.items() if k != "out"}
    if method == "__call__" and ufunc in UFUNCS:
        if (
            kwargs.get("where", True) is not True
            or kwargs.get("casting", "same_kind") != "same_kind"
        ):
            raise UnsupportedError(f"numpy.{ufunc.__name__} with where=/casting= arguments")
        dtype = kwargs.get("dtype")
        result = UFUNCS[ufunc](*inputs)
        return tnp.astype(result, dtype) if dtype is not None else result
    if method == "reduce" and ufunc in _REDUCERS:
        axis = kwargs.get("axis", 0)
        if np.ndim(inputs[0]) == 0 and axis in (0, -1):
            axis = None  # numpy reduces a 0-d array along axis 0 to itself
        return getattr(tnp, _REDUCERS[ufunc])(
            inputs[0], axis=axis, keepdims=kwargs.get("keepdims", False)
        )
    if method == "at" and ufunc in (np.add, np.subtract) and not kwargs:
        return _add_at(ufunc, *inputs)
    if method == "at" and ufunc in _AT_ROUNDS and not kwargs:
        return _rounds_at(ufunc, *inputs)
    if method == "accumulate" and ufunc in _ACCUMULATORS and set(kwargs) <= {"axis"}:
        return getattr(tnp, _ACCUMULATORS[ufunc])(inputs[0], axis=kwargs.get("axis", 0))
    if method == "accumulate" and ufunc in _SCANNED and set(kwargs) <= {"axis", "dtype"}:
        return tnp.ufunc_accumulate(ufunc.__name__, inputs[0], **kwargs)
    if method == "outer" and "outer" in ufunc_methods(ufunc) and len(inputs) == 2 and not kwargs:
        a, b = inputs
        grown = tnp.reshape(a, tuple(np.shape(a)) + (1,) * np.ndim(b))
        return UFUNCS[ufunc](grown, b)  # numpy: ufunc(a[..., None, ...], b)
    raise UnsupportedError(
        f"numpy.{ufunc.__name__}{'' if method == '__call__' else '.' + method} is not supported "
        f"on traced values by tracegrad (what is: {SUPPORTED_PAGE})"
    )


def ufunc_methods(ufunc: np.ufunc) -> tuple[str, ...]:
    """The methods of ``ufunc`` that traced values support (as ``dispatch_ufunc`` routes
    them; for docs/numpy.md)."""
    methods = ["__call__"] if ufunc in UFUNCS else []
    if ufunc in _REDUCERS:
        methods.append("reduce")
    if ufunc in _ACCUMULATORS or ufunc in _SCANNED:
        methods.append("accumulate")
    if ufunc in (np.add, np.subtract) or ufunc in _AT_ROUNDS:
        methods.append("at")
    if ufunc in UFUNCS and ufunc.nin == 2 and ufunc.signature is None:  # not matmul
        methods.append("outer")
    return tuple(methods)


# functions whose output shape depends on the values: what to write instead under tracing
VALUE_SHAPED = {
    "unique": "its length depends on the values; compare with known candidates instead "
    "(np.any(x[:, None] == candidates, axis=0))",
    "nonzero": "its length depends on the values; use np.where(mask, x, fill) to keep the shape",
    "flatnonzero": "its length depends on the values; use np.where(mask, x, fill)",
    "argwhere": "its length depends on the values; use np.where(mask, x, fill)",
    "extract": "its length depends on the values; use np.where(cond, x, 0) and a reduction",
    "compress": "its length depends on the values; use np.where(cond, x, 0) and a reduction",
}


def dispatch_function(func: Any, args: tuple, kwargs: dict) -> Any:
    impl = FUNCTIONS.get(func)
    if impl is None and getattr(func, "__name__", "") in VALUE_SHAPED:
        where = user_line_text(user_location())
        raise ConcretizationError(
            f"numpy.{func.__name__} cannot be traced: {VALUE_SHAPED[func.__name__]} (it works "
            f"on concrete arrays, outside jit/grad)\n  at {where}"
        )
    if impl is None:
        module = getattr(func, "__module__", "numpy") or "numpy"
        name = f"{module.replace('numpy._core', 'numpy')}.{func.__name__}"
        raise UnsupportedError(
            f"{name} is not supported on traced values by tracegrad (what is: {SUPPORTED_PAGE})"
        )
    return impl(*args, **kwargs)


# numpy's constructors and these functions take lists of traced values while tracing
lists.install(FUNCTIONS, dispatch_function)
