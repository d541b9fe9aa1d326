"""The primitive table: every Op has a complete row (the completeness check names the row that
lacks a lowering, a VJP decision, an ulp bound or a test entry), and every row's type rule
agrees with its numpy implementation on hypothesis-drawn shapes and dtypes (0-d and size-0
included)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tracegrad.numpy as tnp
from tracegrad.errors import DTypeError
from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import (
    BINARY_ELEMENTWISE,
    NONDIFF,
    PRIMS,
    UNARY_ELEMENTWISE,
    Emitter,
    Lowering,
    MathRoutine,
    Prim,
    Scalar,
)
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import param
from tracegrad.llvm.codegen import EMITTERS
from tracegrad.llvm.mathlib import library as mathlib
from tracegrad.numpy import dispatch
from tracegrad.testing.prim_cases import CASES
from tracegrad.tracing.trace import trace

ALL_DTYPES = list(DType)


def test_every_op_has_a_row() -> None:
    assert set(PRIMS) == set(Op)
    for op, prim in PRIMS.items():
        assert prim.op is op
        assert callable(prim.type_rule) and callable(prim.numpy_impl)
        assert isinstance(prim.lowering, Lowering)


def row_problems(prim: Prim, cases: dict = CASES) -> list[str]:
    """What the row lacks: a lowering, a VJP decision, an ulp bound, a test entry."""
    problems = []
    if not (prim.vjp is NONDIFF or callable(prim.vjp)):
        problems.append("no VJP decision (a rule or NONDIFF)")
    if not isinstance(prim.lowering, Lowering):
        problems.append("no lowering kind")
    if prim.is_elementwise:
        problems += _scalar_problems(prim)
        if callable(prim.vjp) and prim.op not in cases:
            problems.append("differentiable but no test entry in tracegrad/testing/prim_cases.py")
    elif prim.scalar is not None:
        problems.append("a scalar lowering on a non-elementwise row")
    return [f"row {prim.op.value}: {p}" for p in problems]


def _scalar_problems(prim: Prim) -> list[str]:
    spec = prim.scalar
    if spec is None or spec.emitter not in EMITTERS:
        return ["no scalar lowering (Scalar spec with an emitter tracegrad.llvm knows)"]
    routine = spec.routine
    if (spec.emitter is Emitter.MATH) != (routine is not None):
        return ["a MATH emitter needs a math routine, and a routine needs the MATH emitter"]
    if routine is None:
        return []
    problems = []
    if routine.name not in mathlib.MATH_FUNCTIONS:
        problems.append(f"math routine {routine.name!r} is not in tracegrad.llvm.mathlib.library")
    elif mathlib.math_routine_arity(routine.name) != prim.arity:
        problems.append(f"math routine {routine.name!r} does not take {prim.arity} arguments")
    for bound in (routine.ulp_f64, routine.ulp_f32):
        if not (isinstance(bound, (int, float)) and 0 < bound < 100):
            problems.append(f"math routine {routine.name!r} has no ulp bound ({bound!r})")
    return problems


@pytest.mark.parametrize("op", list(PRIMS), ids=lambda op: op.value)
def test_row_is_complete(op: Op) -> None:
    problems = row_problems(PRIMS[op])
    assert problems == [], "\n".join(problems)


def test_completeness_check_names_the_incomplete_row() -> None:
    exp = PRIMS[Op.EXP]
    cases = {k: v for k, v in CASES.items() if k is not Op.EXP}
    assert row_problems(exp, cases) == [
        "row exp: differentiable but no test entry in tracegrad/testing/prim_cases.py"
    ]
    assert row_problems(replace(exp, vjp=None)) == ["row exp: no VJP decision (a rule or NONDIFF)"]
    assert row_problems(replace(exp, scalar=None))[0].startswith("row exp: no scalar lowering")
    no_bound = Scalar(Emitter.MATH, routine=MathRoutine("exp", float("nan")))
    assert row_problems(replace(exp, scalar=no_bound)) == [
        "row exp: math routine 'exp' has no ulp bound (nan)"
    ]
    unknown = Scalar(Emitter.MATH, routine=MathRoutine("erfcx", 1.0))
    assert "not in tracegrad.llvm.mathlib.library" in row_problems(replace(exp, scalar=unknown))[0]
    binary = Scalar(Emitter.MATH, routine=MathRoutine("pow", 1.0))
    assert row_problems(replace(exp, scalar=binary)) == [
        "row exp: math routine 'pow' does not take 1 arguments"
    ]


def test_row_numpy_names_are_functions_and_ufuncs() -> None:
    """Every numpy name of a row is a tracegrad.numpy function applying the op, and numpy's
    ufunc of that name dispatches to it."""
    for op, prim in PRIMS.items():
        for name in prim.numpy_names:
            fn = getattr(tnp, name)
            args = [np.array([0.5, 2.0])] * (prim.arity or 1)
            ops = {v.op for v in trace(fn, args).function.order}
            assert op in ops, (name, ops)
            ufunc = getattr(np, name, None)
            if isinstance(ufunc, np.ufunc):
                assert dispatch.UFUNCS[ufunc] is fn, name


def test_nondiff_marker_is_distinct() -> None:
    assert NONDIFF is not None and repr(NONDIFF) == "NONDIFF"


def _array(dtype: DType, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    if dtype.is_float:
        elements = st.floats(-3, 3, width=8 * dtype.numpy.itemsize)
    elif dtype.is_int:
        elements = st.integers(0 if dtype.is_unsigned else -4, 4)
    else:
        elements = st.booleans()
    return hnp.arrays(dtype.numpy, shape, elements=elements)


def _check(op: Op, arrays: list[np.ndarray], **attrs: object) -> None:
    params = [
        param(i, TensorType(DType.from_numpy(a.dtype), a.shape)) for i, a in enumerate(arrays)
    ]
    try:
        value = b.apply(op, params, **attrs)
    except DTypeError:
        return  # the row rejects this dtype (stricter than numpy by design: builders cast)
    with np.errstate(all="ignore"):
        out = np.asarray(PRIMS[op].numpy_impl(*arrays, **attrs))
    assert out.shape == value.shape, (op, out.shape, value.shape)
    assert out.astype(value.dtype.numpy).dtype == value.dtype.numpy
    if op is not Op.CAST and not (op is Op.FLOOR and value.dtype.is_int):
        assert DType.from_numpy(out.dtype) is value.dtype, (op, out.dtype, value.dtype)


shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)


@pytest.mark.parametrize("op", sorted(UNARY_ELEMENTWISE - {Op.CAST}, key=lambda o: o.value))
@given(data=st.data(), shape=shapes, dtype=st.sampled_from(ALL_DTYPES))
def test_unary_rule_matches_numpy(op: Op, data: st.DataObject, shape: tuple, dtype: DType) -> None:
    _check(op, [data.draw(_array(dtype, shape))])


@pytest.mark.parametrize("op", sorted(BINARY_ELEMENTWISE, key=lambda o: o.value))
@given(data=st.data(), shape=shapes, dtype=st.sampled_from(ALL_DTYPES))
def test_binary_rule_matches_numpy(op: Op, data: st.DataObject, shape: tuple, dtype: DType) -> None:
    arrays = [data.draw(_array(dtype, shape)) for _ in range(2)]
    if op is Op.POW and dtype.is_int:
        arrays[1] = np.abs(arrays[1])  # numpy rejects negative integer powers
    _check(op, arrays)


@given(
    data=st.data(), shape=shapes, src=st.sampled_from(ALL_DTYPES), dst=st.sampled_from(ALL_DTYPES)
)
def test_cast_and_where(data: st.DataObject, shape: tuple, src: DType, dst: DType) -> None:
    x = data.draw(_array(src, shape))
    _check(Op.CAST, [x], dtype=dst)
    cond = data.draw(_array(DType.BOOL, shape))
    _check(Op.WHERE, [cond, x, x])


@pytest.mark.parametrize("op", [Op.REDUCE_SUM, Op.REDUCE_PROD, Op.REDUCE_MAX, Op.REDUCE_MIN])
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3),
       dtype=st.sampled_from(ALL_DTYPES))  # fmt: skip
def test_reduction_rules(op: Op, data: st.DataObject, shape: tuple, dtype: DType) -> None:
    x = data.draw(_array(dtype, shape))
    axes = tuple(sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    _check(op, [x], axes=axes)


@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
def test_structural_rules(data: st.DataObject, shape: tuple) -> None:
    x = data.draw(_array(DType.FLOAT64, shape))
    ndim = len(shape)
    axis = data.draw(st.integers(0, ndim - 1))
    _check(Op.ARGMAX, [x], axis=axis)
    _check(Op.ARGMIN, [x], axis=axis)
    _check(Op.CUMSUM, [x], axis=axis)
    for op in (Op.CUMPROD, Op.SORT, Op.ARGSORT):
        _check(op, [x], axis=axis)
    _check(Op.SEARCHSORTED, [np.sort(x.ravel()), x], side="left")
    perm = tuple(data.draw(st.permutations(range(ndim))))
    _check(Op.TRANSPOSE, [x], perm=perm)
    _check(Op.RESHAPE, [x], shape=(int(np.prod(shape)),))
    _check(Op.BROADCAST, [x], shape=(2,) + shape)
    slices = tuple(
        slice(data.draw(st.integers(-d, d)), data.draw(st.integers(-d, d)),
              data.draw(st.sampled_from([1, 2, -1, -3]))).indices(d)
        for d in shape
    )  # fmt: skip
    _check(Op.SLICE, [x], slices=slices)
    pads = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in shape)
    _check(Op.PAD, [x], pads=pads, value=0.0)
    _check(Op.CONCATENATE, [x, x], axis=axis)
    idx = data.draw(hnp.arrays(np.int64, (3,), elements=st.integers(0, shape[axis] - 1)))
    _check(Op.GATHER, [x, idx], axis=axis)
    updates = np.ones(shape[:axis] + (3,) + shape[axis + 1 :])
    _check(Op.SCATTER_ADD, [x, idx, updates], axis=axis)


@given(m=st.integers(0, 3), k=st.integers(0, 3), n=st.integers(0, 3), batch=st.integers(1, 2))
def test_matmul_rule(m: int, k: int, n: int, batch: int) -> None:
    _check(Op.MATMUL, [np.ones((batch, m, k)), np.ones((batch, k, n))])
