"""The documented gradient conventions at the points where calculus is silent or infinite,
the where-mask (select) handling that keeps them NaN-free, and big graphs."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp
from tracegrad.autodiff.reverse import backward
from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, param


@pytest.fixture(autouse=True)
def interpret_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")


def test_abs_at_zero_is_zero() -> None:
    assert tg.grad(lambda x: np.sum(np.abs(x)))(np.array([0.0, -2.0, 3.0])).tolist() == [
        0.0, -1.0, 1.0,
    ]  # fmt: skip


def test_maximum_and_minimum_ties_split_half() -> None:
    d_max = tg.grad(lambda x, y: np.maximum(x, y), argnums=(0, 1))(1.0, 1.0)
    d_min = tg.grad(lambda x, y: np.minimum(x, y), argnums=(0, 1))(2.0, 2.0)
    assert [float(d) for d in d_max] == [0.5, 0.5]
    assert [float(d) for d in d_min] == [0.5, 0.5]
    assert float(tg.grad(lambda x: tnp.relu(x))(0.0)) == 0.5


def test_reduce_max_ties_share_equally() -> None:
    g = tg.grad(lambda x: np.max(x))(np.array([1.0, 3.0, 3.0, 0.0]))
    assert g.tolist() == [0.0, 0.5, 0.5, 0.0]
    g = tg.grad(lambda x: np.sum(np.min(x, axis=1)))(np.array([[1.0, 1.0, 1.0], [2.0, 0.0, 5.0]]))
    np.testing.assert_allclose(g, [[1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 0.0]])


def test_sqrt_at_zero_is_infinite() -> None:
    assert float(tg.grad(np.sqrt)(0.0)) == np.inf


def test_pow_at_zero_base() -> None:
    assert float(tg.grad(lambda x: x**2.0)(0.0)) == 0.0
    assert float(tg.grad(lambda x: x**1.0)(0.0)) == 1.0
    assert float(tg.grad(lambda x: x**0.0)(0.0)) == 0.0  # x**0 is constant, not 0 * inf
    assert float(tg.grad(lambda x: x**0.5)(0.0)) == np.inf
    assert float(tg.grad(lambda y: 0.0**y)(2.0)) == 0.0  # log(0) * 0 taken as 0
    dx, dy = tg.grad(lambda x, y: x**y, argnums=(0, 1))(0.0, 3.0)
    assert (float(dx), float(dy)) == (0.0, 0.0)


def test_norm_at_zero_has_zero_gradient() -> None:
    assert tg.grad(lambda x: tnp.norm(x))(np.zeros(3)).tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(tg.grad(lambda x: np.linalg.norm(x))(np.array([3.0, 4.0])),
                               [0.6, 0.8])  # fmt: skip


def test_logsumexp_of_all_minus_inf() -> None:
    x = np.full(3, -np.inf)
    value, g = tg.value_and_grad(lambda x: tnp.logsumexp(x))(x)
    assert float(value) == -np.inf
    assert g.tolist() == [0.0, 0.0, 0.0]
    g = tg.grad(lambda x: tnp.logsumexp(x))(np.array([-np.inf, 0.0]))
    assert g.tolist() == [0.0, 1.0]


def test_where_sqrt_abs_is_finite_where_jax_gives_nan() -> None:
    def f(x: np.ndarray) -> np.ndarray:
        return np.sum(np.where(x > 0, np.sqrt(np.abs(x)), 0.0))

    g = tg.grad(f)(np.array([0.0, 1.0]))
    assert g.tolist() == [0.0, 0.5]
    h = tg.hessian(f)(np.array([0.0, 1.0]))
    assert np.isfinite(h).all()
    np.testing.assert_allclose(h, [[0.0, 0.0], [0.0, -0.25]])


def test_where_log_and_division_traps() -> None:
    g = tg.grad(lambda x: np.sum(np.where(x > 0, np.log(x), 0.0)))(np.array([0.0, -1.0, 2.0]))
    assert g.tolist() == [0.0, 0.0, 0.5]
    g = tg.grad(lambda x: np.sum(np.where(x != 0, 1.0 / x, 0.0)))(np.array([0.0, 2.0]))
    assert g.tolist() == [0.0, -0.25]
    assert float(tg.grad(lambda x: np.where(x < 1, x, np.sqrt(x)))(0.0)) == 1.0


def test_where_untaken_branch_gets_a_select_not_a_product() -> None:
    x = param(0, TensorType(DType.FLOAT64, (2,)), "x")
    cond = b.gt(x, 0.0)
    out = b.where(cond, b.sqrt(x), 0.0)
    (dx,) = backward([out], [b.full((2,), 1.0, DType.FLOAT64)], [x])
    assert dx.op is Op.WHERE and dx.operands[0] is cond  # the mask sank through sqrt
    order = Function("g", (x,), (dx,)).order
    # a product with a 0/1 mask would need a cast of the bool condition somewhere
    assert not any(v.op is Op.CAST and v.operands[0].dtype is DType.BOOL for v in order)


def test_masks_sink_through_reindexing_ops() -> None:
    def f(x: np.ndarray) -> np.ndarray:
        y = np.where(x > 0, np.sqrt(x), 0.0).reshape(2, 2).T
        return np.sum(y[::-1, :] * np.array([[1.0, 2.0], [3.0, 4.0]]))

    g = tg.grad(f)(np.array([0.0, 1.0, 4.0, 0.0]))
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, [0.0, 1.0 * 0.5, 4.0 * 0.25, 0.0])


def test_sigmoid_gradient_at_zero() -> None:
    # the stabilized sigmoid must keep the right derivative at its kink-free point 0
    assert float(tg.grad(lambda x: tnp.sigmoid(x))(0.0)) == 0.25
    assert tg.grad(lambda x: np.sum(tnp.sigmoid(x)))(np.zeros(2)).tolist() == [0.25, 0.25]


def test_softplus_and_log_sigmoid_at_zero() -> None:
    assert float(tg.grad(lambda x: tnp.softplus(x))(0.0)) == pytest.approx(0.5)
    assert float(tg.grad(lambda x: np.log(tnp.sigmoid(x)))(0.0)) == pytest.approx(0.5)


def test_integer_values_get_no_cotangent() -> None:
    def f(x: np.ndarray) -> np.ndarray:
        n = np.floor(x).astype(np.int64)  # an integer path: no gradient flows through it
        return np.sum(x * x + n * 1.0)

    assert tg.grad(f)(np.array([1.5, 2.5])).tolist() == [3.0, 5.0]


def test_stop_gradient() -> None:
    f = lambda x: x * tg.stop_gradient(x)  # noqa: E731
    assert float(tg.grad(f)(3.0)) == 3.0
    assert float(tg.jit(tg.grad(f))(3.0)) == 3.0
    assert float(tg.grad(tg.grad(lambda x: f(x) * x))(2.0)) == 4.0  # d2/dx2 of s*x*x = 2s
    assert float(tg.jit(f)(3.0)) == 9.0
    tree = tg.stop_gradient({"a": np.ones(2), "b": 3})
    assert tree["b"] == 3 and tree["a"].tolist() == [1.0, 1.0]


def test_long_chain_without_recursion_error() -> None:
    """10^4 ops through trace and the transform (iterative walk), checked against finite
    differences; the optimizer is left out to keep the test fast."""
    from tracegrad.ir.interpreter import evaluate
    from tracegrad.tracing.trace import trace

    def chain(x: np.ndarray) -> np.ndarray:
        for _ in range(5000):
            x = np.sin(x) * 1.0001
        return np.sum(x)

    fn = trace(chain, (np.array([0.1, 0.2]),)).function
    assert fn.count_ops() > 10_000
    (dx,) = backward([fn.outputs[0]], [b.full((), 1.0, DType.FLOAT64)], [fn.params[0]])
    (g,) = evaluate(Function("g", fn.params, (dx,)), [np.array([0.1, 0.2])])
    eps = 1e-6
    fd = (chain(np.array([0.1 + eps, 0.2])) - chain(np.array([0.1 - eps, 0.2]))) / (2 * eps)
    np.testing.assert_allclose(g[0], fd, rtol=1e-5)


def test_optimized_functions_are_differentiated_again() -> None:
    """What the optimizer returns at the default level is ordinary IR, differentiable again."""
    from tracegrad.ir.interpreter import evaluate
    from tracegrad.ir.passes import optimize
    from tracegrad.tracing.trace import trace

    fn = trace(lambda x: np.sum(np.exp(-x) * np.sin(x) + x * x), (np.zeros(3),)).function
    optimized = optimize(fn, 2)
    x = np.array([0.1, -0.5, 2.0])
    (dx,) = backward([optimized.outputs[0]], [b.full((), 1.0, DType.FLOAT64)], optimized.params)
    (g,) = evaluate(Function("g", optimized.params, (dx,)), [x])
    expected = -np.exp(-x) * np.sin(x) + np.exp(-x) * np.cos(x) + 2 * x
    np.testing.assert_allclose(g, expected, rtol=1e-12)
