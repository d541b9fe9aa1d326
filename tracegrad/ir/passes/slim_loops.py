"""``slim_loops``: dead carries and outputs removed from loops, loop-invariant work hoisted.

For each ``scan`` group of a Function (the outputs present in it are the used ones):

- **Dead carries and outputs.** A carry is live when its final value is used or a live output
  of the body reads it (to a fixpoint); a ``y`` is live when its stack is used. Dead ones leave
  the body, and consts and ``xs`` the live outputs do not read leave the operands.
  While loops (that record nothing) lose the carries neither the outputs, the condition nor
  a live carry reads, and the consts nothing live reads.
- **Loop invariants.** A body value computed from consts only (not from a carry or an ``x``)
  is the same in every iteration: it is computed once before the loop and enters the body
  as a new const. Broadcasts of constants stay inside (free in a kernel, costly as a buffer).

>>> import numpy as np, tracegrad
>>> from tracegrad.ir.passes import optimize
>>> def f(x, w):
...     body = lambda c, xi: ((c[0] + xi * np.exp(w), c[1] * 2.0), None)
...     return tracegrad.scan(body, (0.0, 1.0), x)[0][0]
>>> g = optimize(tracegrad.make_ir(f)(np.ones(4), 0.5))
>>> [v.op.value for v in g.ops()]  # exp(w) runs once, before the loop; c[1] is gone
['exp', 'scan']
>>> [v.op.value for v in g.outputs[0].attr("body").ops()]
['mul', 'add']
"""

from __future__ import annotations

from tracegrad.ir.ops import Op
from tracegrad.ir.prims.control import OUTPUT, build_control, group_attrs, group_key
from tracegrad.ir.rebuild import rebuild_function
from tracegrad.ir.substitute import inline, reorder_params
from tracegrad.ir.value import Function, Value, new_trace_id, param, topological_order


def slim_loops(function: Function) -> Function:
    """Dead carries and outputs removed from scans, invariant work hoisted (module docstring)."""
    used: dict[tuple, set[int]] = {}
    for v in function.order:
        if v.op is Op.SCAN or (v.op is Op.WHILE and not v.attr("record")):
            used.setdefault(group_key(v), set()).add(v.attr(OUTPUT))
    if not used:
        return function
    built: dict[tuple, tuple[list[Value], dict[int, int]] | None] = {}

    def visit(v: Value, operands: list[Value]) -> Value | None:
        key = group_key(v)
        if key not in used:
            return None
        if key not in built:
            slim = _slimmed if v.op is Op.SCAN else _slimmed_while
            built[key] = slim(v, operands, used[key])
        found = built[key]
        if found is None:
            return None
        outs, remap = found
        return outs[remap[v.attr(OUTPUT)]]

    return rebuild_function(function, visit)


def _slimmed(
    v: Value, operands: list[Value], used: set[int]
) -> tuple[list[Value], dict[int, int]] | None:
    attrs = group_attrs(v)
    body: Function = attrs["body"]
    n_consts, n_carry = attrs["num_consts"], attrs["num_carry"]
    n_ys = len(body.outputs) - n_carry
    live_carry = {k for k in used if k < n_carry}
    live_ys = {k - n_carry for k in used if k >= n_carry}
    while True:  # a carry is live when a live output reads it
        read = _params_read(body, [*live_carry, *(n_carry + j for j in live_ys)])
        more = {i - n_consts for i in read if n_consts <= i < n_consts + n_carry} - live_carry
        if not more:
            break
        live_carry |= more
    hoisted, body = _hoist(body, n_consts, operands[:n_consts])
    n_consts_all = n_consts + len(hoisted)
    carries, ys = sorted(live_carry), sorted(live_ys)
    outputs = [body.outputs[k] for k in carries] + [body.outputs[n_carry + j] for j in ys]
    read = _params_read(Function(body.name, body.params, tuple(outputs)), range(len(outputs)))
    consts = [i for i in range(n_consts_all) if i in read]
    xs = [i for i in range(n_consts_all + n_carry, len(body.params)) if i in read]
    layout = [*consts, *(n_consts_all + k for k in carries), *xs]
    if (
        not hoisted
        and len(carries) == n_carry
        and len(ys) == n_ys
        and len(layout) == len(body.params)
    ):
        return None
    new_body = reorder_params(Function(body.name, body.params, tuple(outputs)), layout)
    everything = [*operands[:n_consts], *hoisted, *operands[n_consts:]]
    outs = build_control(
        Op.SCAN, [everything[i] for i in layout], body=new_body, length=attrs["length"],
        num_consts=len(consts), num_carry=len(carries), reverse=attrs["reverse"],
    )  # fmt: skip
    remap = {k: i for i, k in enumerate(carries)}
    remap.update({n_carry + j: len(carries) + i for i, j in enumerate(ys)})
    return outs, remap


