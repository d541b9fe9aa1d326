"""Tracing loop bodies and branches: their carries fitted to the carry types (weak Python
scalars take the body's dtype), errors that name the leaf, both types and the user's line, and
the Values a body's closure stands for. Shared by the loops and branches of this package."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad import tree
from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import TracegradError
from tracegrad.ir.substitute import reorder_params
from tracegrad.ir.value import Function, Value
from tracegrad.tracing.context import current_trace
from tracegrad.tracing.implicit import Implicit
from tracegrad.tracing.location import user_line_text, user_location
from tracegrad.tracing.trace import Abstract, Traced, abstract_type, is_leaf, trace
from tracegrad.tracing.tracer import Tracer

# while fori_loop builds its scan or while loop: the carry prefix that stands for its ``val``
FORI_VAL: contextvars.ContextVar[str | None] = contextvars.ContextVar("fori_val", default=None)


class LoopTypeError(TracegradError, TypeError):
    """A loop body or branch changed the type of a carry or an output."""

    __module__ = "tracegrad.control"  # its public home


# ---- tracing bodies -----------------------------------------------------------------------


def flatten_leaves(x: Any) -> tuple[list[Any], tree.TreeDef]:
    return tree.flatten(x, is_leaf=is_leaf)


def abstracts(leaves: Sequence[Any]) -> list[Abstract]:
    return [Abstract(*abstract_type(leaf)) for leaf in leaves]


def trace_body(fn: Callable[..., Any], args: Sequence[Any], what: str) -> Traced:
    current = current_trace()
    symbolic = current is None or current.lifts_symbolic  # a loop over tracegrad.tensor values
    traced = trace(fn, args, name=what, user_fn=fn, lifts_symbolic=symbolic)
    for c in traced.closure:
        if isinstance(c, Implicit) and c.key is None:
            raise TracegradError(
                f"{what} draws random numbers: a draw inside a loop body or branch would be "
                f"frozen to one draw; draw outside and pass the draws in (e.g. as scan's xs), "
                f"at {user_line_text(user_location())}"
            )
    return traced


def leaf_names(treedef: tree.TreeDef, prefix: str) -> list[str]:
    if treedef.kind == "leaf":
        return [prefix]
    keys = treedef.keys if treedef.kind == "dict" else range(len(treedef.children))
    return [
        name
        for key, child in zip(keys, treedef.children, strict=True)
        for name in leaf_names(child, f"{prefix}[{key!r}]")
    ]


def mismatch(what: str, message: str) -> LoopTypeError:
    return LoopTypeError(f"{what}: {message}, at {user_line_text(user_location())}")


def fit_carry(
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
            raise mismatch(what, f"{names[i]} enters as {c.type} but leaves as {out.type}")
        if out_weak or (out.dtype is c.type.dtype):
            fitted.append(b.cast(out, c.type.dtype))
        elif c.weak:
            carry[i] = Abstract(out.type, False)
            retrace = True
        else:
            raise mismatch(
                what, f"{names[i]} enters as {c.type} but leaves as {out.type} (cast it)"
            )
    return None if retrace else (carry, fitted)


def carry_function(
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
    names = leaf_names(init_tree, "carry")
    fori = FORI_VAL.get()
    if fori is not None:  # fori_loop's own loop: name its val, not the (i, val) carry
        what, names = "fori_loop body_fun", [n.replace(fori, "val", 1) for n in names]
    token = FORI_VAL.set(None)  # loops nested in the body are not fori_loop's
    try:
        for _ in range(len(carry) + 1):  # each retrace settles at least one weak carry
            traced = trace_body(fn, args(tree.unflatten(init_tree, carry)), what)
            if carry_tree(traced.out_tree) != init_tree:
                raise mismatch(
                    what, "the new carry has a different pytree structure than the initial one"
                )
            outs, n_carry = list(traced.function.outputs), len(carry)
            fit = fit_carry(what, names, carry, outs[:n_carry], traced.out_weak[:n_carry])
            if fit is not None:
                carry, fitted = fit
                body = Function(traced.function.name, traced.function.params,
                                (*fitted, *outs[n_carry:]))  # fmt: skip
                return traced, body, carry
        raise mismatch(what, "the carry types did not settle")  # pragma: no cover
    finally:
        FORI_VAL.reset(token)


def as_tracers(
    values: Sequence[Value], weak: Sequence[bool], inputs: Sequence[Any] = ()
) -> list[Tracer]:
    """Tracers of the current trace; outside any trace (symbolic ``tracegrad.tensor`` inputs)
    of the class of the first symbolic input, so results keep Theano's methods."""
    current = current_trace()
    cls: type[Tracer] = Tracer
    if current is None:
        cls = next((type(x) for x in inputs if isinstance(x, Tracer)), Tracer)
    return [cls(v, current, w) for v, w in zip(values, weak, strict=True)]  # type: ignore[arg-type]


def in_trace(*trees: Any) -> bool:
    """Under jit/grad, or given symbolic ``tracegrad.tensor`` variables: build a loop op (else
    the loop runs as plain Python on concrete values)."""
    if current_trace() is not None:
        return True
    return any(isinstance(x, Tracer) for t in trees for x in flatten_leaves(t)[0])


def leaf_values(leaves: Sequence[Any], types: Sequence[Abstract]) -> list[Value]:
    current = current_trace()
    out = []
    for leaf, t in zip(leaves, types, strict=True):
        v = leaf.value_in(current) if isinstance(leaf, Tracer) else b.to_value(leaf)
        out.append(b.cast(v, t.type.dtype) if v.dtype is not t.type.dtype else v)
    return out


def consts_first(fn: Function, n_args: int) -> Function:
    """A traced Function's params are (arguments, closure); loop ops take (consts, carry)."""
    n = len(fn.params)
    return reorder_params(fn, [*range(n_args, n), *range(n_args)]) if n > n_args else fn


def truth(x: Any) -> bool:
    return bool(np.asarray(x))


def predicate_function(traced: Traced, what: str) -> Function:
    fn = traced.function
    if len(fn.outputs) != 1:
        raise mismatch(what, f"must return one scalar bool, got {len(fn.outputs)} values")
    out = fn.outputs[0]
    if out.ndim != 0 or out.dtype is not DType.BOOL:
        raise mismatch(what, f"must return a scalar bool, got {out.type}")
    return fn
