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

from collections.abc import Callable, Sequence

import numpy as np

from tracegrad.ir.ops import Op
from tracegrad.ir.prims import HIGHER_ORDER, PRIMS
from tracegrad.ir.prims.control import OUTPUT, group_attrs, group_key
from tracegrad.ir.shapes import binder_of
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
    groups: dict[tuple, tuple] = {}  # outputs of loops/branches run so far (one run per group)
    arrays = [
        np.asarray(a, dtype=p.dtype.numpy) for p, a in zip(function.params, args, strict=True)
    ]
    if any(a.shape != p.shape for p, a in zip(function.params, arrays, strict=True)):
        dims = binder_of(function).bind([a.shape for a in arrays], dims)
    else:
        dims = dict(dims) if dims else {}
    for p, array in zip(function.params, arrays, strict=True):
        env[id(p)] = array
    with np.errstate(all="ignore"):
        for v in function.order:
            if id(v) in env:
                continue
            env[id(v)] = (
                _run_output(v, env, dims, groups) if v.op in HIGHER_ORDER else _run(v, env, dims)
            )
    return [np.asarray(env[id(o)]) for o in function.outputs]


def _run(v: Value, env: dict[int, np.ndarray], dims: dict[Dim, int]) -> np.ndarray:
    if v.op is Op.CONST:
        return v.attr("data").array
    if v.op is Op.PARAM:
        raise ValueError(f"parameter {v.attr('name')!r} is not an argument of the function")
    attrs = {k: bind_dims(a, dims) for k, a in v.attrs}
    operands = [env[id(o)] for o in v.operands]
    out = np.asarray(PRIMS[v.op].numpy_impl(*operands, **attrs))
    return out.astype(v.dtype.numpy, copy=False)


def _run_output(
    v: Value, env: dict[int, np.ndarray], dims: dict[Dim, int], groups: dict[tuple, tuple]
) -> np.ndarray:
    """One output of a higher-order group, running the group once; extents only known at run
    time (a while loop's trip count) are bound from the outputs."""
    key = group_key(v)
    outs: tuple | None = groups.get(key)
    if outs is None:
        attrs = {k: bind_dims(a, dims) for k, a in group_attrs(v).items()}
        outs = tuple(PRIMS[v.op].numpy_impl(*[env[id(o)] for o in v.operands], **attrs))
        groups[key] = outs
    out = np.asarray(outs[v.attr(OUTPUT)]).astype(v.dtype.numpy, copy=False)
    for d, n in zip(v.shape, out.shape, strict=True):
        if isinstance(d, Dim):
            dims.setdefault(d, n)
    return out


def prepare(function: Function) -> Callable[[Sequence[np.ndarray]], list[np.ndarray]]:
    """``evaluate`` for a Function run many times (a loop body): the walk is planned once into
    slots, so each run is one tight loop over numpy calls. Callers set numpy's errstate."""
    found = _PREPARED.get(function)
    if found is not None:
        return found
    if _has_symbolic_attrs(function):
        run = _evaluate_in_loop(function)
    else:
        run = _planned(function)
    if len(_PREPARED) > 256:
        _PREPARED.clear()
    _PREPARED[function] = run
    return run


_PREPARED: dict[Function, Callable[[Sequence[np.ndarray]], list[np.ndarray]]] = {}


def _has_symbolic_attrs(function: Function) -> bool:
    """Whether an attribute holds a symbolic dim (then each run binds dims: ``evaluate``)."""

    def symbolic(a: object) -> bool:
        return isinstance(a, Dim) or (isinstance(a, tuple) and any(map(symbolic, a)))

    return any(symbolic(a) for v in function.order for _, a in v.attrs)


def _evaluate_in_loop(function: Function) -> Callable[[Sequence[np.ndarray]], list[np.ndarray]]:
    return lambda arrays: evaluate(function, arrays)


def _planned(function: Function) -> Callable[[Sequence[np.ndarray]], list[np.ndarray]]:
    slot = {id(v): i for i, v in enumerate(function.order)}
    env0: list = [None] * len(function.order)
    params = [(slot[id(p)], p.dtype.numpy) for p in function.params]
    steps = []
    for v in function.order:
        if v.op is Op.CONST:
            env0[slot[id(v)]] = v.attr("data").array
        elif v.op is not Op.PARAM:
            operands = tuple(slot[id(o)] for o in v.operands)
            steps.append((slot[id(v)], v, operands, dict(v.attrs), v.dtype.numpy))
    outs = [slot[id(o)] for o in function.outputs]

    def run(arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        env = list(env0)
        for (i, dtype), a in zip(params, arrays, strict=True):
            env[i] = np.asarray(a, dtype=dtype)
        groups: dict[tuple, tuple] = {}
        for i, v, operands, attrs, dtype in steps:
            if v.op in HIGHER_ORDER:
                known = {id(o): env[s] for o, s in zip(v.operands, operands, strict=True)}
                env[i] = _run_output(v, known, {}, groups)
            else:
                out = PRIMS[v.op].numpy_impl(*[env[s] for s in operands], **attrs)
                env[i] = np.asarray(out).astype(dtype, copy=False)
        return [env[s] for s in outs]

    return run


def bind_dims(attr: object, dims: dict[Dim, int]) -> object:
    """Replace symbolic dims inside shape attributes by their bound extents (also used by
    backends that specialize a symbolic Function to concrete shapes)."""
    if isinstance(attr, Dim):
        return dims[attr]
    if isinstance(attr, tuple):
        return tuple(bind_dims(a, dims) for a in attr)
    return attr
