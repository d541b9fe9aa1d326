"""Reverse-mode rules of the higher-order rows. The reverse-mode transform lives above the IR, so
it hands itself to these rules (``backward``): a rule differentiates a body by inlining it on
fresh params and calling ``backward`` there, and returns new control ops; grad of grad works
because those ops have rules too.

A rule gets the cotangents of every output of the group (``None``: zero), the group's
representative Value and attributes, and returns one cotangent (or ``None``) per operand.

- ``COND``: a ``COND`` over the branches' VJPs (each branch differentiated on its own).
- ``SCAN``: the forward scan also stacks the carries each iteration started from (one residual
  per carry; a pass merges it with the plain forward scan), and a scan in the other direction
  runs each iteration's VJP, recomputing the iteration from its carry, with the cotangents of
  the carries and of the consts (summed over iterations) as its carry.
- ``WHILE``: the forward loop runs with ``record="start"``: it counts its trips and stacks the
  carries each trip started from in a buffer that grows at run time; the backward loop counts
  the trips down and runs each trip's VJP on the recorded carry. (JAX has no reverse mode for
  ``while_loop``.)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from tracegrad.ir.ops import Op
from tracegrad.ir.prims.control import RECORD_END, RECORD_NONE, RECORD_START
from tracegrad.ir.value import Function, Value, new_trace_id, param

# backward(outputs, cotangents (None: zero), wrt) -> cotangents of wrt, zeros materialized
Backward = Callable[[Sequence[Value], Sequence["Value | None"], Sequence[Value]], list[Value]]
Cts = Sequence["Value | None"]
_trips = itertools.count()


def _build() -> Any:
    from tracegrad.ir import build  # build imports the table

    return build


def _control(op: Op, operands: Sequence[Value], **attrs: Any) -> list[Value]:
    from tracegrad.ir.prims.control import build_control

    return build_control(op, operands, **attrs)


def _fresh(types: Sequence[Value], names: str) -> list[Value]:
    """New params standing for ``types`` (a fresh trace id: they never collide)."""
    trace = new_trace_id()
    return [param(i, v.type, f"{names}{i}", trace) for i, v in enumerate(types)]


def _renumbered(params: Sequence[Value]) -> list[Value]:
    """``params`` as params 0..n-1 of one new Function."""
    trace = new_trace_id()
    return [param(i, p.type, str(p.attr("name")), trace) for i, p in enumerate(params)]


def _function(name: str, params: Sequence[Value], outputs: Sequence[Value]) -> Function:
    """A Function of ``params`` (renumbered 0..n-1) computing ``outputs``."""
    from tracegrad.ir.substitute import inline

    new = _renumbered(params)
    draft = Function(name, tuple(params), tuple(outputs))
    seed_outputs = inline(draft, new) if params else list(outputs)
    return Function(name, tuple(new), tuple(seed_outputs))


def _given(cts: Cts, indices: Sequence[int]) -> list[Value]:
    """The cotangents at ``indices``, which the caller knows are not None."""
    found = [cts[i] for i in indices]
    assert all(ct is not None for ct in found)
    return found  # type: ignore[return-value]


def _or_zeros(ct: Value | None, like: Value) -> Value:
    return _build().zeros_like(like) if ct is None else ct


def _is_float(v: Value) -> bool:
    return v.dtype.is_float


# ---- cond ---------------------------------------------------------------------------------


def _cond_vjp(cts: Cts, v: Value, attrs: dict, backward: Backward) -> list[Value | None]:
    operands = v.operands[1:]
    with_ct = [k for k, ct in enumerate(cts) if ct is not None]
    diff = [i for i, o in enumerate(operands) if _is_float(o)]
    result: list[Value | None] = [None] * len(v.operands)
    if not with_ct or not diff:
        return result
    branches = []
    for k, branch in enumerate(attrs["branches"]):
        ct_params = _fresh([branch.outputs[j] for j in with_ct], "ct")
        from tracegrad.ir.substitute import inline

        inputs = _fresh(list(branch.params), "x")
        outs = inline(branch, inputs)
        grads = backward([outs[j] for j in with_ct], ct_params, [inputs[i] for i in diff])
        branches.append(_function(f"{branch.name}_vjp{k}", [*inputs, *ct_params], grads))
    found = _control(
        Op.COND, [v.operands[0], *operands, *_given(cts, with_ct)], branches=tuple(branches)
    )
    for j, i in enumerate(diff):
        result[1 + i] = found[j]
    return result


# ---- scan ---------------------------------------------------------------------------------


def _scan_vjp(cts: Cts, v: Value, attrs: dict, backward: Backward) -> list[Value | None]:
    b = _build()
    body, length = attrs["body"], attrs["length"]
    n_consts, n_carry = attrs["num_consts"], attrs["num_carry"]
    consts = list(v.operands[:n_consts])
    init = list(v.operands[n_consts : n_consts + n_carry])
    xs = list(v.operands[n_consts + n_carry :])
    carry_params = body.params[n_consts : n_consts + n_carry]
    # the forward scan, also stacking every iteration's incoming carries (its residuals)
    recording = Function(f"{body.name}_fwd", body.params, (*body.outputs, *carry_params))
    forward = _control(Op.SCAN, v.operands, **{**attrs, "body": recording})
    residuals = forward[len(forward) - n_carry :]
    n_ys = len(body.outputs) - n_carry
    float_carry = [i for i in range(n_carry) if _is_float(init[i])]
    float_consts = [i for i in range(n_consts) if _is_float(consts[i])]
    float_xs = [i for i in range(len(xs)) if _is_float(xs[i])]
    ys_with_ct = [j for j in range(n_ys) if cts[n_carry + j] is not None]
    if not (float_carry or float_consts or float_xs):
        return [None] * len(v.operands)
    # the backward body: (consts; ct_carry, ct_consts; carry_in, x, ct_y) -> (...; ct_x)
    p_consts = _fresh(consts, "c")
    p_ct_carry = _fresh([init[i] for i in float_carry], "ct_carry")
    p_acc = _fresh([consts[i] for i in float_consts], "ct_const")
    p_carry = _fresh(list(carry_params), "carry")
    p_xs = _fresh(list(body.params[n_consts + n_carry :]), "x")
    p_ct_ys = _fresh([body.outputs[n_carry + j] for j in ys_with_ct], "ct_y")
    from tracegrad.ir.substitute import inline

    outs = inline(body, [*p_consts, *p_carry, *p_xs])
    wrt = [p_consts[i] for i in float_consts] + [p_carry[i] for i in float_carry]
    wrt += [p_xs[i] for i in float_xs]
    grads = backward(
        [outs[i] for i in float_carry] + [outs[n_carry + j] for j in ys_with_ct],
        [*p_ct_carry, *p_ct_ys],
        wrt,
    )
    g_consts, g_carry = (
        grads[: len(float_consts)],
        grads[len(float_consts) : len(wrt) - len(float_xs)],
    )
    g_xs = grads[len(wrt) - len(float_xs) :]
    new_acc = [b.add(a, g) for a, g in zip(p_acc, g_consts, strict=True)]
    bwd_body = _function(
        f"{body.name}_bwd",
        [*p_consts, *p_ct_carry, *p_acc, *p_carry, *p_xs, *p_ct_ys],
        [*g_carry, *new_acc, *g_xs],
    )
    ct_init = [_or_zeros(cts[i], init[i]) for i in float_carry]
    acc_init = [b.zeros_like(consts[i]) for i in float_consts]
    stacked_cts = _given(cts, [n_carry + j for j in ys_with_ct])
    found = _control(
        Op.SCAN,
        [*consts, *ct_init, *acc_init, *residuals, *xs, *stacked_cts],
        body=bwd_body, length=length, num_consts=n_consts,
        num_carry=len(float_carry) + len(float_consts), reverse=not attrs["reverse"],
    )  # fmt: skip
    result: list[Value | None] = [None] * len(v.operands)
    for j, i in enumerate(float_carry):
        result[n_consts + i] = found[j]
    for j, i in enumerate(float_consts):
        result[i] = found[len(float_carry) + j]
    n_bwd_carry = len(float_carry) + len(float_consts)
    for j, i in enumerate(float_xs):
        result[n_consts + n_carry + i] = found[n_bwd_carry + j]
    return result


# ---- while --------------------------------------------------------------------------------


def _while_vjp(cts: Cts, v: Value, attrs: dict, backward: Backward) -> list[Value | None]:
    b = _build()
    from tracegrad.ir import build_shape
    from tracegrad.ir.substitute import inline

    body = attrs["body"]
    n_cond, n_body = attrs["num_cond_consts"], attrs["num_body_consts"]
    body_consts = list(v.operands[n_cond : n_cond + n_body])
    init = list(v.operands[n_cond + n_body :])
    n_carry = len(init)
    # the trip count is the loop's: a loop recording its history already names its extent
    trips_name = attrs["trips"] or f"trips{next(_trips)}"
    recording = {**attrs, "record": RECORD_START, "trips": trips_name}
    forward = _control(Op.WHILE, v.operands, **recording)  # v's own group if it records
    trips, stacked = forward[n_carry], forward[n_carry + 1 :]
    float_carry = [i for i in range(n_carry) if _is_float(init[i])]
    float_consts = [i for i in range(n_body) if _is_float(body_consts[i])]
    if not float_carry and not float_consts:
        return [None] * len(v.operands)
    # cotangents of a recording loop's buffers (grad of grad, or a Theano scan's history):
    # trip k's slice adds to the cotangent of the carry trip k started (or ended) with
    stacked_cts: list[tuple[int, Value]] = [
        (i, ct) for i, ct in enumerate(cts[n_carry + 1 :]) if ct is not None and i in float_carry
    ]
    at_end = attrs["record"] == RECORD_END
    # the backward loop: carry (k, ct_carry, ct_consts); consts (body consts, stacked, ...)
    p_consts = _fresh(body_consts, "c")
    p_stacked = _fresh([*stacked, *[ct for _, ct in stacked_cts]], "stacked")
    p_k = _fresh([trips], "k")[0]
    p_ct = _fresh([init[i] for i in float_carry], "ct_carry")
    p_acc = _fresh([body_consts[i] for i in float_consts], "ct_const")
    k = b.sub(p_k, 1)
    slices = [build_shape.take(s, k, axis=0) for s in p_stacked]
    carry_in, extra_cts = slices[:n_carry], slices[n_carry:]
    outs = inline(body, [*p_consts, *carry_in])
    wrt_consts = [p_consts[i] for i in float_consts]
    wrt_carry = [carry_in[i] for i in float_carry]
    ct_out: list[Value] = list(p_ct)
    if at_end:  # the history's slice joins the cotangent of what this trip produced
        for (i, _), extra in zip(stacked_cts, extra_cts, strict=True):
            j = float_carry.index(i)
            ct_out[j] = b.add(ct_out[j], extra)
    grads = backward([outs[i] for i in float_carry], ct_out, wrt_consts + wrt_carry)
    new_acc = [b.add(a, g) for a, g in zip(p_acc, grads[: len(float_consts)], strict=True)]
    g_carry = list(grads[len(float_consts) :])
    if not at_end:
        for (i, _), extra in zip(stacked_cts, extra_cts, strict=True):
            j = float_carry.index(i)
            g_carry[j] = b.add(g_carry[j], extra)
    carry_params = [p_k, *p_ct, *p_acc]
    bwd_body = _function(
        f"{body.name}_bwd", [*p_consts, *p_stacked, *carry_params], [k, *g_carry, *new_acc]
    )
    cond_params = _fresh(carry_params, "carry")
    bwd_cond = _function(f"{body.name}_bwd_cond", cond_params, [b.gt(cond_params[0], 0)])
    ct_init = [_or_zeros(cts[i], init[i]) for i in float_carry]
    acc_init = [b.zeros_like(body_consts[i]) for i in float_consts]
    found = _control(
        Op.WHILE,
        [*body_consts, *stacked, *[ct for _, ct in stacked_cts], trips, *ct_init, *acc_init],
        cond=bwd_cond, body=bwd_body, num_cond_consts=0,
        num_body_consts=n_body + n_carry + len(stacked_cts), record=RECORD_NONE, trips="",
    )  # fmt: skip
    result: list[Value | None] = [None] * len(v.operands)
    for j, i in enumerate(float_carry):
        result[n_cond + n_body + i] = found[1 + j]
    for j, i in enumerate(float_consts):
        result[n_cond + i] = found[1 + len(float_carry) + j]
    return result


VJPS = {Op.COND: _cond_vjp, Op.SCAN: _scan_vjp, Op.WHILE: _while_vjp}
