"""The LLVM backend lowers int8 ... uint64 and float16 natively (#15, dtypes): no kernel
falls back to numpy, the values are numpy's bit for bit (unsigned division, comparison,
extension; float16 in float, rounded once), and where the host cannot convert half inline
the float16 ops become interpreter steps with the same values."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import tracegrad

sys.path.insert(0, str(Path(__file__).parent))
from _lowering_util import BACKEND, assert_same, function_of, run_both  # noqa: E402

from tracegrad.ir import build as b  # noqa: E402
from tracegrad.ir import build_shape as bs  # noqa: E402
from tracegrad.ir.ops import Op  # noqa: E402
from tracegrad.llvm.plan import kernels  # noqa: E402
from tracegrad.llvm.plan.kernels import InterpretStep, KernelGroup  # noqa: E402

INTS = [np.int8, np.uint8, np.int16, np.uint16, np.uint32, np.uint64]


def _edges(dtype: type, n: int = 41) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(15)
    if np.dtype(dtype).kind == "f":
        x = (rng.standard_normal(n) * 300).astype(dtype)
        y = rng.standard_normal(n).astype(dtype)
        x[:6], y[:6] = [np.nan, np.inf, -0.0, 65504, 0.0, -3.0], [1, 0, 0.0, -0.0, -0.0, 0.0]
        return x, y
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
    y = rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
    x[:5], y[:5] = [info.min, info.max, 0, info.max, 7], [0, 0, 0, 1, 0]
    if info.min < 0:
        x[5], y[5] = info.min, -1  # INT_MIN // -1: numpy's INT_MIN
    y[6] = 3
    return x, y


def _everything(p, q):  # type: ignore[no-untyped-def]
    """One of each emitter, and each reduction that is lowered for the dtype."""
    outs = [
        b.add(p, q), b.sub(p, q), b.mul(p, q), b.div(p, q), b.lt(p, q), b.eq(p, q),
        b.binary(Op.GE, p, q), b.maximum(p, q), b.minimum(p, q), b.neg(p),
        b.binary(Op.FLOORDIV, p, q), b.binary(Op.MOD, p, q), b.binary(Op.FMOD, p, q),
        b.unary(Op.ABS, p), b.unary(Op.SIGN, p), b.where(b.lt(p, q), p, q),
        b.cast(p, b.DType.FLOAT64), b.cast(p, b.DType.INT8), b.cast(p, b.DType.UINT64),
    ]  # fmt: skip
    if not p.dtype.is_float:  # float16 reductions stay with numpy (see kernels.py)
        outs += [bs.sum(p), bs.reduce(Op.REDUCE_MAX, p), bs.reduce(Op.REDUCE_MIN, p, 0),
                 bs.arg_reduce(Op.ARGMAX, p), bs.arg_reduce(Op.ARGMIN, p)]  # fmt: skip
    return tuple(outs)


@pytest.mark.parametrize("dtype", [*INTS, np.float16], ids=lambda t: np.dtype(t).name)
def test_lowered_natively_and_bitwise(dtype: type) -> None:
    if dtype is np.float16 and not kernels.half_native():
        pytest.skip("this host converts half through library calls: see the fallback test")
    x, y = _edges(dtype)
    fn = function_of(_everything, [x, y])
    executable = BACKEND.compile(fn)
    assert executable.fallbacks == []  # type: ignore[attr-defined]
    steps = executable.plan.steps  # type: ignore[attr-defined]
    assert all(isinstance(s, KernelGroup) for s in steps), [type(s).__name__ for s in steps]
    got, want = run_both(_everything, x, y)
    assert_same(got, want)


def test_float16_math_within_one_ulp() -> None:
    """numpy's float16 exp, log, sin, tanh, power: the float routine, rounded to half."""
    x = np.linspace(-8, 8, 2001).astype(np.float16)
    pos = np.abs(x) + np.float16(0.01)
    for build, args in [
        (b.exp, (x,)), (b.log, (pos,)), (lambda p: b.unary(Op.SIN, p), (x,)),
        (lambda p: b.unary(Op.TANH, p), (x,)), (lambda p, q: b.pow(p, q), (pos, x / 4)),
    ]:  # fmt: skip
        got, want = run_both(build, *args)
        assert got[0].dtype == np.float16
        assert_same(got, want, ulp=1)


def test_float16_without_inline_half_conversion_runs_numpys_loops(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(kernels, "half_native", lambda: False)
    x, y = _edges(np.float16)
    executable = BACKEND.compile(function_of(lambda p, q: b.mul(b.add(p, q), p), [x, y]))
    steps = executable.plan.steps  # type: ignore[attr-defined]
    assert steps and all(isinstance(s, InterpretStep) for s in steps)
    got, want = run_both(lambda p, q: b.mul(b.add(p, q), p), x, y)
    assert_same(got, want)


def test_int8_and_uint8_of_one_shape_are_separate_specializations() -> None:
    """The call path checks the dtype, not just the item size: an int8 array never runs
    the uint8 kernels (division and comparison differ)."""
    f = tracegrad.jit(lambda p, q: (p // q, p < q, p.astype(np.float32)))
    u = np.array([200, 7, 255], np.uint8)
    s = u.view(np.int8)
    one = np.array([3, 2, 1], np.uint8)
    for _ in range(40):  # past the tier-up to the native wrappers and entry
        for a, d in ((u, one), (s, one.view(np.int8))):
            got = f(a, d)
            want = (a // d, a < d, a.astype(np.float32))
            for g, w in zip(got, want, strict=True):
                assert g.dtype == w.dtype
                np.testing.assert_array_equal(g, w)
