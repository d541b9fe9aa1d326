"""while_loop, fori_loop and scan."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad import tree
from tracegrad.control.bodies import (
    FORI_VAL,
    abstracts,
    as_tracers,
    carry_function,
    consts_first,
    flatten_leaves,
    in_trace,
    leaf_values,
    mismatch,
    predicate_function,
    trace_body,
    truth,
)
from tracegrad.control.checkpointing import checkpointed_scan, segment_length
from tracegrad.ir.errors import DTypeError, ShapeError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims.control import RECORD_END, RECORD_NONE, TRIPS_DIM_PREFIX, build_control
from tracegrad.ir.substitute import reorder_params
from tracegrad.ir.types import TensorType
from tracegrad.tracing.context import current_trace
from tracegrad.tracing.trace import Abstract, abstract_type, closure_values

# ---- while_loop -----------------------------------------------------------------------------


def while_loop(
    cond_fun: Callable[[Any], Any], body_fun: Callable[[Any], Any], init_val: Any
) -> Any:
    """``val = init_val; while cond_fun(val): val = body_fun(val); return val`` as one loop
    (JAX's ``lax.while_loop``), differentiable in reverse mode: the forward loop records its
    trip count and each trip's carry in a buffer that grows at run time.

    >>> import numpy as np, tracegrad
    >>> def newton_sqrt(a):  # Newton's method for sqrt(a), to a tolerance
    ...     step = lambda x: 0.5 * (x + a / x)
    ...     return tracegrad.while_loop(lambda x: abs(step(x) - x) > 1e-12, step, a)
    >>> round(float(tracegrad.jit(newton_sqrt)(2.0)), 12)
    1.414213562373
    >>> round(float(tracegrad.grad(newton_sqrt)(4.0)), 12)  # 1 / (2 sqrt(4))
    0.25
    """
    if not in_trace(init_val):
        val = init_val
        while truth(cond_fun(val)):
            val = body_fun(val)
        return val
    return _while(cond_fun, body_fun, init_val, RECORD_NONE)[0]


_histories = itertools.count()


def while_history(
    cond_fun: Callable[[Any], Any], body_fun: Callable[[Any], Any], init_val: Any
) -> tuple[Any, Any]:
    """``while_loop`` that also returns every trip's new carry, stacked along a leading axis
    whose length only the run knows (what Theano's ``scan`` returns). Traced only.

    >>> import numpy as np, tracegrad
    >>> f = lambda x: tracegrad.control.while_history(lambda v: v < 10.0, lambda v: v * 2.0, x)
    >>> tracegrad.jit(f)(1.5)
    (array(12.), array([ 3.,  6., 12.]))
    """
    return _while(cond_fun, body_fun, init_val, RECORD_END)


def _while(cond_fun: Callable[[Any], Any], body_fun: Callable[[Any], Any], init_val: Any,
           record: str) -> tuple[Any, Any]:  # fmt: skip
    leaves, init_tree = flatten_leaves(init_val)
    carry = abstracts(leaves)
    body_traced, body, carry = carry_function(
        "while_loop body_fun", body_fun, lambda c: (c,), init_tree, carry, lambda t: t
    )
    cond_traced = trace_body(cond_fun, (tree.unflatten(init_tree, carry),), "while_loop cond_fun")
    cond_fn = consts_first(predicate_function(cond_traced, "while_loop cond_fun"), len(carry))
    body = consts_first(body, len(carry))
    current = current_trace()
    operands = [
        *closure_values(cond_traced, current),
        *closure_values(body_traced, current),
        *leaf_values(leaves, carry),
    ]
    trips = f"{TRIPS_DIM_PREFIX}_h{next(_histories)}" if record else ""
    outs = build_control(
        Op.WHILE, operands, cond=cond_fn, body=body,
        num_cond_consts=len(cond_traced.closure), num_body_consts=len(body_traced.closure),
        record=record, trips=trips,
    )  # fmt: skip
    weak = [c.weak for c in carry]
    final = tree.unflatten(init_tree, as_tracers(outs[: len(carry)], weak, leaves))
    if not record:
        return final, None
    history = as_tracers(outs[len(carry) + 1 :], [False] * len(carry), leaves)
    return final, tree.unflatten(init_tree, history)


# ---- fori_loop ------------------------------------------------------------------------------


def fori_loop(lower: Any, upper: Any, body_fun: Callable[[Any, Any], Any], init_val: Any) -> Any:
    """``for i in range(lower, upper): val = body_fun(i, val)`` as one loop (JAX's
    ``lax.fori_loop``). With Python ints for the bounds it is a ``scan`` of known length;
    with traced bounds a ``while_loop`` (no retrace or recompile when the bounds change).
    Both are differentiable in reverse mode.

    >>> import numpy as np, tracegrad
    >>> f = tracegrad.jit(lambda n, x: tracegrad.fori_loop(0, n, lambda i, v: v + i, x))
    >>> float(f(5, 0.0)), float(f(101, 0.0))  # one compile for both trip counts
    (10.0, 5050.0)
    """
    if not in_trace(lower, upper, init_val):
        val = init_val
        for i in range(int(lower), int(upper)):
            val = body_fun(i, val)
        return val
    if _static_int(lower) and _static_int(upper):
        lo, hi = int(lower), int(upper)

        def step(carry: Any, _: Any) -> tuple[Any, None]:
            i, val = carry
            return (i + 1, body_fun(i, val)), None

        token = FORI_VAL.set("carry[1]")
        try:
            (_, val), _ = scan(step, (lo, init_val), length=max(hi - lo, 0))
        finally:
            FORI_VAL.reset(token)
        return val

    def cond_fun(carry: Any) -> Any:
        return carry[0] < carry[1]

    def body(carry: Any) -> Any:
        i, hi, val = carry
        return i + 1, hi, body_fun(i, val)

    lo_v, hi_v = _index_tracer(lower, "lower"), _index_tracer(upper, "upper")
    token = FORI_VAL.set("carry[2]")
    try:
        return while_loop(cond_fun, body, (lo_v, hi_v, init_val))[2]
    finally:
        FORI_VAL.reset(token)


def _static_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _index_tracer(x: Any, what: str) -> Any:
    t, _ = abstract_type(x)
    if t.ndim != 0 or not t.dtype.is_int:
        raise DTypeError(f"fori_loop: {what} must be an integer scalar, got {t}")
    return x


# ---- scan -----------------------------------------------------------------------------------


def scan(
    f: Callable[[Any, Any], tuple[Any, Any]],
    init: Any,
    xs: Any = None,
    length: int | None = None,
    reverse: bool = False,
    checkpoint: int | bool | None = None,
) -> tuple[Any, Any]:
    """``f(carry, x) -> (carry, y)`` over the leading axis of ``xs`` (JAX's ``lax.scan``);
    returns the final carry and the ``y``s stacked (``y`` may be None). Reverse mode stores
    each iteration's incoming carry and recomputes the iteration in the backward loop;
    ``checkpoint=k`` stores every k-th carry only (``True``: k = sqrt(n), O(sqrt(n)) memory)
    and recomputes the segments between them (``tracegrad.checkpointing``).

    >>> import numpy as np, tracegrad
    >>> def cumsum(xs):
    ...     return tracegrad.scan(lambda c, x: (c + x, c + x), 0.0, xs)[1]
    >>> tracegrad.jit(cumsum)(np.arange(4.0))
    array([0., 1., 3., 6.])
    >>> tracegrad.grad(lambda xs: cumsum(xs).sum())(np.arange(4.0))
    array([4., 3., 2., 1.])
    """
    x_leaves, x_tree = flatten_leaves(xs)
    n = _scan_length(x_leaves, length)
    if not in_trace(init, x_leaves):
        return _eager_scan(f, init, xs, x_leaves, x_tree, n, reverse)
    if checkpoint not in (None, False):
        k = segment_length(n, checkpoint)  # type: ignore[arg-type]
        return checkpointed_scan(scan, f, init, xs, n, k, reverse)
    leaves, init_tree = flatten_leaves(init)
    carry = abstracts(leaves)
    x_types = [Abstract(_slice_type(x, n)) for x in x_leaves]
    x_arg = tree.unflatten(x_tree, x_types)

    def pair(out_tree: tree.TreeDef) -> tree.TreeDef:
        if out_tree.kind != "tuple" or len(out_tree.children) != 2:
            raise mismatch("scan f", "must return a pair (carry, y)")
        return out_tree.children[0]

    traced, fn, carry = carry_function("scan f", f, lambda c: (c, x_arg), init_tree, carry, pair)
    n_carry, n_x, n_closure = len(carry), len(x_leaves), len(traced.closure)
    # the trace's params are (carry, x, closure); SCAN's body takes (consts, carry, xs)
    first_closure = n_carry + n_x
    order = [*range(first_closure, first_closure + n_closure), *range(first_closure)]
    body_fn = reorder_params(fn, order)
    current = current_trace()
    operands = [
        *closure_values(traced, current),
        *leaf_values(leaves, carry),
        *leaf_values(x_leaves, [Abstract(abstract_type(x)[0]) for x in x_leaves]),
    ]
    outs = build_control(
        Op.SCAN, operands, body=body_fn, length=n, num_consts=n_closure, num_carry=n_carry,
        reverse=bool(reverse),
    )  # fmt: skip
    inputs = [*leaves, *x_leaves]
    final = tree.unflatten(init_tree, as_tracers(outs[:n_carry], [c.weak for c in carry], inputs))
    ys = tree.unflatten(
        traced.out_tree.children[1],
        as_tracers(outs[n_carry:], [False] * (len(outs) - n_carry), inputs),
    )
    return final, ys


def _scan_length(x_leaves: Sequence[Any], length: int | None) -> int:
    lengths = {abstract_type(x)[0].shape[0] if abstract_type(x)[0].ndim else None for x in x_leaves}
    if None in lengths:
        raise ShapeError("scan: every leaf of xs needs a leading axis to scan over")
    if length is not None:
        lengths.add(int(length))
    if len(lengths) > 1:
        raise ShapeError(f"scan: xs and length disagree on the length: {sorted(map(str, lengths))}")
    if not lengths:
        raise ShapeError("scan: give xs or length")
    (n,) = lengths
    if not isinstance(n, int):
        raise ShapeError(f"scan over a symbolic length {n} is not supported; give length=")
    return n


def _slice_type(x: Any, n: int) -> TensorType:
    t = abstract_type(x)[0]
    return TensorType(t.dtype, tuple(t.shape[1:]))


def _eager_scan(
    f: Callable[[Any, Any], tuple[Any, Any]],
    init: Any,
    xs: Any,
    x_leaves: list,
    x_tree: tree.TreeDef,
    n: int,
    reverse: bool,
) -> tuple[Any, Any]:
    carry, ys = init, []
    steps = range(n - 1, -1, -1) if reverse else range(n)
    for i in steps:
        x = tree.unflatten(x_tree, [np.asarray(leaf)[i] for leaf in x_leaves]) if x_leaves else None
        carry, y = f(carry, x)
        ys.append(y)
    if reverse:
        ys.reverse()
    if not ys:
        return carry, None
    y_leaves = [flatten_leaves(y)[0] for y in ys]
    stacked = [
        np.stack([np.asarray(leaves[j]) for leaves in y_leaves]) for j in range(len(y_leaves[0]))
    ]
    return carry, tree.unflatten(flatten_leaves(ys[0])[1], stacked)
