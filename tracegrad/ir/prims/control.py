"""Rows of the higher-order primitives: ``COND``, ``WHILE`` and ``SCAN`` carry sub-Functions in
attributes (``Prim.subfunctions`` names them) and have several outputs.

Several outputs, one Value each: output ``k`` of a loop is the Value with the attribute
``output=k``; its siblings share the op, the operands and every other attribute, so hash-consing
keeps one group per loop, an unused output simply does not exist (dead outputs cost nothing to
remove), and every pass that maps Values to Values works unchanged. Runners (the interpreter,
the backend's plan) run a group once and hand out all its outputs (``group_key``).

- ``SCAN``: operands ``consts + init + xs``; ``body(consts, carry, x) -> (carry, y)``;
  outputs the final carries, then each ``y`` stacked along a new leading axis of ``length``.
  ``reverse`` walks ``xs`` from the end (and stacks ``ys`` in ``xs`` order).
- ``WHILE``: operands ``cond_consts + body_consts + init``; ``cond(cond_consts, carry) -> bool``,
  ``body(body_consts, carry) -> carry``; outputs the final carries. With ``record="start"``
  (or ``"end"``) it also outputs the trip count (int64) and, per carry, the carries each
  iteration started (or ended) with, stacked along a leading axis whose extent is known only at
  run time: the growable buffer reverse mode reads (or the history of Theano's scan).
- ``COND``: operands ``(index, *operands)``; ``branches[index](*operands)`` (a bool index picks
  branch 0 for False); every branch has the same output types.

>>> from tracegrad.ir.value import param, Function
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> from tracegrad.ir import build as b
>>> f64 = TensorType(DType.FLOAT64, ())
>>> c, x = param(0, f64, "c"), param(1, f64, "x")
>>> body = Function("body", (c, x), (b.add(b.mul(x, c), 1.0), x))
>>> init, scale = param(0, f64, "init"), param(1, f64, "scale")
>>> carry, ys = build_control(Op.SCAN, [scale, init], body=body, length=3, num_consts=1,
...                           num_carry=1, reverse=False)
>>> from tracegrad.ir.interpreter import evaluate
>>> evaluate(Function("f", (init, scale), (carry, ys)), [np.array(1.0), np.array(2.0)])
[array(15.), array([1., 3., 7.])]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.prims.table import Batching, Lowering, Prim, register, require
from tracegrad.ir.types import Dim, TensorType, format_shape, shapes_compatible
from tracegrad.ir.value import Function, Value

Attrs = dict[str, Any]
# run(function, arrays) -> output arrays: the interpreter, or a backend's compiled body
BodyRunner = Callable[[Function, list], list]

OUTPUT = "output"
TRIPS_DIM_PREFIX = "trips"
# a while loop's ``record``: nothing, the carries each trip starts from (reverse mode's
# residuals), or the carries each trip ends with (the history Theano's scan returns)
RECORD_NONE, RECORD_START, RECORD_END = "", "start", "end"


# ---- groups of outputs ------------------------------------------------------------------


def group_key(v: Value) -> tuple:
    """The same for every output of one loop/branch group."""
    return (v.op, tuple(map(id, v.operands)), tuple(kv for kv in v.attrs if kv[0] != OUTPUT))


def group_attrs(v: Value) -> Attrs:
    """``v``'s attributes without ``output``: the group's."""
    return {k: a for k, a in v.attrs if k != OUTPUT}


def output_types(op: Op, types: Sequence[TensorType], attrs: Attrs) -> list[TensorType]:
    """The types of every output of a group (checking its operands against its bodies)."""
    return _OUTPUT_TYPES[op](tuple(types), attrs)


def build_control(op: Op, operands: Sequence[Value], **attrs: Any) -> list[Value]:
    """All outputs of a new group, in order."""
    from tracegrad.ir.build import apply  # build imports the table this module registers in

    count = len(output_types(op, [o.type for o in operands], attrs))
    return [apply(op, list(operands), **attrs, output=k) for k in range(count)]


# ---- type rules -----------------------------------------------------------------------


def _check_operands(what: str, params: Sequence[Value], types: Sequence[TensorType]) -> None:
    require(len(params) == len(types), f"{what}: {len(params)} params for {len(types)} operands")
    for i, (p, t) in enumerate(zip(params, types, strict=True)):
        ok = p.dtype is t.dtype and shapes_compatible(p.shape, t.shape)
        require(ok, f"{what}: operand {i} is {t} but the body's parameter is {p.type}")


def _check_carry(what: str, outs: Sequence[Value], carry: Sequence[TensorType]) -> None:
    require(len(outs) == len(carry), f"{what}: {len(outs)} new carries for {len(carry)}")
    for i, (o, t) in enumerate(zip(outs, carry, strict=True)):
        ok = o.dtype is t.dtype and shapes_compatible(o.shape, t.shape)
        require(ok, f"{what}: carry {i} enters as {t} and leaves as {o.type}")


def _scan_types(types: tuple[TensorType, ...], attrs: Attrs) -> list[TensorType]:
    body, length = attrs["body"], attrs["length"]
    n_consts, n_carry = attrs["num_consts"], attrs["num_carry"]
    require(isinstance(body, Function), "scan: body is not a Function")
    require(isinstance(length, int) and length >= 0, f"scan: bad length {length!r}")
    split = n_consts + n_carry
    stacked = [TensorType(p.dtype, (length, *p.shape)) for p in body.params[split:]]
    param_types = [p.type for p in body.params[:split]] + stacked
    require(
        len(types) == len(param_types),
        f"scan: {len(types)} operands, body takes {len(param_types)}",
    )
    for i, (t, expected) in enumerate(zip(types, param_types, strict=True)):
        ok = t.dtype is expected.dtype and shapes_compatible(t.shape, expected.shape)
        require(ok, f"scan: operand {i} is {t}, the body needs {expected}")
    _check_carry("scan", body.outputs[:n_carry], types[n_consts:split])
    carry = [types[n_consts + i] for i in range(n_carry)]
    ys = [TensorType(o.dtype, (length, *o.shape)) for o in body.outputs[n_carry:]]
    return carry + ys


def _while_types(types: tuple[TensorType, ...], attrs: Attrs) -> list[TensorType]:
    cond, body = attrs["cond"], attrs["body"]
    n_cond, n_body = attrs["num_cond_consts"], attrs["num_body_consts"]
    require(isinstance(cond, Function) and isinstance(body, Function), "while: bad bodies")
    carry = list(types[n_cond + n_body :])
    _check_operands("while cond", cond.params, list(types[:n_cond]) + carry)
    _check_operands("while body", body.params, list(types[n_cond : n_cond + n_body]) + carry)
    require(len(cond.outputs) == 1, "while: cond has one output")
    out = cond.outputs[0].type
    require(out.dtype is DType.BOOL and out.ndim == 0, f"while: cond gives {out}, not a bool")
    require(attrs["record"] in (RECORD_NONE, RECORD_START, RECORD_END), "while: bad record")
    _check_carry("while", body.outputs, carry)
    if not attrs["record"]:
        return carry
    trips = Dim(attrs["trips"])
    stacked = [TensorType(t.dtype, (trips, *t.shape)) for t in carry]
    return [*carry, TensorType(DType.INT64, ()), *stacked]


def _cond_types(types: tuple[TensorType, ...], attrs: Attrs) -> list[TensorType]:
    branches = attrs["branches"]
    index = types[0]
    require(index.ndim == 0 and index.dtype in (DType.BOOL, DType.INT32, DType.INT64),
            f"cond: the predicate must be a bool (or int index) scalar, got {index}")  # fmt: skip
    require(len(branches) >= 1, "cond: no branches")
    first = [o.type for o in branches[0].outputs]
    for k, branch in enumerate(branches):
        _check_operands(f"cond branch {k}", branch.params, types[1:])
        got = [o.type for o in branch.outputs]
        require(got == first, f"cond: branch {k} gives {got}, branch 0 gives {first}")
    return first


_OUTPUT_TYPES = {Op.SCAN: _scan_types, Op.WHILE: _while_types, Op.COND: _cond_types}


def _output_rule(op: Op) -> Callable[[tuple[TensorType, ...], Attrs], TensorType]:
    def rule(types: tuple[TensorType, ...], attrs: Attrs) -> TensorType:
        outs = _OUTPUT_TYPES[op](types, {k: a for k, a in attrs.items() if k != OUTPUT})
        k = attrs[OUTPUT]
        require(isinstance(k, int) and 0 <= k < len(outs), f"{op.value}: no output {k}")
        return outs[k]

    return rule


# ---- runners (numpy reference: every output of the group at once) ------------------------


def run_scan(run: BodyRunner, arrays: Sequence[np.ndarray], attrs: Attrs) -> tuple:
    body, length = attrs["body"], attrs["length"]
    n_consts, n_carry = attrs["num_consts"], attrs["num_carry"]
    consts = list(arrays[:n_consts])
    carry = list(arrays[n_consts : n_consts + n_carry])
    xs = arrays[n_consts + n_carry :]
    ys: list[np.ndarray] = []
    steps = range(length - 1, -1, -1) if attrs["reverse"] else range(length)
    for i in steps:
        outs = run(body, [*consts, *carry, *(x[i] for x in xs)])
        carry = list(outs[:n_carry])
        if not ys:
            ys = [np.empty((length, *np.shape(y)), np.asarray(y).dtype) for y in outs[n_carry:]]
        for stack, y in zip(ys, outs[n_carry:], strict=True):
            stack[i] = y
    if length == 0:
        ys = [_empty_stack(o.type, 0) for o in body.outputs[n_carry:]]
    return (*carry, *ys)


def _empty_stack(t: TensorType, length: int) -> np.ndarray:
    if not t.is_concrete:
        raise ValueError(f"scan of length 0 with a symbolic output shape {format_shape(t.shape)}")
    return np.empty((length, *t.concrete_shape), t.dtype.numpy)


def run_while(run: BodyRunner, arrays: Sequence[np.ndarray], attrs: Attrs) -> tuple:
    cond, body = attrs["cond"], attrs["body"]
    n_cond, n_body = attrs["num_cond_consts"], attrs["num_body_consts"]
    cond_consts = list(arrays[:n_cond])
    body_consts = list(arrays[n_cond : n_cond + n_body])
    carry = list(arrays[n_cond + n_body :])
    history: list[list[np.ndarray]] = []
    record = attrs["record"]
    while bool(run(cond, [*cond_consts, *carry])[0]):
        if record == RECORD_START:
            history.append(carry)
        carry = list(run(body, [*body_consts, *carry]))
        if record == RECORD_END:
            history.append(carry)
    if not attrs["record"]:
        return tuple(carry)
    stacked = [
        np.stack([h[i] for h in history]) if history else np.empty((0, *np.shape(c)), c.dtype)
        for i, c in enumerate(carry)
    ]
    return (*carry, np.int64(len(history)), *stacked)


def run_cond(run: BodyRunner, arrays: Sequence[np.ndarray], attrs: Attrs) -> tuple:
    branches = attrs["branches"]
    index = min(max(int(arrays[0]), 0), len(branches) - 1)  # lax.switch clamps the index
    return tuple(run(branches[index], list(arrays[1:])))


RUNNERS: dict[Op, Callable[[BodyRunner, Sequence[np.ndarray], Attrs], tuple]] = {
    Op.SCAN: run_scan,
    Op.WHILE: run_while,
    Op.COND: run_cond,
}


def _reference(op: Op) -> Callable[..., tuple]:
    def impl(*arrays: np.ndarray, **attrs: Any) -> tuple:
        from tracegrad.ir.interpreter import prepare  # the interpreter imports the table

        with np.errstate(all="ignore"):
            return RUNNERS[op](lambda fn, args: prepare(fn)(args), arrays, attrs)

    return impl


def _register() -> None:
    from tracegrad.ir.prims.control_vjp import VJPS  # the rules build control ops too

    signatures = {
        Op.SCAN: (("body",), ("body", "length", "num_carry", "num_consts", OUTPUT, "reverse")),
        Op.WHILE: (
            ("body", "cond"),
            ("body", "cond", "num_body_consts", "num_cond_consts", OUTPUT, "record", "trips"),
        ),
        Op.COND: (("branches",), ("branches", OUTPUT)),
    }
    for op, (subfunctions, attrs) in signatures.items():
        register(
            Prim(op, None, _output_rule(op), _reference(op), Lowering.CONTROL, VJPS[op],  # type: ignore[arg-type]
                 attrs=attrs, batching=Batching.NONE, subfunctions=subfunctions,
                 doc=f"{op.value}: a higher-order primitive (see tracegrad.ir.prims.control)")
        )  # fmt: skip


_register()
