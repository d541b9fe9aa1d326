"""Machinery shared by the derivative API: tracing the forward function, caching derivative
Functions per abstract signature, assembling new Functions and running them.

A transform builds a derivative ``Traced`` once per (function, transform, signature), in the
function's specialization cache (tracegrad.staging, shared with jit), and runs it on the one
call path: inlined into the current trace when a Tracer is among the inputs (so grad, jit and
the other transforms compose in any order), else optimized, compiled by the default backend
and executed on the arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np

from tracegrad import tree
from tracegrad.autodiff.reverse import no_locations
from tracegrad.ir.passes import optimize
from tracegrad.ir.substitute import inline
from tracegrad.ir.types import TensorType, format_shape
from tracegrad.ir.value import Function, Value, new_trace_id, param
from tracegrad.specialize import CallSplit
from tracegrad.staging import Compiled, Specialization, cache_of, compiled_for
from tracegrad.tracing.trace import Traced, is_leaf, trace
from tracegrad.tracing.tracer import numpy_entry


def derivative(traced: Traced, finish: Callable[[list[Any]], Any]) -> Specialization:
    """A derivative Function ready to run (compiled by the default backend on first use)
    plus how to shape its flat results."""
    return Specialization(traced, Compiled(traced.function), finish)


def optimize_forward(function: Function) -> Function:
    """Run the optimizer (tracegrad.ir.passes) on the forward graph before differentiating:
    smaller and stabilized forward graphs give better gradients."""
    return optimize(function, opt_level=1)  # level 2 adds fusion: pointless before AD


def trace_forward(f: Callable[..., Any], args: tuple, kwargs: dict, statics: tuple = ()) -> Traced:
    """Trace ``f(*args, **kwargs)``; the leaves of ``args`` come first among the params.
    ``statics`` are ``(position or name, value)`` pairs put in place of the ``None``s that
    stand for them in ``args``/``kwargs``: their values are baked in."""
    name = getattr(f, "__name__", "f")
    fun = numpy_entry(f)  # grad(np.sum)([1.0, 2.0]): numpy cannot dispatch a list
    run = CallSplit(tuple(args), kwargs, statics, ()).bind(fun)
    traced = trace(run, (tuple(args), kwargs), name=name, user_fn=f)
    return Traced(
        optimize_forward(traced.function),
        traced.in_tree,
        traced.out_tree,
        traced.out_weak,
        traced.closure,
    )


def cached_call(
    f: Callable[..., Any],
    kind: Any,
    args: tuple,
    kwargs: dict,
    build: Callable[[Traced, list], Specialization],
    extra: Sequence[Any] = (),
    fixed: Collection[int] | None = (),
    also_auto: frozenset[int | str] = frozenset(),
    store: bool = True,
) -> Any:
    """Build (or fetch, from ``f``'s specialization cache: tracegrad.staging) the derivative
    of ``f`` for these arguments and run it on the argument leaves followed by ``extra``
    inputs (cotangents, tangents). A Python int argument the trace needs the value of is
    specialized on (tracegrad.specialize), unless its position is in ``fixed`` (the
    differentiated ones); ``fixed=None``: none is. ``also_auto`` and ``store``: see
    ``SpecializationCache.lookup``."""

    def build_split(split: CallSplit) -> Specialization:
        traced = trace_forward(f, split.args, split.kwargs, split.statics)
        leaves, _ = tree.flatten(split.tree_args, is_leaf=is_leaf)
        return build(traced, leaves)

    spec, leaves = cache_of(f).lookup(
        args, kwargs, build_split, kind=kind, fixed=fixed, also_auto=also_auto, store=store
    )
    return spec.run(leaves, extra)


def execute(function: Function, inputs: list[Any]) -> list[np.ndarray]:
    """Run ``function`` on concrete inputs with the default backend (compiled once)."""
    return compiled_for(function).run(inputs)


def fresh_params(types: Sequence[TensorType], prefix: str) -> list[Value]:
    tid = new_trace_id()
    return [param(i, t, f"{prefix}{i}", tid) for i, t in enumerate(types)]


def make_function(
    name: str, params: Sequence[Value], outputs: Sequence[Value], zeroed: Sequence[Value] = ()
) -> Function:
    """A Function over ``params`` (renumbered 0..n-1 as the verifier wants) computing
    ``outputs``, with the params in ``zeroed`` replaced by zero constants."""
    if not zeroed and all(p.attr("index") == i for i, p in enumerate(params)):
        return Function(name, tuple(params), tuple(outputs))
    tid = new_trace_id()
    renamed = [param(i, p.type, p.attr("name"), tid) for i, p in enumerate(params)]
    zeros = [_zeros(z.type) for z in zeroed]
    raw = Function(name, tuple(params) + tuple(zeroed), tuple(outputs))
    with no_locations():
        return Function(name, tuple(renamed), tuple(inline(raw, renamed + zeros)))


def _zeros(t: TensorType) -> Value:
    from tracegrad.ir import build as b

    return b.full(t.shape, 0, t.dtype)


def arg_leaf_ranges(in_tree: tree.TreeDef) -> list[range]:
    """For the ``((args...), kwargs)`` tree of trace_forward: the leaf range of each arg."""
    ranges, start = [], 0
    for child in in_tree.children[0].children:
        ranges.append(range(start, start + child.num_leaves))
        start += child.num_leaves
    return ranges


def require_float_args(traced: Traced, argnums: Sequence[int], what: str) -> None:
    """JAX's rule: differentiated arguments must be floats (an int has no tangent space)."""
    ranges = arg_leaf_ranges(traced.in_tree)
    for i in argnums:
        if i >= len(ranges):
            raise TypeError(
                f"{what}: differentiating with respect to argnums={i} requires at least "
                f"{i + 1} positional arguments, got {len(ranges)}"
            )
        for leaf in ranges[i]:
            p = traced.function.params[leaf]
            if not p.dtype.is_float:
                raise TypeError(
                    f"{what} requires float inputs, but argument {i} has a leaf of dtype "
                    f"{p.dtype.value} and shape {format_shape(p.shape)}; pass floats "
                    "(e.g. 1.0 or x.astype(float)) or leave it out of argnums"
                )
