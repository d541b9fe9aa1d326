"""One specialization cache and one call path (tracegrad.staging, issue #13 item 2): jit,
un-jitted grad(f)(x) and tracegrad.function all compile through ``staging.Compiled``, and a
repeated grad(f)(x) is a cached jitted call."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tracegrad
import tracegrad.tensor as T  # noqa: N812  (Theano's spelling)
from tracegrad import staging


@pytest.fixture
def prepared(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the Functions every front end prepared through staging."""
    seen: list[str] = []
    original = staging.prepare

    def counting(function: Any, opt_level: int) -> Any:
        seen.append(function.name)
        return original(function, opt_level)

    monkeypatch.setattr(staging, "prepare", counting)
    return seen


def test_every_front_end_compiles_through_staging(prepared: list[str]) -> None:
    x = np.linspace(-1.0, 1.0, 5)

    def loss(w: np.ndarray) -> Any:
        return np.sum(np.sin(w) * w)

    tracegrad.jit(loss)(x)
    tracegrad.grad(loss)(x)
    v = T.dvector("v")
    tracegrad.function([v], T.sum(v * 2.0))(x)
    _, back = tracegrad.vjp(np.sin, x)
    back(np.ones(5))
    assert len(prepared) == 5, prepared


def test_repeated_grad_is_one_trace_and_matches_jit_of_grad() -> None:
    calls = []

    def loss(w: np.ndarray, data: np.ndarray) -> Any:
        calls.append(1)
        return np.sum((w * data - 1.0) ** 2)

    w, data = np.linspace(0.0, 1.0, 4), np.arange(4.0)
    expected = 2.0 * (w * data - 1.0) * data
    for _ in range(5):
        np.testing.assert_allclose(tracegrad.grad(loss)(w, data), expected, rtol=1e-15)
    assert len(calls) == 1  # five grad objects of one function: one trace between them
    g = tracegrad.grad(loss)
    assert g.trace_count == 1
    g(np.ones(3), np.ones(3))  # a new shape: one more trace
    assert g.trace_count == 2 and len(calls) == 2
    np.testing.assert_array_equal(g(w, data), tracegrad.jit(tracegrad.grad(loss))(w, data))


def test_grad_options_do_not_share_specializations() -> None:
    def f(x: Any, y: Any) -> Any:
        return np.sum(x * x * y)

    x, y = np.full(2, 3.0), np.full(2, 5.0)
    assert tracegrad.grad(f)(x, y).tolist() == [30.0, 30.0]
    assert tracegrad.grad(f, argnums=1)(x, y).tolist() == [9.0, 9.0]
    value, grads = tracegrad.value_and_grad(f, argnums=(0, 1))(x, y)
    assert float(value) == 90.0 and [g.tolist() for g in grads] == [[30.0, 30.0], [9.0, 9.0]]
    np.testing.assert_array_equal(tracegrad.jacobian(f)(x, y), [30.0, 30.0])


def test_grad_inside_a_trace_still_inlines() -> None:
    g = tracegrad.grad(lambda x: np.sum(np.exp(x)))
    outer = tracegrad.grad(lambda x: np.sum(g(x) * x))
    x = np.array([0.0, 1.0])
    # d/dx sum(exp(x) * x) = exp(x) * (1 + x)
    np.testing.assert_allclose(outer(x), np.exp(x) * (1.0 + x), rtol=1e-14)


def test_dropping_f_drops_its_specializations() -> None:
    import gc
    import weakref

    def make() -> Any:
        scale = np.float64(2.0)
        return lambda x: np.sum(np.sin(x) * scale)

    refs = []
    for _ in range(3):
        f = make()
        tracegrad.grad(f)(np.ones(3))
        tracegrad.value_and_grad(f)(np.ones(3))
        tracegrad.jacobian(f)(np.ones(3))
        refs.append(weakref.ref(f))
        del f
    gc.collect()
    assert [r() for r in refs] == [None, None, None]
