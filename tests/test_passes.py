"""The pipeline: levels, the seed's promise, inspection, and pipeline-vs-itself oracles on
hypothesis-drawn random programs (bitwise for the exact passes, tolerance plus "finite stays
finite" for the whole pipeline)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tracegrad
import tracegrad.numpy as tnp
from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.interpreter import evaluate
from tracegrad.ir.ops import Op
from tracegrad.ir.passes import (
    DEFAULT_PIPELINE,
    canonicalize,
    exact_algebra,
    explain,
    fold_constants,
    optimize,
)
from tracegrad.ir.pp import pp
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, Value, param
from tracegrad.ir.verifier import verify

X = param(0, TensorType(DType.FLOAT64, ()), "x")


def raw_square_grad() -> Function:
    """d(x**2)/dx as a reverse-mode transform builds it: (1.0 * 2) * x ** (2 - 1)."""
    return Function("g", (X,), (b.mul(b.mul(1.0, 2.0), b.pow(X, b.sub(2.0, 1.0))),))


def test_seed_promise_from_raw_gradient() -> None:
    assert pp(optimize(raw_square_grad(), verify=True)) == "(2.0 * x)"


def test_seed_promise_through_theano_front_end() -> None:
    T = pytest.importorskip("tracegrad.tensor")  # noqa: N806  (Theano spelling)
    x = T.dscalar("x")
    f = tracegrad.function([x], T.grad(x**2, x))
    assert tracegrad.ir.pp.pp(f.optimized_function) == "(2.0 * x)"


def test_pipeline_is_one_readable_tuple() -> None:
    names = [s.name for s in DEFAULT_PIPELINE]
    assert names == ["canonicalize", "fold_constants", "exact_algebra", "inexact_algebra",
                     "stabilize", "simplify", "control_flow", "slim_loops"]  # fmt: skip
    level_zero = {s.name for s in DEFAULT_PIPELINE if s.min_level == 0}
    assert level_zero == {"canonicalize", "stabilize", "control_flow"}


def test_level_zero_still_stabilizes_but_does_not_fold() -> None:
    f = Function("f", (X,), (b.log(b.div(1.0, b.add(1.0, b.exp(b.neg(X))))),))
    low = optimize(f, 0, verify=True)
    assert evaluate(low, [np.array(-800.0)])[0] == -800.0
    assert optimize(raw_square_grad(), 0).count_ops() > 1
    jitted = tracegrad.jit(lambda v: np.log(tnp.sigmoid(v)), opt_level=0)
    assert float(jitted(-800.0)) == -800.0


def test_level_three_adds_inexact_rules() -> None:
    f = Function("f", (X,), (b.add(0.0, b.mul(0.0, X)),))
    assert optimize(f, 1).count_ops() == 2
    assert optimize(f, 3).count_ops() == 0  # 0.0 + 0.0 * x -> 0.0 (wrong for x = inf, -0.0)


def test_explain_reports_passes_and_rule_counts() -> None:
    report = explain(raw_square_grad(), verify=True)
    assert [s.name for s in report.stages] == [s.name for s in DEFAULT_PIPELINE if s.min_level <= 2]
    assert report.counts()["pow_one"] == 1 and report.counts()["fold_constants"] == 2
    assert "exact_algebra" in str(report) and pp(report.final) == "(2.0 * x)"


def test_dump_env_prints_every_pass(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.setenv("TRACEGRAD_DUMP_PASSES", "1")
    optimize(raw_square_grad())
    err = capsys.readouterr().err
    assert all(f"after {s.name}" in err for s in DEFAULT_PIPELINE if s.min_level <= 2)
    assert "pow_one x1" in err


# ---- random programs ------------------------------------------------------------------

UNARY = [Op.NEG, Op.EXP, Op.LOG, Op.SQRT, Op.ABS, Op.TANH, Op.LOG1P, Op.EXPM1]
BINARY = [Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.POW, Op.MAXIMUM, Op.MINIMUM]
CONSTS = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, 3.0, 4.0]
SHAPES = [(2, 3), (3,), ()]


@st.composite
def programs(draw: st.DrawFn) -> Function:
    """A small random DAG over 1-3 params: elementwise ops, constants, where, reductions and
    the shapes users write (1 + exp(-x), log of sums of exps, softmax)."""
    shapes = draw(st.lists(st.sampled_from(SHAPES), min_size=1, max_size=3))
    params = [param(i, TensorType(DType.FLOAT64, s), f"p{i}") for i, s in enumerate(shapes)]
    values: list[Value] = list(params)
    for _ in range(draw(st.integers(1, 7))):
        pick = st.sampled_from(values)
        kind = draw(st.sampled_from(["unary", "binary", "const", "where", "reduce", "idiom"]))
        a = draw(pick)
        # a second operand numpy can broadcast against ``a`` ((2,) and (2, 3) cannot)
        pick = st.sampled_from([v for v in values if _broadcastable(v.shape, a.shape)])
        if kind == "unary":
            values.append(b.unary(draw(st.sampled_from(UNARY)), a))
        elif kind == "binary":
            values.append(b.binary(draw(st.sampled_from(BINARY)), a, draw(pick)))
        elif kind == "const":
            c = draw(st.sampled_from(CONSTS))
            op = draw(st.sampled_from(BINARY))
            values.append(b.binary(op, c, a) if draw(st.booleans()) else b.binary(op, a, c))
        elif kind == "where":
            values.append(b.where(b.gt(a, 0.0), draw(pick), draw(st.sampled_from(CONSTS))))
        elif kind == "reduce" and a.ndim:
            op = draw(st.sampled_from([Op.REDUCE_SUM, Op.REDUCE_MAX]))
            values.append(bs.reduce(op, a, draw(st.integers(0, a.ndim - 1))))
        elif kind == "idiom":
            values.append(draw(st.sampled_from(IDIOMS))(a))
    return Function("random", tuple(params), (values[-1],))


def _broadcastable(x: tuple, y: tuple) -> bool:
    try:
        np.broadcast_shapes(x, y)
    except ValueError:
        return False
    return True


IDIOMS = [
    lambda a: b.div(1.0, b.add(1.0, b.exp(b.neg(a)))),
    lambda a: b.log(b.add(1.0, b.exp(a))),
    lambda a: b.log(bs.sum(b.exp(a))),
    lambda a: b.sub(b.exp(a), 1.0),
    lambda a: b.log(b.div(b.exp(a), bs.sum(b.exp(a), -1, keepdims=True))) if a.ndim else a,
]

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, 1.0, -1.0, 2.0, 0.5, 800.0, -800.0]
wild = st.one_of(st.sampled_from(SPECIAL), st.floats(-1e6, 1e6))


def _args(data: st.DataObject, f: Function, elements: st.SearchStrategy) -> list[np.ndarray]:
    return [data.draw(hnp.arrays(np.float64, p.shape, elements=elements)) for p in f.params]


def _same_bits(a: np.ndarray, c: np.ndarray) -> bool:
    nan = np.isnan(a) & np.isnan(c)
    return a.shape == c.shape and bool(np.all(nan | (a.view(np.uint64) == c.view(np.uint64))))


@settings(max_examples=60)
@given(f=programs(), data=st.data())
def test_exact_passes_are_bitwise(f: Function, data: st.DataObject) -> None:
    g = f
    for run in (canonicalize, fold_constants, exact_algebra):
        g = run(g)
        verify(g)
    args = _args(data, f, wild)
    for a, c in zip(evaluate(f, args), evaluate(g, args), strict=True):
        assert _same_bits(np.asarray(a, np.float64), np.asarray(c, np.float64)), (args, a, c)


@settings(max_examples=60)
@given(f=programs(), data=st.data(), level=st.sampled_from([0, 1, 2]))
def test_pipeline_only_stabilizes(f: Function, data: st.DataObject, level: int) -> None:
    g = optimize(f, level, verify=True)
    args = _args(data, f, wild)
    (before,), (after,) = evaluate(f, args), evaluate(g, args)
    finite = np.isfinite(before)
    assert np.all(np.isfinite(after[finite])), (args, before, after)
    args = _args(data, f, st.floats(-3.0, 3.0))
    (before,), (after,) = evaluate(f, args), evaluate(g, args)
    ok = np.isfinite(before) & (np.abs(before) < 1e8)
    np.testing.assert_allclose(after[ok], before[ok], rtol=1e-6, atol=1e-9)
    assert optimize(g, level).count_ops() <= g.count_ops()  # idempotent enough: no growth
