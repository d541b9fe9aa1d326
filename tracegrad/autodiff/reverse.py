"""Reverse mode as an IR transform: ``backward(outputs, cotangents, wrt) -> cotangents``.

The walk visits the topological order backwards (iteratively: graphs of 10^5 nodes are fine),
calls each primitive's VJP rule from its table row and accumulates cotangents with ``add``.
Zeros stay symbolic (``None``) until a requested ``wrt`` entry has to be materialized. Only
float Values carry cotangents; only Values that depend on ``wrt`` get them at all.

Where-masks are sunk during the walk: when the cotangent reaching a value is a select with a
zero branch (``where(c, 0, g)`` or ``where(c, g, 0)``) and the value's rule is mask-transparent
(elementwise ops, and the pure re-indexings sum/reshape/transpose/slice/pad/concatenate), the
rule runs on ``g`` and each operand cotangent is wrapped in the same select (the mask pushed
through the re-indexing). So ``where(x > 0, sqrt(x), 0)`` differentiates to
``where(x > 0, ct / (2 sqrt(x)), 0)``: the infinite sqrt'(0) is selected away, never multiplied
by zero.

>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.value import param
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> x = param(0, TensorType(DType.FLOAT64, ()), "x")
>>> (dx,) = backward([b.mul(x, x)], [b.to_value(1.0)], [x])
>>> dx.op.value
'add'
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np

from tracegrad.autodiff.composites import composite_vjp
from tracegrad.ir import build as b
from tracegrad.ir.errors import TracegradError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import ELEMENTWISE, HIGHER_ORDER, NONDIFF, PRIMS
from tracegrad.ir.prims.control import OUTPUT, group_attrs, group_key, output_types

# strip_stop_gradients is re-exported: the execution paths import it from here
from tracegrad.ir.rebuild import strip_stop_gradients as strip_stop_gradients
from tracegrad.ir.types import shapes_compatible
from tracegrad.ir.value import Value, const_value, topological_order

# ops whose VJP only re-indexes the cotangent, so it maps a bool mask the same way
_REINDEXING = frozenset({Op.REDUCE_SUM, Op.RESHAPE, Op.TRANSPOSE, Op.SLICE, Op.PAD, Op.CONCATENATE})
Mask = tuple[Value, bool]  # (condition, zero_where_true)


def backward(
    outputs: Sequence[Value], cotangents: Sequence[Value], wrt: Sequence[Value]
) -> list[Value]:
    """Cotangents of ``wrt`` given ``cotangents`` for ``outputs``; zeros are materialized."""
    found = backward_sparse(outputs, cotangents, wrt)
    return [b.zeros_like(w) if ct is None else ct for w, ct in zip(wrt, found, strict=True)]


def backward_sparse(
    outputs: Sequence[Value], cotangents: Sequence[Value | None], wrt: Sequence[Value]
) -> list[Value | None]:
    """Like ``backward`` but ``None`` stands for a (symbolic) zero cotangent."""
    if len(outputs) != len(cotangents):
        raise TypeError(f"{len(outputs)} outputs but {len(cotangents)} cotangents")
    with no_locations():
        return _walk(list(outputs), cotangents, wrt)


@contextlib.contextmanager
def no_locations() -> Iterator[None]:
    """The user's source line is meaningless for derivative nodes, and finding it costs a
    stack walk per node: switch the tracer's location hook off while building them."""
    hook, b.location_hook = b.location_hook, None
    try:
        yield
    finally:
        b.location_hook = hook


def _walk(
    outputs: list[Value], cotangents: Sequence[Value | None], wrt: Sequence[Value]
) -> list[Value | None]:
    order = topological_order(outputs)
    needed = _depends_on(order, wrt)
    cts: dict[int, Value] = {}
    for out, ct in zip(outputs, cotangents, strict=True):
        if ct is not None and id(out) in needed and out.dtype.is_float:
            _accumulate(cts, out, _check(ct, out, out))
    groups = _groups(order)
    for v in reversed(order):
        if v.op in HIGHER_ORDER:
            pairs = _group_pairs(v, groups, cts)
        else:
            ct = cts.get(id(v))
            if ct is None or v.op in (Op.PARAM, Op.CONST):
                continue
            pairs = composite_vjp(v, ct)  # a whole stable sigmoid/softplus, or op by op
            if pairs is None:
                pairs = list(zip(v.operands, _apply_rule(v, ct), strict=True))
        for operand, operand_ct in pairs:
            if operand_ct is not None and id(operand) in needed and operand.dtype.is_float:
                _accumulate(cts, operand, _check(operand_ct, operand, v))
    return [cts.get(id(w)) for w in wrt]


