"""Elementwise lowering vs the reference interpreter: every unary/binary op, cast and
dtype on odd sizes, special values, bitwise (ulp-bounded for the math functions)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _lowering_util import check, function_of, run_both, sample  # noqa: E402

from tracegrad.ir import build as b  # noqa: E402
from tracegrad.ir.dtypes import DType  # noqa: E402
from tracegrad.ir.ops import Op  # noqa: E402
from tracegrad.ir.prims import PRIMS  # noqa: E402

DTYPES = ["float64", "float32", "int32", "int64", "bool"]
SIZES = [0, 1, 7, 17, 1023]
# The ops under test come from the rows: every elementwise row with a scalar lowering (casts
# and where have their own tests). A math routine's result is compared with numpy's libm, so
# the bound is the routine's plus numpy's own error (rounded up).
_ROWS = {op: p for op, p in PRIMS.items() if p.is_elementwise and op not in (Op.CAST, Op.WHERE)}
MATH_ULP = {
    op: math.ceil(p.scalar.routine.ulp_f64 + 1)
    for op, p in _ROWS.items()
    if p.scalar is not None and p.scalar.routine is not None
}
UNARY = sorted((op for op, p in _ROWS.items() if p.arity == 1), key=lambda op: op.value)
BINARY = sorted((op for op, p in _ROWS.items() if p.arity == 2), key=lambda op: op.value)


def _typechecks(fn, arrays) -> bool:
    try:
        function_of(fn, arrays)
    except Exception:  # noqa: BLE001 -- op not defined for this dtype
        return False
    return True


@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_ops(dtype: str, rng: np.random.Generator) -> None:
    for n in SIZES:
        x = sample(dtype, n, rng)
        exact = [
            op
            for op in UNARY
            if op not in MATH_ULP and _typechecks(lambda a, op=op: b.unary(op, a), [x])
        ]
        check(lambda a, ops=tuple(exact): tuple(b.unary(op, a) for op in ops), x)
        for op in (op for op in UNARY if op in MATH_ULP):
            fn = lambda a, op=op: b.unary(op, a)  # noqa: E731
            if _typechecks(fn, [x]):
                check(fn, x, ulp=MATH_ULP[op])


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_ops(dtype: str, rng: np.random.Generator) -> None:
    for n in SIZES:
        x, y = sample(dtype, n, rng), sample(dtype, n, rng)[::-1].copy()
        ops = [
            op for op in BINARY
            if op not in MATH_ULP and _typechecks(lambda a, c, op=op: b.apply(op, [a, c]), [x, y])
        ]  # fmt: skip
        check(lambda a, c, ops=tuple(ops): tuple(b.apply(op, [a, c]) for op in ops), x, y)
        if dtype.startswith("int"):
            y = np.abs(y) % 5  # numpy raises for negative integer powers
        for op in (op for op in BINARY if op in MATH_ULP):
            fn = lambda a, c, op=op: b.apply(op, [a, c])  # noqa: E731
            if _typechecks(fn, [x, y]):
                check(fn, x, y, ulp=MATH_ULP[op])


@pytest.mark.parametrize("src", DTYPES)
def test_casts(src: str, rng: np.random.Generator) -> None:
    x = sample(src, 1023, rng)
    if src.startswith("float"):
        x[:8] = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 1e19, -1e19, -2147483648.5]).astype(
            src
        )
    check(lambda a: tuple(b.cast(a, DType(d)) for d in DTYPES if d != src), x)


def test_float_floordiv_mod_specials() -> None:
    vals = np.array([0.0, -0.0, 1.0, -1.0, 5.5, -5.5, 3.0, np.inf, -np.inf, np.nan, 1e-310, 7.0])
    x, y = (a.ravel() for a in np.meshgrid(vals, vals))
    for dt in ("float64", "float32"):
        check(lambda a, c: b.apply(Op.FLOORDIV, [a, c]), x.astype(dt), y.astype(dt))
        check(lambda a, c: b.apply(Op.MOD, [a, c]), x.astype(dt), y.astype(dt))


def test_int_division_edges() -> None:
    for dt in ("int32", "int64"):
        lo = np.iinfo(dt).min
        x = np.array([lo, lo, 7, -7, 7, -7, 0, 5, lo], dtype=dt)
        y = np.array([-1, 0, 0, 0, -2, 2, 0, 1, 1], dtype=dt)
        check(lambda a, c: b.apply(Op.FLOORDIV, [a, c]), x, y)
        check(lambda a, c: b.apply(Op.MOD, [a, c]), x, y)


def test_maximum_minimum_signed_zero_and_nan() -> None:
    x = np.array([-0.0, 0.0, np.nan, 1.0, np.nan, -np.inf])
    y = np.array([0.0, -0.0, 1.0, np.nan, np.nan, np.inf])
    for op in (Op.MAXIMUM, Op.MINIMUM):
        check(lambda a, c, op=op: b.apply(op, [a, c]), x, y)


def test_where_and_fused_chain(rng: np.random.Generator) -> None:
    x, y = rng.standard_normal(1023), rng.standard_normal(1023)

    def fn(a, c):
        t = b.add(b.mul(a, c), 1.5)
        return b.where(b.gt(t, 0.0), b.sqrt(b.unary(Op.ABS, t)), b.neg(t)), b.mul(t, t)

    check(fn, x, y)


@pytest.mark.parametrize(
    "shapes",
    [((3, 1), (1, 4)), ((5,), (2, 3, 5)), ((), (4, 4)), ((2, 1, 3), (1, 4, 1)), ((0, 3), (1, 3))],
)
def test_broadcasting(shapes, rng: np.random.Generator) -> None:
    arrays = [rng.standard_normal(s) for s in shapes]
    check(lambda a, c: b.exp(b.sub(b.mul(a, c), c)), *arrays, ulp=2)
    check(lambda a, c: b.maximum(a, c), *arrays)


def test_zero_d(rng: np.random.Generator) -> None:
    check(lambda a, c: b.add(b.mul(a, a), c), np.array(3.0), np.array(0.5))
    check(lambda a: b.mul(a, 2), np.array(7, dtype=np.int32))


def test_scalar_constants_exact() -> None:
    x = np.linspace(-3, 3, 17).astype(np.float32)
    check(lambda a: b.mul(b.add(a, np.float32(0.1)), np.float32(1 / 3)), x)
    check(lambda a: b.where(b.gt(a, 0.0), a, np.float32(np.nan)), x)


def test_outputs_are_fresh_and_inputs_untouched(rng: np.random.Generator) -> None:
    x = rng.standard_normal(17)
    got, _ = run_both(lambda a: (a, b.mul(a, 2.0), a), x)
    assert got[0] is not x and got[2] is not got[0]
    assert not np.shares_memory(got[0], x)