def _slimmed_while(
    v: Value, operands: list[Value], used: set[int]
) -> tuple[list[Value], dict[int, int]] | None:
    """A while loop without the carries nothing reads (not an output, not the condition, not
    another live carry) and without the consts no live part reads."""
    attrs = group_attrs(v)
    cond, body = attrs["cond"], attrs["body"]
    n_cond, n_body = attrs["num_cond_consts"], attrs["num_body_consts"]
    n_carry = len(body.outputs)
    cond_read = _params_read(cond, [0])
    live = set(used) | {i - n_cond for i in cond_read if i >= n_cond}
    while True:
        read = _params_read(body, sorted(live))
        more = {i - n_body for i in read if i >= n_body} - live
        if not more:
            break
        live |= more
    carries = sorted(live)
    body_consts = sorted(i for i in _params_read(body, carries) if i < n_body)
    cond_consts = sorted(i for i in cond_read if i < n_cond)
    if len(carries) == n_carry and len(body_consts) == n_body and len(cond_consts) == n_cond:
        return None
    new_cond = reorder_params(cond, [*cond_consts, *(n_cond + k for k in carries)])
    outputs = tuple(body.outputs[k] for k in carries)
    new_body = reorder_params(
        Function(body.name, body.params, outputs), [*body_consts, *(n_body + k for k in carries)]
    )
    chosen = [operands[i] for i in cond_consts] + [operands[n_cond + i] for i in body_consts]
    chosen += [operands[n_cond + n_body + k] for k in carries]
    outs = build_control(
        Op.WHILE, chosen, cond=new_cond, body=new_body, num_cond_consts=len(cond_consts),
        num_body_consts=len(body_consts), record=attrs["record"], trips=attrs["trips"],
    )  # fmt: skip
    return outs, {k: i for i, k in enumerate(carries)}


def _params_read(body: Function, outputs: object) -> set[int]:
    """Indices of the params the given outputs of ``body`` read."""
    index = {id(p): i for i, p in enumerate(body.params)}
    order = topological_order([body.outputs[k] for k in outputs])  # type: ignore[attr-defined]
    return {index[id(v)] for v in order if id(v) in index}


def _hoist(body: Function, n_consts: int, consts: list[Value]) -> tuple[list[Value], Function]:
    """The body's maximal invariant values computed outside (on ``consts``), and the body with
    each of them replaced by a new param placed after the consts."""
    invariant: set[int] = {id(p) for p in body.params[:n_consts]}
    for v in body.order:
        if v.op is Op.CONST or (
            v.op is not Op.PARAM and all(id(o) in invariant for o in v.operands)
        ):
            invariant.add(id(v))
    roots: list[Value] = []
    seen: set[int] = set()
    candidates = [o for v in body.order if id(v) not in invariant for o in v.operands]
    for o in [*candidates, *body.outputs]:
        if id(o) in invariant and id(o) not in seen and _worth_hoisting(o):
            seen.add(id(o))
            roots.append(o)
    if not roots:
        return [], body
    outside = inline(Function("invariant", body.params[:n_consts], tuple(roots)), consts)
    trace = new_trace_id()
    stand_ins = [param(i, r.type, f"hoisted{i}", trace) for i, r in enumerate(roots)]
    seed = {id(r): s for r, s in zip(roots, stand_ins, strict=True)}
    outputs = rebuild_function(body, lambda v, ops: seed.get(id(v))).outputs
    params = (*body.params[:n_consts], *stand_ins, *body.params[n_consts:])
    return list(outside), reorder_params(Function(body.name, params, outputs), range(len(params)))


def _worth_hoisting(v: Value) -> bool:
    if v.op in (Op.PARAM, Op.CONST):
        return False
    return not (v.op is Op.BROADCAST and v.operands[0].op is Op.CONST)
