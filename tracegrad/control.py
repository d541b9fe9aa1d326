"""Loops that stay loops: ``cond``, ``while_loop``, ``fori_loop`` and ``scan``, with JAX's
calling conventions. Under ``jit``/``grad`` each becomes one higher-order op whose bodies are
traced once (compile time does not grow with the trip count) and which reverse mode
differentiates, ``while_loop`` included. Called on concrete arrays outside any trace they run
as plain Python loops, so they mean exactly what the eager code means.

Carries, operands and outputs are pytrees (tuples, lists, dicts, None) of arrays and scalars.
A loop body must give back carries of the types it received; a Python scalar in the initial
carry is weak (NEP 50): its dtype follows what the body makes of it (``0.0`` summed with
float32 arrays is a float32 carry).

>>> import numpy as np, tracegrad
>>> @tracegrad.jit
... def euler(x0, dt):
...     return tracegrad.fori_loop(0, 1000, lambda i, x: x + dt * np.cos(x), x0)
>>> round(float(euler(np.array(0.0), 0.001)), 3)  # x(1) = gd(1) = 0.8658 for x' = cos x
0.866
>>> g = tracegrad.grad(lambda x0: tracegrad.fori_loop(0, 3, lambda i, x: x * x, x0))
>>> float(g(1.5))  # d/dx x**8 = 8 x**7
136.6875
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad import tree
from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import DTypeError, ShapeError, TracegradError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims.control import build_control
from tracegrad.ir.substitute import reorder_params
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, Value
from tracegrad.tracing.context import current_trace
from tracegrad.tracing.implicit import Implicit
from tracegrad.tracing.location import user_line_text, user_location
from tracegrad.tracing.trace import Abstract, Traced, abstract_type, closure_values, is_leaf, trace
from tracegrad.tracing.tracer import Tracer

__all__ = ["cond", "fori_loop", "scan", "while_loop"]


# while fori_loop builds its scan or while loop: the carry prefix that stands for its ``val``
_FORI_VAL: contextvars.ContextVar[str | None] = contextvars.ContextVar("fori_val", default=None)


class LoopTypeError(TracegradError, TypeError):
    """A loop body or branch changed the type of a carry or an output."""


# ---- tracing bodies -----------------------------------------------------------------------


def _flat(x: Any) -> tuple[list[Any], tree.TreeDef]:
    return tree.flatten(x, is_leaf=is_leaf)


def _abstracts(leaves: Sequence[Any]) -> list[Abstract]:
    return [Abstract(*abstract_type(leaf)) for leaf in leaves]


def _trace(fn: Callable[..., Any], args: Sequence[Any], what: str) -> Traced:
    traced = trace(fn, args, name=what, user_fn=fn)
    for c in traced.closure:
        if isinstance(c, Implicit) and c.key is None:
            raise TracegradError(
                f"{what} draws random numbers: a draw inside a loop body or branch would be "
                f"frozen to one draw; draw outside and pass the draws in (e.g. as scan's xs), "
                f"at {user_line_text(user_location())}"
            )
    return traced


def _leaf_names(treedef: tree.TreeDef, prefix: str) -> list[str]:
    if treedef.kind == "leaf":
        return [prefix]
    keys = treedef.keys if treedef.kind == "dict" else range(len(treedef.children))
    return [
        name
        for key, child in zip(keys, treedef.children, strict=True)
        for name in _leaf_names(child, f"{prefix}[{key!r}]")
    ]


def _mismatch(what: str, message: str) -> LoopTypeError:
    return LoopTypeError(f"{what}: {message}, at {user_line_text(user_location())}")


def _fit_carry(
    what: str, names: list[str], carry: list[Abstract], outs: list[Value], weak: Sequence[bool]
) -> tuple[list[Abstract], list[Value]] | None:
    """The body's new carries cast to the carry types, or (when a weak carry met a strong
    dtype) None and ``carry`` updated in place for another trace."""
    fitted: list[Value] = []
    retrace = False
    for i, (c, out, out_weak) in enumerate(zip(carry, outs, weak, strict=True)):
        if out.type == c.type:
            fitted.append(out)
            continue
        if tuple(out.shape) != tuple(c.type.shape):
            raise _mismatch(what, f"{names[i]} enters as {c.type} but leaves as {out.type}")
        if out_weak or (out.dtype is c.type.dtype):
            fitted.append(b.cast(out, c.type.dtype))
        elif c.weak:
            carry[i] = Abstract(out.type, False)
            retrace = True
        else:
            raise _mismatch(
                what, f"{names[i]} enters as {c.type} but leaves as {out.type} (cast it)"
            )
    return None if retrace else (carry, fitted)


def _carry_function(
    what: str,
    fn: Callable[..., Any],
    args: Callable[[Any], tuple],
    init_tree: tree.TreeDef,
    carry: list[Abstract],
    carry_tree: Callable[[tree.TreeDef], tree.TreeDef],
) -> tuple[Traced, Function, list[Abstract]]:
    """Trace ``fn(*args(carry))`` whose first output leaves are the new carry (``carry_tree``
    picks its structure from the output tree); returns the trace, its Function with the carry
    outputs fitted to the carry types, and the final carry types (a weak carry may take the
    body's dtype: then one more trace)."""
    names = _leaf_names(init_tree, "carry")
    fori = _FORI_VAL.get()
    if fori is not None:  # fori_loop's own loop: name its val, not the (i, val) carry
        what, names = "fori_loop body_fun", [n.replace(fori, "val", 1) for n in names]
    token = _FORI_VAL.set(None)  # loops nested in the body are not fori_loop's
    try:
        return _settle(what, fn, args, init_tree, carry, carry_tree, names)
    finally:
        _FORI_VAL.reset(token)


def _settle(
    what: str,
    fn: Callable[..., Any],
    args: Callable[[Any], tuple],
    init_tree: tree.TreeDef,
    carry: list[Abstract],
    carry_tree: Callable[[tree.TreeDef], tree.TreeDef],
    names: list[str],
) -> tuple[Traced, Function, list[Abstract]]:
    for _ in range(len(carry) + 1):
        traced = _trace(fn, args(tree.unflatten(init_tree, carry)), what)
        if carry_tree(traced.out_tree) != init_tree:
            raise _mismatch(
                what, "the new carry has a different pytree structure than the initial one"
            )
        outs, n_carry = list(traced.function.outputs), len(carry)
        fit = _fit_carry(what, names, carry, outs[:n_carry], traced.out_weak[:n_carry])
        if fit is not None:
            carry, fitted = fit
            fn_ = traced.function
            return traced, Function(fn_.name, fn_.params, (*fitted, *outs[n_carry:])), carry
    raise _mismatch(what, "the carry types did not settle")  # pragma: no cover


def _outputs(values: Sequence[Value], weak: Sequence[bool]) -> list[Tracer]:
    current = current_trace()
    return [Tracer(v, current, w) for v, w in zip(values, weak, strict=True)]  # type: ignore[arg-type]


def _in_trace(*trees: Any) -> bool:
    return current_trace() is not None


def _leaf_values(leaves: Sequence[Any], types: Sequence[Abstract]) -> list[Value]:
    current = current_trace()
    out = []
    for leaf, t in zip(leaves, types, strict=True):
        v = leaf.value_in(current) if isinstance(leaf, Tracer) else b.to_value(leaf)
        out.append(b.cast(v, t.type.dtype) if v.dtype is not t.type.dtype else v)
    return out


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
    if not _in_trace():
        val = init_val
        while _truth(cond_fun(val)):
            val = body_fun(val)
        return val
    leaves, init_tree = _flat(init_val)
    carry = _abstracts(leaves)
    body_traced, body, carry = _carry_function(
        "while_loop body_fun", body_fun, lambda c: (c,), init_tree, carry, lambda t: t
    )
    cond_traced = _trace(cond_fun, (tree.unflatten(init_tree, carry),), "while_loop cond_fun")
    cond_fn = _consts_first(_predicate_function(cond_traced, "while_loop cond_fun"), len(carry))
    body = _consts_first(body, len(carry))
    current = current_trace()
    operands = [
        *closure_values(cond_traced, current),
        *closure_values(body_traced, current),
        *_leaf_values(leaves, carry),
    ]
    outs = build_control(
        Op.WHILE, operands, cond=cond_fn, body=body,
        num_cond_consts=len(cond_traced.closure), num_body_consts=len(body_traced.closure),
        record=False, trips="",
    )  # fmt: skip
    return tree.unflatten(init_tree, _outputs(outs, [c.weak for c in carry]))


def _join_branches(branches: Sequence[Traced]) -> tuple[list[list[Value]], list[bool]]:
    """Each branch's outputs cast to one type per leaf: a weak (Python scalar) output takes the
    other branch's dtype; any other difference is an error naming the leaf."""
    names = _leaf_names(branches[0].out_tree, "output")
    outs = [list(t.function.outputs) for t in branches]
    weak = [list(t.out_weak) for t in branches]
    joined_weak = []
    for i, name in enumerate(names):
        types = [o[i].type for o in outs]
        if tuple(types[0].shape) != tuple(types[1].shape) or (
            types[0].dtype is not types[1].dtype and weak[0][i] == weak[1][i]
        ):
            raise _mismatch("cond", f"{name} is {types[1]} in true_fun but {types[0]} in false_fun")
        strong = 0 if not weak[0][i] else 1
        dtype = types[strong].dtype
        for o in outs:
            o[i] = b.cast(o[i], dtype) if o[i].dtype is not dtype else o[i]
        joined_weak.append(weak[0][i] and weak[1][i])
    return outs, joined_weak


def _consts_first(fn: Function, n_args: int) -> Function:
    """A traced Function's params are (arguments, closure); loop ops take (consts, carry)."""
    n = len(fn.params)
    return reorder_params(fn, [*range(n_args, n), *range(n_args)]) if n > n_args else fn


def _truth(x: Any) -> bool:
    return bool(np.asarray(x))


def _predicate_function(traced: Traced, what: str) -> Function:
    fn = traced.function
    if len(fn.outputs) != 1:
        raise _mismatch(what, f"must return one scalar bool, got {len(fn.outputs)} values")
    out = fn.outputs[0]
    if out.ndim != 0 or out.dtype is not DType.BOOL:
        raise _mismatch(what, f"must return a scalar bool, got {out.type}")
    return fn


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
    if not _in_trace():
        val = init_val
        for i in range(int(lower), int(upper)):
            val = body_fun(i, val)
        return val
    if _static_int(lower) and _static_int(upper):
        lo, hi = int(lower), int(upper)

        def step(carry: Any, _: Any) -> tuple[Any, None]:
            i, val = carry
            return (i + 1, body_fun(i, val)), None

        token = _FORI_VAL.set("carry[1]")
        try:
            (_, val), _ = scan(step, (lo, init_val), length=max(hi - lo, 0))
        finally:
            _FORI_VAL.reset(token)
        return val

    def cond_fun(carry: Any) -> Any:
        return carry[0] < carry[1]

    def body(carry: Any) -> Any:
        i, hi, val = carry
        return i + 1, hi, body_fun(i, val)

    lo_v, hi_v = _index_tracer(lower, "lower"), _index_tracer(upper, "upper")
    token = _FORI_VAL.set("carry[2]")
    try:
        return while_loop(cond_fun, body, (lo_v, hi_v, init_val))[2]
    finally:
        _FORI_VAL.reset(token)


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
) -> tuple[Any, Any]:
    """``f(carry, x) -> (carry, y)`` over the leading axis of ``xs`` (JAX's ``lax.scan``);
    returns the final carry and the ``y``s stacked (``y`` may be None). Reverse mode stores
    each iteration's incoming carry and recomputes the iteration in the backward loop.

    >>> import numpy as np, tracegrad
    >>> def cumsum(xs):
    ...     return tracegrad.scan(lambda c, x: (c + x, c + x), 0.0, xs)[1]
    >>> tracegrad.jit(cumsum)(np.arange(4.0))
    array([0., 1., 3., 6.])
    >>> tracegrad.grad(lambda xs: cumsum(xs).sum())(np.arange(4.0))
    array([4., 3., 2., 1.])
    """
    x_leaves, x_tree = _flat(xs)
    n = _scan_length(x_leaves, length)
    if not _in_trace() and not any(isinstance(x, Tracer) for x in x_leaves):
        return _eager_scan(f, init, xs, x_leaves, x_tree, n, reverse)
    leaves, init_tree = _flat(init)
    carry = _abstracts(leaves)
    x_types = [Abstract(_slice_type(x, n)) for x in x_leaves]
    x_arg = tree.unflatten(x_tree, x_types)

    def pair(out_tree: tree.TreeDef) -> tree.TreeDef:
        if out_tree.kind != "tuple" or len(out_tree.children) != 2:
            raise _mismatch("scan f", "must return a pair (carry, y)")
        return out_tree.children[0]

    traced, fn, carry = _carry_function("scan f", f, lambda c: (c, x_arg), init_tree, carry, pair)
    n_carry, n_x, n_closure = len(carry), len(x_leaves), len(traced.closure)
    # the trace's params are (carry, x, closure); SCAN's body takes (consts, carry, xs)
    first_closure = n_carry + n_x
    order = [*range(first_closure, first_closure + n_closure), *range(first_closure)]
    body_fn = reorder_params(fn, order)
    current = current_trace()
    operands = [
        *closure_values(traced, current),
        *_leaf_values(leaves, carry),
        *_leaf_values(x_leaves, [Abstract(abstract_type(x)[0]) for x in x_leaves]),
    ]
    outs = build_control(
        Op.SCAN, operands, body=body_fn, length=n, num_consts=n_closure, num_carry=n_carry,
        reverse=bool(reverse),
    )  # fmt: skip
    final = tree.unflatten(init_tree, _outputs(outs[:n_carry], [c.weak for c in carry]))
    ys = tree.unflatten(
        traced.out_tree.children[1], _outputs(outs[n_carry:], [False] * (len(outs) - n_carry))
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
    y_leaves = [_flat(y)[0] for y in ys]
    stacked = [
        np.stack([np.asarray(leaves[j]) for leaves in y_leaves]) for j in range(len(y_leaves[0]))
    ]
    return carry, tree.unflatten(_flat(ys[0])[1], stacked)


# ---- cond -----------------------------------------------------------------------------------


def cond(
    pred: Any, true_fun: Callable[..., Any], false_fun: Callable[..., Any], *operands: Any
) -> Any:
    """``true_fun(*operands) if pred else false_fun(*operands)`` with a traced ``pred``
    (JAX's ``lax.cond``): only the chosen branch runs, and its gradient is the chosen
    branch's gradient (so a NaN in the other branch never reaches it).

    >>> import numpy as np, tracegrad
    >>> f = tracegrad.jit(lambda x: tracegrad.cond(x > 0, np.sqrt, lambda x: -x, x))
    >>> float(f(4.0)), float(f(-3.0))
    (2.0, 3.0)
    >>> float(tracegrad.grad(lambda x: tracegrad.cond(x > 0, np.log, lambda x: 0 * x, x))(0.0))
    0.0
    """
    if not isinstance(pred, Tracer):
        t, _ = abstract_type(pred) if not isinstance(pred, (list, tuple)) else (None, None)
        if t is None or t.ndim != 0:
            raise _mismatch("cond", f"pred must be a scalar bool, got {t}")
        return true_fun(*operands) if _truth(pred) else false_fun(*operands)
    if pred.ndim != 0 or pred.value.dtype is not DType.BOOL:
        raise _mismatch("cond", f"pred must be a scalar bool, got {pred.value.type}")
    leaves, in_tree = _flat(tuple(operands))
    types = _abstracts(leaves)
    args = tree.unflatten(in_tree, types)
    branches = [
        _trace(fn, args, name)
        for fn, name in ((false_fun, "cond false_fun"), (true_fun, "cond true_fun"))
    ]
    if branches[0].out_tree != branches[1].out_tree:
        raise _mismatch("cond", "true_fun and false_fun return different pytree structures")
    outputs, weak = _join_branches(branches)
    n = len(leaves)
    closure_types = [[p.type for p in t.function.params[n:]] for t in branches]
    functions = []
    for k, t in enumerate(branches):
        fn = Function(t.function.name, t.function.params, tuple(outputs[k]))
        layout: list[int | TensorType] = list(range(n))
        for j, types_j in enumerate(closure_types):
            layout += list(range(n, n + len(types_j))) if j == k else types_j
        functions.append(reorder_params(fn, layout))
    current = current_trace()
    operands_v = [
        *_leaf_values(leaves, types),
        *[v for t in branches for v in closure_values(t, current)],
    ]
    outs = build_control(Op.COND, [pred.value_in(current), *operands_v], branches=tuple(functions))
    return tree.unflatten(branches[0].out_tree, _outputs(outs, weak))
