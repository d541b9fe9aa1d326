"""Random programs draw from the primitive rows (issue 13 item 1): every elementwise row with
a lowering and a test entry with domains is drawn, so a new row is fuzzed as soon as it has
its entry; each drawn op's safe form is total and bounded on [-3, 3]; the fuzzer's gradient
oracle knows the drawn rows' jumps."""

from __future__ import annotations

import numpy as np
import pytest

from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType
from tracegrad.ir.interpreter import evaluate
from tracegrad.ir.ops import Op
from tracegrad.ir.parser import parse_function
from tracegrad.ir.prims import PRIMS
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, param
from tracegrad.testing.domain import outside_differentiable_domain
from tracegrad.testing.prim_cases import CASES
from tracegrad.testing.programs import BINARY_KINDS, UNARY_KINDS

DRAWABLE = [
    op
    for op, case in CASES.items()
    if case.domains and PRIMS[op].is_elementwise and PRIMS[op].scalar is not None
]


@pytest.mark.parametrize("op", DRAWABLE, ids=lambda op: op.value)
def test_every_row_with_a_lowering_and_a_domain_is_drawn(op: Op) -> None:
    kinds = UNARY_KINDS if PRIMS[op].arity == 1 else BINARY_KINDS
    assert op.value in kinds, f"row {op.value}: random programs do not draw it"


def test_arctan_and_arctan2_are_drawn() -> None:
    assert "atan" in UNARY_KINDS and "atan2" in BINARY_KINDS


GRID = np.linspace(-3.0, 3.0, 1201)  # steps of 0.005: 0 and points within 1e-3 of pi/2


@pytest.mark.parametrize("op", DRAWABLE, ids=lambda op: op.value)
def test_each_drawn_op_is_total_and_bounded_in_safe_mode(op: Op) -> None:
    arity = PRIMS[op].arity
    grids = np.meshgrid(*[GRID if arity == 1 else GRID[::10]] * arity, indexing="ij")
    inputs = [g.reshape(-1) for g in grids]
    params = [param(i, TensorType(DType.FLOAT64, x.shape), f"x{i}") for i, x in enumerate(inputs)]
    safe = CASES[op].safe
    out = safe(*params) if safe is not None else b.apply(op, params)
    with np.errstate(all="ignore"):
        (got,) = evaluate(Function("safe", tuple(params), (out,)), inputs)
    # no NaN or inf, and no value large enough that a few more ops overflow
    bad = ~(np.abs(got) < 1e3)
    assert not bad.any(), (
        f"row {op.value}: its safe form is not total on [-3, 3] (at "
        f"{[x[bad][:3] for x in inputs]}): give its entry in tracegrad/testing/prim_cases.py "
        "a ``safe`` wrapper"
    )


@pytest.mark.parametrize("op", DRAWABLE, ids=lambda op: op.value)
def test_each_drawn_op_is_continuous_at_zero_in_safe_mode(op: Op) -> None:
    # an exact 0 (x - x) and a tiny value (log1p(t) where log(1 + t) gave 0) must not be far
    # apart after the op, or the optimized-vs-unoptimized oracle reports a rounding change
    arity = PRIMS[op].arity
    others = np.linspace(-3.0, 3.0, 61)
    for k in range(arity):
        got = []
        for tiny in (0.0, -1e-300, 1e-300):
            inputs = [others.copy() for _ in range(arity)]
            inputs[k][:] = tiny
            params = [param(i, TensorType(DType.FLOAT64, (61,)), f"x{i}") for i in range(arity)]
            safe = CASES[op].safe
            out = safe(*params) if safe is not None else b.apply(op, params)
            with np.errstate(all="ignore"):
                got.append(evaluate(Function("safe", tuple(params), (out,)), inputs)[0])
        jump = np.max(np.abs(np.array(got[1:]) - got[0]), initial=0.0)
        assert jump < 1e-6, f"row {op.value}: its safe form jumps at 0 in operand {k}"


def _binary_text(op: str) -> str:
    return (
        f'func @p(%0: f64[2] "x", %1: f64[2] "y") -> (f64[2]) {{\n'
        f"  %2 = {op} %0, %1 : f64[2]\n  return %2\n}}"
    )


@pytest.mark.parametrize(
    ("op", "bad", "good", "reason"),
    [
        ("mod", [[3.0, 1.0], [1.5, 0.7]], [[3.2, 1.0], [1.5, 0.7]], "mod near a jump"),
        ("atan2", [[1e-6, 1.0], [-1.0, 1.0]], [[1e-6, 1.0], [1.0, 1.0]],
         "arctan2 near its branch cut or the origin"),
        ("atan2", [[1e-3, 1.0], [1e-3, 1.0]], [[0.5, 1.0], [0.5, 1.0]],
         "arctan2 near its branch cut or the origin"),
    ],
)  # fmt: skip
def test_the_gradient_oracle_knows_the_drawn_rows_jumps(op, bad, good, reason) -> None:
    f = parse_function(_binary_text(op))
    assert outside_differentiable_domain(f, [np.array(x) for x in bad]) == reason
    assert outside_differentiable_domain(f, [np.array(x) for x in good]) is None
