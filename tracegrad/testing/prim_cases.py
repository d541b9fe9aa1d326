"""Test entries of the primitive rows: one per differentiable elementwise row.

Each entry gives the gradient check its input domains (``tests/test_autodiff.py`` checks every
entry with ``check_grads`` at orders 1 and 2) or names the composite test covering the row, and
random programs (:mod:`tracegrad.testing.programs`) draw every entry with domains, with a
wrapper making the op total on [-3, 3] where it is partial (``tests/test_programs_rows.py``
fails, naming the row, for a partial op without one). The lowering tests parametrize over the rows
themselves (``tests/llvm/test_lowering.py``), and ``tests/test_prim_table.py`` fails, naming
the row, when a differentiable elementwise row has no entry here.

The entries' order is the order random programs draw ops in (keep it: hypothesis replays).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tracegrad.ir import build as b
from tracegrad.ir.ops import Op
from tracegrad.ir.value import Value


@dataclass(frozen=True)
class Domain:
    """Inputs drawn uniformly from [lo, hi]; with ``both_signs`` magnitudes in [lo, hi] with
    random signs (away from a kink at zero)."""

    lo: float = -2.0
    hi: float = 2.0
    shape: tuple[int, ...] = (3,)
    both_signs: bool = False


@dataclass(frozen=True)
class PrimCase:
    domains: tuple[Domain, ...] = ()  # one per operand: check_grads on these
    covered_by: str = ""  # or: the id of the tests/test_autodiff.py entry that covers the row
    # random programs draw every entry with domains; where the op is partial on [-3, 3] (a
    # pole, a zero divisor) or jumps at 0, ``safe`` is the op made total and kept
    # continuous at 0 (their safe mode uses it)
    safe: Callable[..., Value] | None = None


def _abs1(x: Value) -> Value:
    return b.add(b.unary(Op.ABS, x), 1.0)


def _clip(x: Value, lo: float, hi: float) -> Value:
    return b.minimum(b.maximum(x, lo), hi)


_D = Domain()
_SQUARE = Domain(shape=(2, 2))
_POS = Domain(0.2, 3.0)

CASES: dict[Op, PrimCase] = {
    # unary, in the order random programs draw them
    Op.NEG: PrimCase((_D,)),
    Op.ABS: PrimCase((Domain(0.2, 2.0, both_signs=True),)),
    Op.SIN: PrimCase((_SQUARE,)),
    Op.COS: PrimCase((_SQUARE,)),
    Op.TANH: PrimCase((_D,)),
    Op.EXP: PrimCase((_D,), safe=lambda x: b.exp(_clip(x, -10.0, 10.0))),
    Op.LOG: PrimCase((_POS,), safe=lambda x: b.log(_abs1(x))),
    Op.SQRT: PrimCase((_POS,), safe=lambda x: b.sqrt(b.add(b.unary(Op.ABS, x), 0.5))),
    Op.LOG1P: PrimCase((Domain(-0.5, 2.0),), safe=lambda x: b.unary(Op.LOG1P, b.unary(Op.ABS, x))),
    Op.EXPM1: PrimCase((_D,), safe=lambda x: b.unary(Op.EXPM1, b.minimum(x, 10.0))),
    Op.TAN: PrimCase((Domain(-1.2, 1.2),), safe=lambda x: b.unary(Op.TAN, _clip(x, -1.2, 1.2))),
    Op.ATAN: PrimCase((Domain(-3.0, 3.0),)),
    Op.CAST: PrimCase(covered_by="cast32"),
    # binary, in the order random programs draw them
    Op.ADD: PrimCase((Domain(shape=(2, 3)), _D)),
    Op.SUB: PrimCase((Domain(shape=(2, 1)), Domain(shape=(2, 3)))),
    Op.MUL: PrimCase((Domain(shape=(2, 3)), Domain(shape=(2, 3)))),
    Op.DIV: PrimCase(
        (_D, Domain(0.5, 2.0, both_signs=True)),
        safe=lambda x, y: b.div(x, b.add(b.mul(y, y), 1.0)),
    ),
    Op.POW: PrimCase(
        (Domain(0.3, 2.0), Domain(-1.5, 2.5)),
        safe=lambda x, y: b.pow(_abs1(x), _clip(y, -3.0, 3.0)),
    ),
    Op.MAXIMUM: PrimCase((Domain(-2.0, -0.1, (4,)), Domain(0.1, 2.0, (4,)))),
    Op.MINIMUM: PrimCase((Domain(-2.0, -0.1, (4,)), Domain(0.1, 2.0, (4,)))),
    # the safe forms of the ops that jump keep their jumps off 0, where exact zeros (x - x)
    # meet the optimizer's stabilizing rewrites (log(1 + t) -> log1p(t) turns 0 into t)
    Op.MOD: PrimCase(
        (Domain(0.1, 0.9), Domain(1.1, 2.0)),
        safe=lambda x, y: b.binary(Op.MOD, b.add(x, 0.3), _abs1(y)),
    ),
    Op.ATAN2: PrimCase(
        (Domain(0.2, 2.0, both_signs=True), Domain(0.2, 2.0, both_signs=True)),
        safe=lambda y, x: b.binary(Op.ATAN2, y, b.add(b.unary(Op.ABS, x), 0.5)),
    ),
    Op.WHERE: PrimCase(covered_by="where"),
    Op.COPYSIGN: PrimCase(
        (Domain(0.2, 2.0, both_signs=True), Domain(0.2, 2.0, both_signs=True)),
        safe=lambda x, y: b.binary(Op.COPYSIGN, x, b.add(y, 0.3)),
    ),
    Op.FMOD: PrimCase(
        (Domain(0.1, 0.9, both_signs=True), Domain(1.1, 2.0, both_signs=True)),
        safe=lambda x, y: b.binary(Op.FMOD, x, _abs1(y)),
    ),
}
