"""Every differentiable primitive and composite through check_grads (orders 1 and 2, reverse
and forward mode) on hypothesis-drawn inputs inside its domain and away from its kinks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tracegrad.numpy as tnp
from tracegrad.ir import build as b
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import PRIMS
from tracegrad.numpy._core import traced
from tracegrad.testing import check_grads
from tracegrad.testing.prim_cases import CASES, Domain

FEW = settings(max_examples=2, deadline=None)


@pytest.fixture(autouse=True)
def interpret_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """The transform is under test here, not the compiler: run on the reference interpreter
    (tests/test_grad_api.py covers the default backend)."""
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")


def arrays(shape, lo=-2.0, hi=2.0, unique=False):  # type: ignore[no-untyped-def]
    elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    return hnp.arrays(np.float64, shape, elements=elements, unique=unique)


def away_from_zero(shape, lo=0.2, hi=2.0):  # type: ignore[no-untyped-def]
    magnitude = arrays(shape, lo, hi)
    signs = hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0]))
    return st.tuples(magnitude, signs).map(lambda p: p[0] * p[1])


def _strategy(d: Domain) -> st.SearchStrategy[np.ndarray]:
    return away_from_zero(d.shape, d.lo, d.hi) if d.both_signs else arrays(d.shape, d.lo, d.hi)


def _row_entries(arity: int) -> list[tuple]:
    """Every differentiable row's gradient check, from its test entry (numpy's name for it, so
    the call goes through ufunc dispatch)."""
    return [
        (op.value, getattr(np, PRIMS[op].numpy_names[0]), *map(_strategy, case.domains))
        for op, case in CASES.items()
        if len(case.domains) == arity
    ]


UNARY = _row_entries(1) + [
    ("square", np.square, arrays((3,))),
    ("reciprocal", np.reciprocal, away_from_zero((3,))),
    ("sigmoid", tnp.sigmoid, arrays((3,), -5, 5)),
    ("softplus", tnp.softplus, away_from_zero((3,), 0.1, 5)),
    ("relu", tnp.relu, away_from_zero((3,))),
    ("sinh", np.sinh, arrays((3,))),
    ("cast32", lambda x: x.astype(np.float32).astype(np.float64) * 1.0, arrays((2,))),
]


@pytest.mark.parametrize("name,fn,strategy", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, fn, strategy) -> None:  # type: ignore[no-untyped-def]
    @FEW
    @given(strategy)
    def run(x: np.ndarray) -> None:
        if name == "cast32":  # float32 rounding is a staircase: difference with a wide step
            check_grads(fn, (x,), order=2, eps=1e-2, rtol=1e-2, atol=1e-2)
            return
        check_grads(fn, (x,), order=2)

    run()


BINARY = _row_entries(2) + [
    ("matmul", np.matmul, arrays((2, 3)), arrays((3, 2))),
    ("matmul_batched", np.matmul, arrays((2, 2, 3)), arrays((3,))),
    ("dot", np.dot, arrays((3,)), arrays((3, 2))),
    ("outer", np.outer, arrays((2,)), arrays((3,))),
]


@pytest.mark.parametrize("name,fn,sx,sy", BINARY, ids=[b_[0] for b_ in BINARY])
def test_binary(name, fn, sx, sy) -> None:  # type: ignore[no-untyped-def]
    @FEW
    @given(sx, sy)
    def run(x: np.ndarray, y: np.ndarray) -> None:
        check_grads(fn, (x, y), order=2)

    run()


def _where(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, np.sin(x), x * x)


COMPOSITES = [
    ("sum", lambda x: np.sum(x, axis=1), arrays((2, 3))),
    ("sum_keepdims", lambda x: np.sum(x * x, axis=0, keepdims=True), arrays((2, 3))),
    ("mean", lambda x: np.mean(x, axis=0), arrays((3, 2))),
    ("var", lambda x: np.var(x, axis=1), arrays((2, 3), unique=True)),
    ("std", lambda x: np.std(x), arrays((4,), unique=True)),
    ("max", lambda x: np.max(x, axis=1), arrays((2, 3), unique=True)),
    ("min", lambda x: np.min(x), arrays((2, 3), unique=True)),
    ("prod", lambda x: np.prod(x, axis=0), away_from_zero((3, 2), 0.5)),
    ("cumsum", lambda x: np.cumsum(x * x, axis=1), arrays((2, 3))),
    ("norm", lambda x: tnp.norm(x), away_from_zero((3,))),
    ("logsumexp", lambda x: tnp.logsumexp(x, axis=1), arrays((2, 3))),
    ("softmax", lambda x: tnp.softmax(x), arrays((2, 3))),
    ("log_softmax", lambda x: tnp.log_softmax(x, axis=0), arrays((3, 2))),
    ("clip", lambda x: np.clip(x, -1.0, 1.0), away_from_zero((4,), 0.1, 0.9)),
    ("where", _where, away_from_zero((3,))),
    ("transpose", lambda x: np.transpose(x * x, (2, 0, 1)), arrays((2, 3, 2))),
    ("reshape", lambda x: np.reshape(np.sin(x), (3, 2)), arrays((2, 3))),
    (
        "broadcast_to",
        lambda x: np.broadcast_to(x, (2, 3)) * np.arange(6.0).reshape(2, 3),
        arrays((3,)),
    ),
    ("concatenate", lambda x: np.concatenate([x, np.sin(x), x[:1]], axis=0), arrays((2, 2))),
    ("stack", lambda x: np.stack([x, x * x], axis=1), arrays((3,))),
    ("pad", lambda x: np.pad(x * x, ((1, 0), (2, 1))), arrays((2, 2))),
    ("take", lambda x: np.take(x, np.array([2, 0, 2, -1]), axis=1), arrays((2, 3))),
    (
        "take_along_axis",
        lambda x: np.take_along_axis(x, np.array([[1, 0], [2, 2]]), axis=1),
        arrays((2, 3)),
    ),
    ("getitem_int", lambda x: x[1] * x[0, 2], arrays((2, 3))),
    ("getitem_step", lambda x: x[::2, 1:], arrays((5, 3))),
    ("getitem_negative_step", lambda x: x[-2::-2] * x[::-3], arrays((7,))),
    ("getitem_reverse", lambda x: x[::-1, ::-2], arrays((3, 4))),
    ("getitem_array", lambda x: x[np.array([0, 2, 2])], arrays((3, 2))),
    ("getitem_newaxis", lambda x: x[None, :, 1] * x[..., None, 0], arrays((2, 3))),
    ("setitem", lambda x: _setitem(x), arrays((4,))),
    ("tensordot", lambda x: tnp.tensordot(x, np.ones((3, 2)) * 0.5, axes=1), arrays((2, 3))),
    ("einsum", lambda x: tnp.einsum("ij,jk->ik", x, x.T), arrays((2, 3))),
    ("einsum_trace_free", lambda x: tnp.einsum("ij,ij->i", x, np.sin(x)), arrays((2, 3))),
    ("fmax", lambda x: np.fmax(x, 0.5), away_from_zero((3,), 0.6, 2)),
]


def _setitem(x: np.ndarray) -> np.ndarray:
    y = tnp.zeros_like(x) + 1.0
    y[1:3] = x[:2] * x[2:]
    return y * x


@pytest.mark.parametrize("name,fn,strategy", COMPOSITES, ids=[c[0] for c in COMPOSITES])
def test_composite(name, fn, strategy) -> None:  # type: ignore[no-untyped-def]
    @FEW
    @given(strategy)
    def run(x: np.ndarray) -> None:
        check_grads(fn, (x,), order=2)

    run()


@traced
def _scatter_add(x: Any, idx: Any, updates: Any) -> Any:
    """The SCATTER_ADD primitive itself (np.add.at semantics: repeated indices accumulate)."""
    return b.apply(Op.SCATTER_ADD, [b.to_value(x), b.to_value(idx), b.to_value(updates)], axis=0)


def test_rows_covered_by_composites_name_real_entries() -> None:
    ids = {entry[0] for entry in UNARY + BINARY + COMPOSITES}
    for op, case in CASES.items():
        assert case.domains or case.covered_by in ids, (op, case.covered_by)


def test_scatter_add_with_repeated_indices() -> None:
    idx = np.array([0, 2, 0])

    def f(x: np.ndarray, u: np.ndarray) -> np.ndarray:
        return np.sin(_scatter_add(x, idx, u * u))

    check_grads(f, (np.array([0.3, -0.2, 0.7]), np.array([0.1, 0.2, 0.3])), order=2)


def test_gather_with_repeated_indices() -> None:
    check_grads(lambda x: np.take(x, np.array([1, 1, 0, 1])) ** 2, (np.array([0.3, -0.2]),))


def test_float32_inputs_use_float32_tolerances() -> None:
    x = np.array([0.5, 1.5, -0.3], dtype=np.float32)
    check_grads(lambda y: np.tanh(y) * y, (x,), order=2)


def test_pytree_arguments() -> None:
    params = {"w": np.array([[0.5, -0.2], [0.1, 0.3]]), "b": np.array([0.1, -0.1])}
    x = np.array([1.0, 2.0])
    check_grads(lambda p, x: np.tanh(p["w"] @ x + p["b"]), (params, x), order=2)
