"""The SSA printer and parser: exact round trips (text and interned Values) and parse errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracegrad.errors import ParseError, TracegradError
from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.indexing import getitem, setitem
from tracegrad.ir.ops import Op
from tracegrad.ir.parser import parse_function
from tracegrad.ir.prims import PRIMS, Promotion
from tracegrad.ir.printer import print_function
from tracegrad.ir.types import Dim, TensorType
from tracegrad.ir.value import Function, Value, const, new_trace_id, param
from tracegrad.ir.verifier import verify

N = Dim("n")
F64, F32, I64, I32, BOOL = DType.FLOAT64, DType.FLOAT32, DType.INT64, DType.INT32, DType.BOOL


def _p(index: int, dtype: DType, shape: tuple, name: str = "", trace: int = 0) -> Value:
    return param(index, TensorType(dtype, shape), name, trace)


def roundtrip(f: Function, identical: bool = True) -> Function:
    """Print, parse, print again: same text; and (interning) the very same Values."""
    text = print_function(f)
    g = parse_function(text)
    assert print_function(g) == text
    assert g.name == f.name
    assert all(p is q for p, q in zip(g.params, f.params, strict=True))
    if identical:
        assert all(p is q for p, q in zip(g.outputs, f.outputs, strict=True))
        assert len(g.order) == len(f.order)
        assert all(p is q for p, q in zip(g.order, f.order, strict=True))
    return g


_TRUTH = Promotion.TRUTH


def _elementwise() -> Function:
    t = new_trace_id()
    x, y = _p(0, F64, (N, 3), "x", t), _p(1, F64, (3,), "y", t)
    # every numeric elementwise row (from the table); the logical ops, where and cast below
    numeric = [op for op, p in PRIMS.items() if p.is_elementwise and p.promotion is not _TRUTH]
    unary = [b.unary(op, x) for op in numeric if PRIMS[op].arity == 1 and op is not Op.CAST]
    binary = [b.binary(op, x, y) for op in numeric if PRIMS[op].arity == 2]
    mask = b.gt(x, 0.5)
    logic = [b.unary(Op.LOGICAL_NOT, mask), b.binary(Op.LOGICAL_AND, mask, b.lt(x, 2.0))]
    logic.append(b.binary(Op.LOGICAL_OR, mask, True))
    others = [b.where(mask, x, y), b.cast(x, F32), b.cast(x, I32), b.cast(mask, F64)]
    return Function("elementwise", (x, y), tuple(unary + binary + logic + others))


def _structural() -> Function:
    t = new_trace_id()
    a, v = _p(0, F32, (4, 5), "a", t), _p(1, F64, (N, 3), "v", t)
    i = _p(2, I64, (3,), "i", t)
    outs = [
        bs.sum(a, 0), bs.sum(a), bs.reduce(Op.REDUCE_MAX, a, 1), bs.reduce(Op.REDUCE_MIN, v, 1),
        bs.reduce(Op.REDUCE_PROD, a, (0, 1)), bs.arg_reduce(Op.ARGMAX, a, 1),
        bs.arg_reduce(Op.ARGMIN, v, 1), bs.cumsum(a, 1), bs.cumsum(v, 0),
        bs.reshape(a, (2, 10)), bs.reshape(v, (N, 3, 1)), bs.transpose(a), bs.transpose(v),
        getitem(a, (slice(None, None, -1), slice(1, 4, 2))), getitem(a, (slice(3, 0, -2), 2)),
        getitem(v, (slice(None), slice(None, None, -1))), getitem(a, (None, ..., 0)),
        bs.concatenate([a, a, b.exp(a)], 1), bs.concatenate([v, v], 0),
        bs.pad(a, ((1, 2), (0, 3))), bs.pad(v, ((0, 0), (1, 1)), -0.0), bs.pad(v, ((1, 2), (0, 0))),
        bs.take(a, i, 1), bs.take(v, i, 1), bs.take(a, np.array([[0, -1], [2, 3]]), 0),
        getitem(a, np.array([1, 3])), setitem(a, (slice(None), 1), 7.0),
        b.apply(Op.SCATTER_ADD, [a, i, b.broadcast_to(const(np.float32(1.0)), (4, 3))], axis=1),
        bs.matmul(a, bs.transpose(a)), bs.matmul(v, b.full((3, 2), 0.5, F64)),
        b.broadcast_to(b.exp(bs.sum(v, 1)), (2, N)), b.apply(Op.STOP_GRADIENT, [v]),
        b.apply(Op.SORT, [a], axis=1), b.apply(Op.ARGSORT, [v], axis=0),
        b.apply(Op.CUMPROD, [a], axis=0),
        b.apply(Op.SEARCHSORTED, [b.apply(Op.SORT, [bs.reshape(a, (-1,))], axis=0), a],
                side="right"),
        b.apply(Op.CHECKED_CAST, [i], dtype=DType.UINT8),
    ]  # fmt: skip
    return Function("structural", (a, v, i), tuple(outs))


def _linalg() -> Function:
    t = new_trace_id()
    a, r = _p(0, F64, (2, 3, 3), "a", t), _p(1, F32, (4, 3), "r", t)
    outs = [
        b.apply(Op.CHOLESKY, [a]), b.apply(Op.TRIANGULAR_SOLVE, [a, a], lower=True),
        b.apply(Op.SOLVE, [a, a]), b.apply(Op.SLOGDET, [a]), b.apply(Op.EIGH, [a], lower=False),
        b.apply(Op.SVD, [r], full_matrices=True), b.apply(Op.SVD, [r], full_matrices=False),
        b.apply(Op.QR, [r]),
    ]  # fmt: skip
    return Function("linalg", (a, r), tuple(outs))


def _constants() -> Function:
    nan_payload = np.array([0x7FF4000000000001, 0xFFF8000000000000], np.uint64).view(np.float64)
    f32_payload = np.array([0x7FA00001, 0xFFC00000], np.uint32).view(np.float32)
    arrays = [
        np.float64(-0.0), np.float64(np.nan), np.float64(np.inf), np.float64(-np.inf),
        np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-310, 5e-324, 1.7976931348623157e308]),
        nan_payload, f32_payload, np.float32(0.1), np.array([1e-45, 3.4028235e38, 1.1], np.float32),
        np.array([[True, False], [False, True]]), np.bool_(True),
        np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max]),
        np.array([np.iinfo(np.int32).min, -1, np.iinfo(np.int32).max], np.int32),
        np.zeros((0, 3)), np.zeros((2, 0), np.int32), np.arange(300.0).reshape(10, 30) / 7.0,
        np.float64(2.0), np.int64(2),
        np.array([np.nan, -0.0, 65504, 6e-08, 0.1, np.inf], np.float16),
        np.array([0x7E01, 0xFC00], np.uint16).view(np.float16), np.float16(1.0 / 3.0),
        np.array([-128, 127], np.int8), np.array([0, 255], np.uint8), np.int16(-32768),
        np.uint16(65535), np.uint32(2**32 - 1), np.array([0, 2**64 - 1], np.uint64),
    ]  # fmt: skip
    return Function("constants", (), tuple(const(a) for a in arrays))


def _control() -> Function:
    """Loops and branches, nested, and their gradient (a recording while loop, reverse scans):
    sub-Functions print as func blocks and parse back."""
    import tracegrad

    def f(x):
        def body(c):
            k, v = c
            v = tracegrad.cond(v.sum() > 0, lambda v: v * 0.5, lambda v: v - 1.0, v)
            return k + 1, v

        _, v = tracegrad.while_loop(lambda c: c[0] < 3, body, (0, x))
        out = tracegrad.scan(lambda c, x: (c + x * v.sum(), c), 0.0, x)[0]
        return tracegrad.cond(x[0] > 0, lambda y: y * 2.0, lambda y: y, out)

    return tracegrad.make_ir(tracegrad.value_and_grad(f))(np.array([1.0, -2.0]))


def test_every_op_kind_is_covered() -> None:
    graphs = [_elementwise(), _structural(), _linalg(), _constants(), _control()]
    seen = {v.op for g in graphs for v in g.order}
    assert seen == set(Op)


@pytest.mark.parametrize("build", [_elementwise, _structural, _linalg, _constants, _control])
def test_catalogue_verifies(build) -> None:
    verify(build())


@pytest.mark.parametrize("build", [_elementwise, _structural, _linalg, _constants, _control])
def test_roundtrip_identical_values(build) -> None:
    roundtrip(build())


def test_roundtrip_nan_attr_identical_values() -> None:
    x = _p(0, F64, (3,), "x")
    roundtrip(Function("f", (x,), (bs.pad(x, 1, np.nan),)))


def test_brief_example_text() -> None:
    text = """func @f(%0: f64[n,3] "x", %1: f32[]) -> (f64[3]) {
  %2 = const 2.0 : f64[]
  %3 = broadcast %2 {shape=(n,3)} : f64[n,3]
  %4 = mul %0, %3 : f64[n,3]
  %5 = reduce_sum %4 {axes=(0,)} : f64[3]
  return %5
}"""
    f = parse_function(text)
    assert print_function(f) == text
    x = _p(0, F64, (N, 3), "x")
    assert f.outputs[0] is bs.sum(b.mul(x, 2.0), 0)


def test_constants_are_bit_exact() -> None:
    f = _constants()
    g = parse_function(print_function(f))
    for old, new in zip(f.outputs, g.outputs, strict=True):
        a, c = old.attr("data").array, new.attr("data").array
        assert a.dtype == c.dtype and a.shape == c.shape and a.tobytes() == c.tobytes()


def test_constant_text() -> None:
    text = print_function(_constants())
    assert "const -0.0 : f64[]" in text and "const nan : f64[]" in text
    assert "const [0.0,-0.0,nan,inf,-inf,1e-310,5e-324,1.7976931348623157e+308] : f64[8]" in text
    assert "nan(0x7ff4000000000001)" in text and "nan(0xfff8000000000000)" in text
    assert "const 0.1 : f32[]" in text and "const [[True,False],[False,True]] : bool[2,2]" in text


def test_params_names_traces_and_odd_attrs() -> None:
    weird = _p(1, F64, (Dim("f32"), Dim("n+1"), Dim("has space"), Dim("nan")), 'q"\n\u00e9', 42)
    plain = Value.make(Op.PARAM, TensorType(F32, ()), (), (("index", 0), ("name", "p")))
    f = Function('my "func"', (plain, weird), (b.neg(weird), b.exp(plain)))
    text = print_function(f)
    assert '%1: f64[dim"f32",n+1,dim"has space",dim"nan"] "q\\"\\n\u00e9" #42' in text
    assert '%0: f32[] {index=0, name="p"}' in text and '@"my \\"func\\""' in text
    roundtrip(f)


def test_stray_param_roundtrips() -> None:
    """Invalid IR (a param outside the signature) still prints and parses, for the verifier."""
    x, y = _p(0, F64, (3,), "x"), _p(0, F64, (3,), "y", 9)
    f = Function("f", (x,), (b.add(x, y),))
    assert '%1 = param {index=0, name="y", trace=9} : f64[3]' in print_function(f)
    roundtrip(f)


def test_symbolic_dims_in_attrs() -> None:
    x = _p(0, F64, (N, Dim("m")), "x")
    outs = (getitem(x, (slice(None), slice(None))), b.broadcast_to(x, (2, N, Dim("m"))))
    sliced = b.apply(Op.SLICE, [x], slices=((0, N, 1), (0, Dim("m"), 1)))
    f = Function("f", (x,), outs + (sliced,))
    assert "{slices=((0,n,1),(0,m,1))}" in print_function(f)
    roundtrip(f)


def test_large_function_prints_and_parses() -> None:
    x = _p(0, F64, (3,), "x")
    y = x
    for i in range(4000):  # deeper than the recursion limit
        y = b.add(y, float(i)) if i % 2 else b.unary(Op.NEG, y)
    roundtrip(Function("big", (x,), (y,)))


# ---- random chains -------------------------------------------------------------------------

_UNARY = [Op.NEG, Op.EXP, Op.TANH, Op.ABS, Op.SIN]
_BINARY = [Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MAXIMUM, Op.POW, Op.LT]


def _step(draw, pool: list[Value]) -> Value:
    kind = draw(st.integers(0, 9))
    x = pool[draw(st.integers(0, len(pool) - 1))]
    y = pool[draw(st.integers(0, len(pool) - 1))]
    if kind == 0:
        return b.unary(draw(st.sampled_from(_UNARY)), x)
    if kind == 1:
        return b.binary(draw(st.sampled_from(_BINARY)), x, y)
    if kind == 2:
        return b.binary(Op.MUL, x, draw(st.floats(width=32)))
    if kind == 3:
        return bs.sum(x, draw(st.integers(0, max(x.ndim - 1, 0))) if x.ndim else None)
    if kind == 4:
        return b.cast(x, draw(st.sampled_from(list(DType))))
    if kind == 5:
        bound, step = st.integers(-5, 5), st.sampled_from([-2, -1, 1, 3])
        index = tuple(slice(draw(bound), draw(bound), draw(step)) for _ in range(x.ndim))
        return getitem(x, index)
    if kind == 6:
        return bs.transpose(x)
    if kind == 7:
        return b.where(b.gt(x, y), x, y)
    if kind == 8:
        return bs.cumsum(x, 0) if x.ndim else bs.pad(bs.reshape(x, (1,)), 1)
    return bs.concatenate([bs.reshape(x, (-1,)), bs.reshape(y, (-1,))])


@st.composite
def random_functions(draw) -> Function:
    t = new_trace_id()
    pool = [_p(0, F64, (3, 4), "x", t), _p(1, F32, (4,), "y", t), const(np.float64(-0.0))]
    for _ in range(draw(st.integers(1, 12))):
        try:
            pool.append(_step(draw, pool))
        except (TracegradError, IndexError):
            continue  # an ill-typed random step: skip it
    return Function("random", tuple(pool[:2]), tuple(pool[-2:]))


@given(random_functions())
def test_random_chains_roundtrip(f: Function) -> None:
    verify(f)  # graphs built through the builders are well formed
    roundtrip(f)


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1))
def test_any_float_bits_roundtrip(bits64: int, bits32: int) -> None:
    a = np.array([bits64], np.uint64).view(np.float64)
    c = np.array([bits32], np.uint32).view(np.float32)
    f = Function("c", (), (const(a), const(c), const(a[0]), const(c[0])))
    roundtrip(f)


# ---- parse errors -------------------------------------------------------------------------

_GOOD = 'func @f(%0: f64[3] "x") -> (f64[3]) {\n  %1 = neg %0 : f64[3]\n  return %1\n}'


@pytest.mark.parametrize(
    ("old", "new", "line", "column", "message"),
    [
        ("neg %0", "frob %0", 2, 8, "unknown op 'frob'"),
        ("neg %0", "neg %7", 2, 12, "%7 is used before it is defined"),
        ("%1 = neg", "%0 = neg", 2, 3, "%0 is defined twice"),
        ('f64[3] "x"', 'f65[3] "x"', 1, 13, "unknown dtype 'f65'"),
        ("-> (f64[3])", "-> (f32[3])", 3, 3, "returned types differ"),
        ("neg %0 :", "neg %0 ;", 2, 15, "unexpected character ';'"),
        ("return %1\n}", "return %1\n", 4, 1, "expected '}', found end of text"),
        ("%1 = neg %0", "%1 = const [1.0,2.0]", 2, 26, "do not match the shape of f64"),
        ("%1 = neg %0", "%1 = const [[1.0],[2.0],[3.0]]", 2, 36, "do not match the shape"),
        (
            "-> (f64[3]) {\n  %1 = neg %0 : f64[3]",
            "-> (i64[3]) {\n  %1 = const [1.5,2,3] : i64[3]",
            2,
            26,
            "integer elements must be integers",
        ),
        ("%1 = neg %0", "%1 = add %0 {axis=} ", 2, 21, "expected an attribute value"),
    ],
)
def test_parse_errors(old: str, new: str, line: int, column: int, message: str) -> None:
    text = _GOOD.replace(old, new)
    assert text != _GOOD
    with pytest.raises(ParseError, match=message) as info:
        parse_function(text)
    assert (info.value.line, info.value.column) == (line, column), str(info.value)
    assert f"line {line}, column {column}" in str(info.value)
    assert str(info.value).splitlines()[-1].strip() == "^"


def test_trailing_text_is_an_error() -> None:
    with pytest.raises(ParseError, match="expected 'eof'"):
        parse_function(_GOOD + "\nfunc")
