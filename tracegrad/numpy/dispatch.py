"""numpy's dispatch protocols: which tracegrad function implements each numpy ufunc and
function when a Tracer is among the arguments."""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad import numpy as tnp
from tracegrad.ir.errors import UnsupportedError
from tracegrad.ir.prims import PRIMS

# ufuncs with a primitive row take their names from the row; these are composites
_COMPOSITE_UFUNC_NAMES = [
    "fmax", "fmin", "logical_xor", "positive", "exp2", "log2", "log10", "sinh", "cosh", "ceil",
    "square", "reciprocal", "isnan", "isinf", "isfinite", "matmul", "bitwise_and", "bitwise_or",
    "bitwise_xor", "invert", "arcsin", "arccos", "arcsinh", "arccosh", "arctanh", "hypot",
    "logaddexp", "logaddexp2", "cbrt", "heaviside", "deg2rad", "rad2deg", "radians", "degrees",
    "signbit",
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
_REDUCERS = {np.add: "sum", np.multiply: "prod", np.maximum: "max", np.minimum: "min"}

_FUNCTION_NAMES = [
    "sum", "mean", "max", "min", "amax", "amin", "prod", "argmax", "argmin", "cumsum", "var",
    "std", "any", "all", "reshape", "transpose", "swapaxes", "moveaxis", "expand_dims",
    "squeeze", "ravel", "broadcast_to", "concatenate", "stack", "hstack", "vstack", "pad",
    "take", "take_along_axis", "dot", "outer", "inner", "vdot", "tensordot", "einsum", "where",
    "clip", "zeros_like", "ones_like", "full_like", "shape", "ndim", "size", "copy",
    "atleast_1d", "round", "around", "fix", "sinc", "nan_to_num", "isclose",
]  # fmt: skip
FUNCTIONS: dict[Any, Any] = {
    getattr(np, n): getattr(tnp, n) for n in _FUNCTION_NAMES if hasattr(tnp, n)
}
FUNCTIONS[np.linalg.norm] = tnp.norm


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
        return getattr(tnp, _REDUCERS[ufunc])(
            inputs[0], axis=axis, keepdims=kwargs.get("keepdims", False)
        )
    raise UnsupportedError(
        f"numpy.{ufunc.__name__}{'' if method == '__call__' else '.' + method} is not supported "
        "on traced values by tracegrad"
    )


def dispatch_function(func: Any, args: tuple, kwargs: dict) -> Any:
    impl = FUNCTIONS.get(func)
    if impl is None:
        module = getattr(func, "__module__", "numpy") or "numpy"
        name = f"{module.replace('numpy._core', 'numpy')}.{func.__name__}"
        raise UnsupportedError(f"{name} is not supported on traced values by tracegrad")
    return impl(*args, **kwargs)
