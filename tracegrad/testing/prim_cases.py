"""Test entries of the primitive rows: one per differentiable elementwise row.

Each entry gives the gradient check its input domains (``tests/test_autodiff.py`` checks every
entry with ``check_grads`` at orders 1 and 2) or names the composite test covering the row, and
says whether random programs (:mod:`tracegrad.testing.programs`) draw the op, with a wrapper
making it total on [-3, 3] where it is partial. The lowering tests parametrize over the rows
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
    in_programs: bool = False  # random programs draw this op
    safe: Callable[..., Value] | None = None  # the op made total on [-3, 3] (programs)


def _abs1(x: Value) -> Value:
    return b.add(b.unary(Op.ABS, x), 1.0)


def _clip(x: Value, lo: float, hi: float) -> Value:
    return b.minimum(b.maximum(x, lo), hi)


_D = Domain()
_SQUARE = Domain(shape=(2, 2))
_POS = Domain(0.2, 3.0)

CASES: dict[Op, PrimCase] = {
    # unary, in the order random programs draw them
    Op.NEG: PrimCase((_D,), in_programs=True),
    Op.ABS: PrimCase((Domain(0.2, 2.0, both_signs=True),), in_programs=True),
    Op.SIN: PrimCase((_SQUARE,), in_programs=True),
    Op.COS: PrimCase((_SQUARE,), in_programs=True),
    Op.TANH: PrimCase((_D,), in_programs=True),
    Op.EXP: PrimCase((_D,), in_programs=True, safe=lambda x: b.exp(_clip(x, -10.0, 10.0))),
    Op.LOG: PrimCase((_POS,), in_programs=True, safe=lambda x: b.log(_abs1(x))),
    Op.SQRT: PrimCase(
        (_POS,), in_programs=True, safe=lambda x: b.sqrt(b.add(b.unary(Op.ABS, x), 0.5))
    ),
    Op.LOG1P: PrimCase(
        (Domain(-0.5, 2.0),), in_programs=True, safe=lambda x: b.unary(Op.LOG1P, b.unary(Op.ABS, x))
    ),
    Op.EXPM1: PrimCase(
        (_D,), in_programs=True, safe=lambda x: b.unary(Op.EXPM1, b.minimum(x, 10.0))
    ),
    Op.TAN: PrimCase((Domain(-1.2, 1.2),)),
    Op.ATAN: PrimCase((Domain(-3.0, 3.0),)),
    Op.CAST: PrimCase(covered_by="cast32"),
    # binary, in the order random programs draw them
    Op.ADD: PrimCase((Domain(shape=(2, 3)), _D), in_programs=True),
    Op.SUB: PrimCase((Domain(shape=(2, 1)), Domain(shape=(2, 3))), in_programs=True),
    Op.MUL: PrimCase((Domain(shape=(2, 3)), Domain(shape=(2, 3))), in_programs=True),
    Op.DIV: PrimCase(
        (_D, Domain(0.5, 2.0, both_signs=True)),
        in_programs=True,
        safe=lambda x, y: b.div(x, b.add(b.mul(y, y), 1.0)),
    ),
    Op.POW: PrimCase(
        (Domain(0.3, 2.0), Domain(-1.5, 2.5)),
        in_programs=True,
        safe=lambda x, y: b.pow(_abs1(x), _clip(y, -3.0, 3.0)),
    ),
    Op.MAXIMUM: PrimCase((Domain(-2.0, -0.1, (4,)), Domain(0.1, 2.0, (4,))), in_programs=True),
    Op.MINIMUM: PrimCase((Domain(-2.0, -0.1, (4,)), Domain(0.1, 2.0, (4,))), in_programs=True),
    Op.MOD: PrimCase((Domain(0.1, 0.9), Domain(1.1, 2.0))),
    Op.ATAN2: PrimCase((Domain(0.2, 2.0, both_signs=True), Domain(0.2, 2.0, both_signs=True))),
    Op.WHERE: PrimCase(covered_by="where"),
    Op.COPYSIGN: PrimCase((Domain(0.2, 2.0, both_signs=True), Domain(0.2, 2.0, both_signs=True))),
    Op.FMOD: PrimCase((Domain(0.1, 0.9, both_signs=True), Domain(1.1, 2.0, both_signs=True))),
}
