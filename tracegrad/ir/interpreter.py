"""The reference interpreter: evaluates a Function with numpy through the primitive table.

It is the oracle for every other backend and for every rewrite. numpy's floating-point warnings
are silenced (numpy's values, like inf for 1/0, are the contract, not the warnings).

>>> import numpy as np
>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.value import param, Function
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> x = param(0, TensorType(DType.FLOAT64, (2,)), "x")
>>> evaluate(Function("f", (x,), (b.mul(x, x),)), [np.array([3.0, 4.0])])
[array([ 9., 16.])]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tracegrad.ir.ops import Op
from tracegrad.ir.prims import PRIMS
from tracegrad.ir.types import Dim
from tracegrad.ir.value import Function, Value


def evaluate(
    function: Function, args: Sequence[np.ndarray], dims: dict[Dim, int] | None = None
) -> list[np.ndarray]:
    """Run ``function`` on concrete arrays; returns one array per output. ``dims``: extents
    of symbolic dims already bound by an enclosing call (a step of a larger plan may use a
    dim in an attribute without any of its parameters having it)."""
    if len(args) != len(function.params):
        raise TypeError(f"{function.name} takes {len(function.params)} arguments, got {len(args)}")
    env: dict[int, np.ndarray] = {}
    dims = dict(dims) if dims else {}
    for p, a in zip(function.params, args, strict=True):
        array = np.asarray(a, dtype=p.dtype.numpy)
        bind_param_dims(p, array.shape, dims)
        env[id(p)] = array
    with np.errstate(all="ignore"):
        for v in function.order:
            if id(v) in env:
                continue
            env[id(v)] = _run(v, env, dims)
    return [np.asarray(env[id(o)]) for o in function.outputs]


def bind_param_dims(p: Value, shape: tuple[int, ...], dims: dict[Dim, int]) -> None:
    """Check ``shape`` against ``p``'s (symbolic) shape, binding its dims in ``dims``
    consistently; ValueError on a mismatch (also used by the LLVM backend's call path)."""
    if len(shape) != p.ndim:
        raise ValueError(f"argument of rank {len(shape)} for parameter of type {p.type}")
    for d, n in zip(p.shape, shape, strict=True):
        if isinstance(d, Dim):
            if dims.setdefault(d, n) != n:
                raise ValueError(f"dim {d} bound to both {dims[d]} and {n}")
        elif d != n:
            raise ValueError(f"argument of shape {shape} for parameter of type {p.type}")


def _run(v: Value, env: dict[int, np.ndarray], dims: dict[Dim, int]) -> np.ndarray:
    if v.op is Op.CONST:
        return v.attr("data").array
    if v.op is Op.PARAM:
        raise ValueError(f"parameter {v.attr('name')!r} is not an argument of the function")
    attrs = {k: bind_dims(a, dims) for k, a in v.attrs}
    operands = [env[id(o)] for o in v.operands]
    out = np.asarray(PRIMS[v.op].numpy_impl(*operands, **attrs))
    return out.astype(v.dtype.numpy, copy=False)


def bind_dims(attr: object, dims: dict[Dim, int]) -> object:
    """Replace symbolic dims inside shape attributes by their bound extents (also used by
    backends that specialize a symbolic Function to concrete shapes)."""
    if isinstance(attr, Dim):
        return dims[attr]
    if isinstance(attr, tuple):
        return tuple(bind_dims(a, dims) for a in attr)
    return attr
