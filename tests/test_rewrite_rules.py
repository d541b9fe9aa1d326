"""Every rule, one witness each: the rule fires on it, and its exactness flag is honest.

- exact rules: bitwise equal to the reference interpreter for hypothesis-drawn inputs with
  NaN, +-inf, -0.0 and subnormals (NaNs compare equal whatever their payload);
- non-exact algebra rules: a search over special and random inputs finds a bitwise difference
  (so the flag is needed) and ordinary inputs agree to tolerance;
- stabilization rules: agree to tolerance on moderate inputs and never turn a finite value
  into inf/NaN (nor an inf into NaN) on any input.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.interpreter import evaluate
from tracegrad.ir.ops import Op
from tracegrad.ir.rewrite import Rule, rewrite
from tracegrad.ir.rules import ALL_RULES, EXACT, INEXACT, STABILIZE
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, Value, const, param

N = 8
F64 = DType.FLOAT64


def _sig(x: Value) -> Value:
    return b.div(1.0, b.add(1.0, b.exp(b.neg(x))))


def _softmax(x: Value) -> Value:
    e = b.exp(x)
    return b.div(e, bs.sum(e, 0, keepdims=True))


def _where0(x: Value) -> Value:
    return b.where(b.gt(x, 0.0), 0.0, x)


def _where0_mirror(x: Value) -> Value:
    return b.where(b.gt(x, 0.0), x, 0.0)


# name -> (kind of params, builder). Kinds: "xy" two f64[N], "s" one f64[] (broadcast to N),
# "m" f64[2,4], "i" int64[N], "is" int64[].
W = Callable[..., Value]
WITNESSES: dict[str, tuple[str, W]] = {
    "add_const_left": ("xy", lambda x, y: b.add(x, 2.5)),
    "mul_const_left": ("xy", lambda x, y: b.mul(x, 2.5)),
    "sub_const": ("xy", lambda x, y: b.sub(x, 2.5)),
    "negzero_sub": ("xy", lambda x, y: b.sub(-0.0, x)),
    "neg_neg": ("xy", lambda x, y: b.neg(b.neg(x))),
    "abs_abs": ("xy", lambda x, y: b.unary(Op.ABS, b.neg(x))),
    "mul_minus_one": ("xy", lambda x, y: b.mul(-1.0, x)),
    "add_neg": ("xy", lambda x, y: b.add(x, b.neg(y))),
    "sub_neg": ("xy", lambda x, y: b.sub(x, b.neg(y))),
    "mul_neg": ("xy", lambda x, y: b.mul(b.neg(x), y)),
    "div_neg_num": ("xy", lambda x, y: b.div(b.neg(x), y)),
    "div_neg_den": ("xy", lambda x, y: b.div(x, b.neg(y))),
    "uniform_const": ("xy", lambda x, y: b.add(x, const(np.full(N, 2.0)))),
    "hoist_broadcast": ("s", lambda s: b.exp(b.broadcast_to(s, (N,)))),
    "broadcast_broadcast": ("s", lambda s: b.broadcast_to(b.broadcast_to(s, (N,)), (2, N))),
    "movement_identity": ("xy", lambda x, y: b.apply(Op.RESHAPE, [x], shape=(N,))),
    "reshape_reshape": ("m", lambda m: bs.reshape(bs.reshape(m, (8,)), (4, 2))),
    "transpose_transpose": ("m", lambda m: bs.transpose(bs.transpose(m))),
    "where_same": ("xy", lambda x, y: b.where(b.gt(x, 0.0), y, y)),
    "where_nested_false": (
        "xy",
        lambda x, y: b.where(b.gt(x, 0.0), x, b.where(b.gt(x, 0.0), y, 1)),
    ),
    "where_nested_true": ("xy", lambda x, y: b.where(b.gt(x, 0.0), b.where(b.gt(x, 0.0), y, 1), x)),
    "logic_const": ("xy", lambda x, y: b.where(b.binary(Op.LOGICAL_AND, False, b.gt(x, y)), x, y)),
    "where_const_cond": ("xy", lambda x, y: b.where(True, x, y)),
    "fold_constants": ("xy", lambda x, y: b.add(x, b.mul(const(2.0), const(3.0)))),
    "mul_one": ("xy", lambda x, y: b.mul(1.0, x)),
    "div_one": ("xy", lambda x, y: b.div(x, 1.0)),
    "pow_one": ("xy", lambda x, y: b.pow(x, 1.0)),
    "pow_zero": ("xy", lambda x, y: b.pow(x, 0.0)),
    "pow_two": ("xy", lambda x, y: b.pow(x, 2.0)),
    "pow_minus_one": ("xy", lambda x, y: b.pow(x, -1.0)),
    "pow_int_ints": ("i", lambda i: b.pow(i, 5)),
    "add_neg_zero": ("xy", lambda x, y: b.add(-0.0, x)),
    "mul_zero_ints": ("i", lambda i: b.mul(0, i)),
    "div_pow2": ("xy", lambda x, y: b.div(x, 4.0)),
    "mul_pow2_chain": ("xy", lambda x, y: b.mul(3.0, b.mul(2.0, x))),
    "reduce_max_broadcast": ("s", lambda s: bs.reduce(Op.REDUCE_MAX, b.broadcast_to(s, (N,)))),
    "sum_broadcast_ints": ("is", lambda s: bs.sum(b.broadcast_to(s, (N,)))),
    "add_zero": ("xy", lambda x, y: b.add(0.0, x)),
    "mul_zero": ("xy", lambda x, y: b.mul(0.0, x)),
    "pow_int": ("xy", lambda x, y: b.pow(x, 3.0)),
    # a materialized exponent array: numpy then uses C's pow (a stride-0 one takes a sqrt path)
    "pow_half": ("xy", lambda x, y: b.pow(x, const(np.full(N, 0.5)))),
    "mul_const_chain": ("xy", lambda x, y: b.mul(3.0, b.mul(0.1, x))),
    "add_const_chain": ("xy", lambda x, y: b.add(0.1, b.add(0.7, x))),
    "exp_mul_exp": ("xy", lambda x, y: b.mul(b.exp(x), b.exp(y))),
    "sum_scale": ("xy", lambda x, y: bs.sum(b.mul(0.1, x))),
    "sum_broadcast": ("s", lambda s: bs.sum(b.broadcast_to(s, (3,)))),
    "log_softmax": ("xy", lambda x, y: b.log(_softmax(x))),
    "logsumexp": ("xy", lambda x, y: b.log(bs.sum(b.exp(x)))),
    "log_sigmoid": ("xy", lambda x, y: b.log(_sig(x))),
    "log_one_minus_sigmoid": ("xy", lambda x, y: b.log(b.sub(1.0, _sig(x)))),
    "log1p_neg_sigmoid": ("xy", lambda x, y: b.unary(Op.LOG1P, b.neg(_sig(x)))),
    "softplus": ("xy", lambda x, y: b.log(b.add(1.0, b.exp(x)))),
    "softplus_log1p": ("xy", lambda x, y: b.unary(Op.LOG1P, b.exp(x))),
    "log1p": ("xy", lambda x, y: b.log(b.add(1.0, x))),
    "log1p_sub": ("xy", lambda x, y: b.log(b.sub(1.0, x))),
    "log_exp": ("xy", lambda x, y: b.log(b.exp(x))),
    "expm1": ("xy", lambda x, y: b.add(-1.0, b.exp(x))),
    "expm1_sub": ("xy", lambda x, y: b.sub(b.exp(x), 1.0)),
    "one_minus_sigmoid": ("xy", lambda x, y: b.sub(1.0, _sig(x))),
    "sigmoid": ("xy", lambda x, y: _sig(x)),
    "softmax_shift": ("xy", lambda x, y: _softmax(x)),
    "sink_mul_where": ("xy", lambda x, y: b.mul(_where0(x), y)),
    "sink_mul_where_mirror": ("xy", lambda x, y: b.mul(_where0_mirror(x), y)),
    "sink_div_where": ("xy", lambda x, y: b.div(_where0(x), y)),
    "sink_div_where_mirror": ("xy", lambda x, y: b.div(_where0_mirror(x), y)),
    "safe_norm": ("xy", lambda x, y: b.sqrt(bs.sum(b.mul(x, x)))),
    "safe_norm_pow": ("xy", lambda x, y: b.sqrt(bs.sum(b.pow(x, 2.0)))),
}

_KINDS = {
    "xy": [TensorType(F64, (N,)), TensorType(F64, (N,))],
    "s": [TensorType(F64, ())],
    "m": [TensorType(F64, (2, 4))],
    "i": [TensorType(DType.INT64, (N,))],
    "is": [TensorType(DType.INT64, ())],
}
RULES = {r.name: r for r in ALL_RULES}


def witness(name: str) -> Function:
    kind, builder = WITNESSES[name]
    params = tuple(param(i, t, "xyz"[i]) for i, t in enumerate(_KINDS[kind]))
    return Function(name, params, (builder(*params),))


@functools.cache
def rewritten(name: str) -> tuple[Function, Function]:
    f = witness(name)
    return f, apply_rule(RULES[name], f)


def apply_rule(rule: Rule, f: Function) -> Function:
    out, counts = rewrite(f, [rule])
    assert counts[rule.name] >= 1, f"{rule.name} did not fire on its witness"
    return out


def same_bits(a: np.ndarray, c: np.ndarray) -> bool:
    if a.shape != c.shape or a.dtype != c.dtype:
        return False
    if a.dtype.kind != "f":
        return bool(np.array_equal(a, c))
    both_nan = np.isnan(a) & np.isnan(c)
    bits = np.uint64 if a.itemsize == 8 else np.uint32
    return bool(np.all(both_nan | (a.view(bits) == c.view(bits))))


def test_every_rule_has_a_witness_and_a_doc() -> None:
    assert set(RULES) == set(WITNESSES)
    assert all(r.doc and "\n" not in r.doc for r in ALL_RULES)


SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, -5e-324, 1e-310, 1.0, -1.0, 2.0, 0.5,
           1e308, -1e308, 700.0, -745.0, 800.0, -800.0, 3.3, -0.1]  # fmt: skip
any_float = st.one_of(st.sampled_from(SPECIAL), st.floats(allow_nan=True, allow_infinity=True))
any_int = st.integers(-(2**63), 2**63 - 1)


def _draw_args(data: st.DataObject, f: Function, elements: st.SearchStrategy) -> list:
    args = []
    for p in f.params:
        if p.dtype.is_float:
            args.append(data.draw(hnp.arrays(np.float64, p.shape, elements=elements)))
        else:
            args.append(data.draw(hnp.arrays(np.int64, p.shape, elements=any_int)))
    return args


@pytest.mark.parametrize("name", sorted(r.name for r in ALL_RULES if r.exact))
@settings(max_examples=25)
@given(data=st.data())
def test_exact_rule_is_bitwise(name: str, data: st.DataObject) -> None:
    f, g = rewritten(name)
    args = _draw_args(data, f, any_float)
    for a, c in zip(evaluate(f, args), evaluate(g, args), strict=True):
        assert same_bits(a, c), (args, a, c)


def _search_inputs(f: Function, count: int = 400) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(7)
    scale = 10.0 ** rng.uniform(-5, 5, count)
    pool = np.concatenate([SPECIAL, rng.standard_normal(count) * scale])
    batches = []
    for start in range(len(pool)):
        chunk = np.resize(np.roll(pool, -start), N)
        args = [np.resize(np.roll(chunk, i), p.shape).astype(p.dtype.numpy) for i, p in
                enumerate(f.params)]  # fmt: skip
        batches.append(args)
    return batches


@pytest.mark.parametrize("name", sorted(r.name for r in INEXACT))
def test_inexact_rule_flag_is_needed(name: str) -> None:
    f, g = rewritten(name)
    differs = any(
        not same_bits(a, c)
        for args in _search_inputs(f)
        for a, c in zip(evaluate(f, args), evaluate(g, args), strict=True)
    )
    assert differs, f"{name} is flagged non-exact but no input tells it apart"
    moderate = [np.resize(np.linspace(0.5, 3.0, N), p.shape) for p in f.params]
    np.testing.assert_allclose(evaluate(g, moderate)[0], evaluate(f, moderate)[0], rtol=1e-12)


def check_stabilized(before: np.ndarray, after: np.ndarray) -> None:
    """finite stays finite (and inf never becomes NaN)."""
    finite = np.isfinite(before)
    assert np.all(np.isfinite(after[finite])), (before, after)
    inf = np.isinf(before)
    assert not np.any(np.isnan(after[inf])), (before, after)


moderate_float = st.floats(-20.0, 20.0)


@pytest.mark.parametrize("name", sorted(r.name for r in STABILIZE if not r.exact))
@settings(max_examples=20)
@given(data=st.data())
def test_stabilizing_rule(name: str, data: st.DataObject) -> None:
    f, g = rewritten(name)
    args = _draw_args(data, f, any_float)
    (before,), (after,) = evaluate(f, args), evaluate(g, args)
    check_stabilized(before, after)
    args = _draw_args(data, f, moderate_float)
    (before,), (after,) = evaluate(f, args), evaluate(g, args)
    ok = np.isfinite(before)
    # the original is the less accurate side (cancellation in 1 - sigmoid(20), log(1 + x))
    np.testing.assert_allclose(after[ok], before[ok], rtol=1e-6, atol=1e-12)


def test_rule_sets_have_honest_flags() -> None:
    assert all(r.exact for r in EXACT)
    assert not any(r.exact for r in INEXACT)
