"""Theano's ``scan`` on top of the control-flow ops, and the one ``tracegrad.scan`` that takes
both Theano's keywords and JAX's arguments.

``theano.scan(fn, sequences=, outputs_info=, non_sequences=, n_steps=)`` calls
``fn(*sequence elements, *previous outputs, *non_sequences)`` once per step and returns the
stacked outputs of every step and an (empty) updates dictionary. The number of steps is
``n_steps`` or the shortest sequence's length, both possibly symbolic, so the loop is a
``while_loop`` that keeps every step's outputs (``tracegrad.control.while_history``); its
gradient is the while loop's reverse mode. Outputs whose ``outputs_info`` is None are not fed
back. Taps other than -1 are not supported.

>>> import numpy as np, tracegrad as theano, tracegrad.tensor as T
>>> k = T.iscalar("k"); A = T.vector("A")
>>> result, updates = theano.scan(fn=lambda prior_result, A: prior_result * A,
...                               outputs_info=T.ones_like(A), non_sequences=A, n_steps=k)
>>> power = theano.function(inputs=[A, k], outputs=result[-1], updates=updates)
>>> power(np.arange(10.0), 2)
array([ 0.,  1.,  4.,  9., 16., 25., 36., 49., 64., 81.])
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from tracegrad import numpy as tnp
from tracegrad.control import scan as control_scan
from tracegrad.control import while_history
from tracegrad.control.bodies import trace_body
from tracegrad.ir import build as b
from tracegrad.ir.errors import UnsupportedError
from tracegrad.tracing.trace import Abstract, abstract_type
from tracegrad.tracing.tracer import Tracer

__all__ = ["scan", "theano_scan"]

_THEANO_KEYWORDS = ("fn", "sequences", "outputs_info", "non_sequences", "n_steps", "go_backwards")


def scan(
    f: Any = None, init: Any = None, xs: Any = None, length: int | None = None,
    reverse: bool = False, checkpoint: int | bool | None = None, **theano: Any,
) -> Any:  # fmt: skip
    """``tracegrad.scan``: JAX's ``scan(f, init, xs, length, reverse)`` (see
    ``tracegrad.control.scan``, with ``checkpoint=``), or Theano's when called with Theano's
    keywords (``sequences=``, ``outputs_info=``, ``non_sequences=``, ``n_steps=``, ``fn=``)."""
    if theano or (f is not None and init is None and xs is None and length is None):
        unknown = set(theano) - {*_THEANO_KEYWORDS, "truncate_gradient", "mode", "name",
                                 "strict", "return_list", "profile", "allow_gc"}  # fmt: skip
        if unknown:
            raise TypeError(f"scan() got unexpected keyword arguments {sorted(unknown)}")
        fn = theano.pop("fn", f)
        return theano_scan(fn, **theano)
    return control_scan(f, init, xs, length=length, reverse=reverse, checkpoint=checkpoint)


def _as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _initial(info: Any) -> Any:
    if isinstance(info, dict):
        taps = info.get("taps", [-1])
        if list(taps) != [-1]:
            raise UnsupportedError(f"scan: outputs_info taps {taps} (only [-1] is supported)")
        return info.get("initial")
    return info


def theano_scan(
    fn: Callable[..., Any], sequences: Any = None, outputs_info: Any = None,
    non_sequences: Any = None, n_steps: Any = None, go_backwards: bool = False,
    return_list: bool = False, **ignored: Any,
) -> tuple[Any, OrderedDict]:  # fmt: skip
    """Theano's scan (see the module docstring)."""
    seqs = [s if isinstance(s, Tracer) else tnp.asarray(s) for s in _as_list(sequences)]
    nons = _as_list(non_sequences)
    infos = [_initial(i) for i in _as_list(outputs_info)]
    steps = _steps(seqs, n_steps)
    states = [i for i in infos if i is not None]
    elem_types = [Abstract(_element_type(s)) for s in seqs]
    state_types = [Abstract(*abstract_type(s)) for s in states]
    dry = trace_body(lambda *a: fn(*a, *nons), [*elem_types, *state_types], "scan fn")
    out_types = [o.type for o in dry.function.outputs]
    single = dry.out_tree.kind == "leaf"
    if not infos:
        infos = [None] * len(out_types)
    if len(infos) != len(out_types):
        n_out, n_info = len(out_types), len(infos)
        raise ValueError(f"scan: fn returns {n_out} outputs, outputs_info has {n_info}")
    carry0 = [i if i is not None else _zeros(t) for i, t in zip(infos, out_types, strict=True)]
    fed = [j for j, i in enumerate(infos) if i is not None]

    def cond_fun(c: Any) -> Any:
        return c[0] < steps

    def body_fun(c: Any) -> Any:
        t = c[0]
        elems = [tnp.asarray(s)[(s.shape[0] - 1 - t) if go_backwards else t] for s in seqs]
        outs = fn(*elems, *[c[1 + j] for j in fed], *nons)
        outs = [outs] if single else list(outs)
        return (t + 1, *outs)

    _, history = while_history(cond_fun, body_fun, (0, *carry0))
    results = list(history[1:])
    return (results[0] if len(results) == 1 and not return_list else results), OrderedDict()


def _steps(seqs: Sequence[Any], n_steps: Any) -> Any:
    lengths = [s.shape[0] for s in seqs]
    if n_steps is not None:
        lengths.append(n_steps)
    if not lengths:
        raise ValueError("scan needs sequences or n_steps")
    steps = lengths[0]
    for n in lengths[1:]:
        steps = tnp.minimum(steps, n)
    return steps


def _element_type(seq: Any) -> Any:
    t, _ = abstract_type(seq)
    if t.ndim == 0:
        raise ValueError("scan: a sequence needs a leading axis to iterate over")
    return t.with_shape(tuple(t.shape[1:]))


def _zeros(t: Any) -> Any:
    """A symbolic zero of type ``t`` (the unused initial value of an output not fed back)."""
    from tracegrad.tensor.variables import Expression

    return Expression(b.full(t.shape, 0, t.dtype), None)  # type: ignore[arg-type]