def _groups(order: Sequence[Value]) -> dict[tuple, list[Value]]:
    """The outputs of each loop/branch group present in ``order``, earliest first."""
    groups: dict[tuple, list[Value]] = {}
    for v in order:
        if v.op in HIGHER_ORDER:
            groups.setdefault(group_key(v), []).append(v)
    return groups


def _group_pairs(
    v: Value, groups: dict[tuple, list[Value]], cts: dict[int, Value]
) -> list[tuple[Value, Value | None]]:
    """A loop or branch is differentiated once for all its outputs: at its earliest output in
    the order, which the walk reaches after every user of every output."""
    members = groups[group_key(v)]
    if members[0] is not v:
        return []
    attrs = group_attrs(v)
    count = len(output_types(v.op, [o.type for o in v.operands], attrs))
    group_cts: list[Value | None] = [None] * count
    for member in members:
        group_cts[member.attr(OUTPUT)] = cts.get(id(member))
    if all(ct is None for ct in group_cts):
        return []
    rule = PRIMS[v.op].vjp
    operand_cts = rule(group_cts, v, attrs, backward)  # type: ignore[operator]
    return list(zip(v.operands, operand_cts, strict=True))


def _depends_on(order: Sequence[Value], wrt: Sequence[Value]) -> set[int]:
    """ids of the float Values through which a gradient can reach ``wrt``."""
    needed = {id(w) for w in wrt}
    for v in order:
        if v.dtype.is_float and any(id(o) in needed for o in v.operands):
            needed.add(id(v))
    return needed


def _check(ct: Value, operand: Value, user: Value) -> Value:
    if ct.dtype is not operand.dtype or not shapes_compatible(ct.shape, operand.shape):
        raise TracegradError(
            f"internal error: the VJP of {user.op.value} gave a {ct.type} cotangent for an "
            f"operand of type {operand.type}"
        )
    return ct


def _apply_rule(v: Value, ct: Value) -> tuple[Value | None, ...]:
    rule = PRIMS[v.op].vjp
    if rule is NONDIFF:
        return (None,) * len(v.operands)
    if rule is None:
        raise TracegradError(f"{v.op.value} has no VJP rule")
    attrs = dict(v.attrs)
    core, masks = peel_masks(ct)
    if not masks or not (v.op in ELEMENTWISE or v.op in _REINDEXING):
        return tuple(rule(ct, v, attrs))
    results = tuple(rule(core, v, attrs))
    if v.op in ELEMENTWISE:  # operands have the output's shape: the masks apply unchanged
        return tuple(None if r is None else wrap_masks(r, masks) for r in results)
    per_mask = [tuple(rule(cond, v, attrs)) for cond, _ in masks]  # the re-indexed masks
    return tuple(
        None
        if r is None
        else wrap_masks(
            r, [(moved[i], side) for moved, (_, side) in zip(per_mask, masks, strict=True)]
        )
        for i, r in enumerate(results)
    )


# ---- select masks -------------------------------------------------------------------------


def is_zero(v: Value) -> bool:
    """A constant zero (possibly broadcast)."""
    if v.op is Op.BROADCAST:
        v = v.operands[0]
    data = const_value(v)
    return data is not None and data.size > 0 and not np.any(data)


def peel_masks(ct: Value) -> tuple[Value, list[Mask]]:
    """``where(c1, 0, where(c2, g, 0))`` -> ``(g, [(c1, True), (c2, False)])``."""
    masks: list[Mask] = []
    while ct.op is Op.WHERE:
        cond, yes, no = ct.operands
        if is_zero(yes) and not is_zero(no):
            masks.append((cond, True))
            ct = no
        elif is_zero(no) and not is_zero(yes):
            masks.append((cond, False))
            ct = yes
        else:
            break
    return ct, masks


def wrap_masks(v: Value, masks: Sequence[Mask]) -> Value:
    for cond, zero_where_true in reversed(masks):
        v = b.where(cond, 0.0, v) if zero_where_true else b.where(cond, v, 0.0)
    return v


def _accumulate(cts: dict[int, Value], target: Value, ct: Value) -> None:
    old = cts.get(id(target))
    if old is None:
        cts[id(target)] = ct
        return
    core_old, masks_old = peel_masks(old)
    core_new, masks_new = peel_masks(ct)
    if masks_old and _same_masks(masks_old, masks_new):  # keep the select outermost
        cts[id(target)] = wrap_masks(b.add(core_old, core_new), masks_old)
    else:
        cts[id(target)] = b.add(old, ct)


def _same_masks(a: list[Mask], b_: list[Mask]) -> bool:
    return len(a) == len(b_) and all(
        x[0] is y[0] and x[1] == y[1] for x, y in zip(a, b_, strict=True)
    )


# ---- stop_gradient ------------------------------------------------------------------------


def stop_gradient_value(x: Value) -> Value:
    """``x`` behind the stop_gradient op: the same value, a zero derivative."""
    return b.apply(Op.STOP_GRADIENT, [x])
