"""Reduction kernels vs the interpreter: every reduction op, dtype and axis set, odd and
empty sizes, NaN and tie rules, determinism, and pairwise-level accuracy at 10^7."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _lowering_util import BACKEND, function_of, run_both, sample  # noqa: E402

from tracegrad.ir import build as b  # noqa: E402
from tracegrad.ir.ops import Op  # noqa: E402
from tracegrad.llvm.plan.kernels import count_kinds  # noqa: E402

REDUCE = [Op.REDUCE_SUM, Op.REDUCE_PROD, Op.REDUCE_MAX, Op.REDUCE_MIN]
SHAPES = [(0,), (1,), (7,), (17,), (1023,), (5000,), (3, 17), (17, 3), (2, 3, 4), (4, 0), (2, 1, 5)]


def _axes_sets(nd: int) -> list[tuple[int, ...]]:
    sets = [tuple(range(nd))] + [(i,) for i in range(nd)]
    return sets + ([(0, nd - 1)] if nd > 2 else [])


def _compare(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    if got.dtype.kind == "f":
        rtol = 1e-5 if got.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "int64", "bool"])
def test_reductions_match_numpy(dtype: str, rng: np.random.Generator) -> None:
    """All reductions of one input in one Function (one module), compared one by one."""
    for shape in SHAPES:
        x = sample(dtype, math.prod(shape), rng, special=False).reshape(shape)
        cases = []
        for op in REDUCE:
            for axes in _axes_sets(len(shape)):
                fn = lambda a, op=op, ax=axes: b.apply(op, [a], axes=ax)  # noqa: E731
                try:
                    function_of(fn, [x])
                except Exception:  # noqa: BLE001 -- op not defined for this dtype
                    continue
                empty = math.prod(shape[a] for a in axes) == 0
                if empty and op in (Op.REDUCE_MAX, Op.REDUCE_MIN):
                    with pytest.raises(ValueError):  # numpy has no identity: same error
                        run_both(fn, x)
                    continue
                cases.append(fn)
        got, want = run_both(lambda a, cs=cases: tuple(fn(a) for fn in cs), x)
        for g, w in zip(got, want, strict=True):
            _compare(g, w)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "int64", "bool"])
def test_argmax_argmin(dtype: str, rng: np.random.Generator) -> None:
    for shape in [(1,), (7,), (1023,), (3, 17), (17, 3), (2, 3, 4)]:
        x = sample(dtype, math.prod(shape), rng).reshape(shape)
        if dtype.startswith("int"):
            x = x % 4  # many ties
        nd = len(shape)
        got, want = run_both(
            lambda a, nd=nd: tuple(
                b.apply(op, [a], axis=ax) for op in (Op.ARGMAX, Op.ARGMIN) for ax in range(nd)
            ),
            x,
        )
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


def test_argmax_nan_and_ties() -> None:
    x = np.array([[1.0, np.nan, 3.0, np.nan, 3.0], [2.0, 2.0, 1.0, 1.0, 0.0], [-np.inf] * 5])
    x = np.tile(x, (1, 13))
    for op in (Op.ARGMAX, Op.ARGMIN):
        got, want = run_both(lambda a, op=op: b.apply(op, [a], axis=1), x)
        np.testing.assert_array_equal(got[0], want[0])


def test_max_nan_propagates() -> None:
    x = np.arange(100.0)
    x[57] = np.nan
    got, _ = run_both(
        lambda a: (b.apply(Op.REDUCE_MAX, [a], axes=(0,)), b.apply(Op.REDUCE_MIN, [a], axes=(0,))),
        x,
    )
    assert np.isnan(got[0]) and np.isnan(got[1])


def test_empty_max_raises_like_numpy() -> None:
    fn = function_of(lambda a: b.apply(Op.REDUCE_MAX, [a], axes=(1,)), [np.zeros((3, 0))])
    with pytest.raises(ValueError):
        BACKEND.compile(fn)([np.zeros((3, 0))])


def test_fused_prologue_is_inline(rng: np.random.Generator) -> None:
    x = rng.standard_normal((9, 33))
    fn = function_of(lambda a: b.apply(Op.REDUCE_SUM, [b.exp(b.mul(a, 0.5))], axes=(1,)), [x])
    exe = BACKEND.compile(fn)
    assert count_kinds(exe.plan) == {"reduce": 1}
    np.testing.assert_allclose(exe([x])[0], np.exp(x * 0.5).sum(1), rtol=1e-13)


def test_sum_accuracy_and_determinism_1e7() -> None:
    x = np.random.default_rng(7).random(10**7)
    exe = BACKEND.compile(function_of(lambda a: b.apply(Op.REDUCE_SUM, [a], axes=(0,)), [x]))
    first = exe([x])[0]
    assert exe([x])[0].tobytes() == first.tobytes()  # same bits on every run
    exact = math.fsum(x)
    ours, numpys = abs(float(first) - exact), abs(float(np.sum(x)) - exact)
    naive_bound = 1e-11 * exact  # serial summation errs by ~1e-10 relative here
    assert ours <= max(8 * numpys, 64 * np.finfo(float).eps * exact)
    assert ours < naive_bound


def test_float32_sum_accuracy() -> None:
    x = np.random.default_rng(8).random(10**6).astype(np.float32)
    exe = BACKEND.compile(function_of(lambda a: b.apply(Op.REDUCE_SUM, [a], axes=(0,)), [x]))
    exact = math.fsum(x.astype(np.float64))
    assert abs(float(exe([x])[0]) - exact) <= 1e-5 * exact
