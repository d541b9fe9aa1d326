"""cond, while_loop, fori_loop and scan: values against the same code run eagerly in Python,
gradients against finite differences, grad of grad, jvp, pytrees, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegrad
from tracegrad import cond, fori_loop, scan, while_loop
from tracegrad.control import LoopTypeError
from tracegrad.ir.ops import Op


def fd_grad(f, x, eps=1e-6):
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


def ops_of(fn, *args):
    function = tracegrad.make_ir(fn)(*args)
    return [v.op for v in function.order]


# ---- fori_loop ----------------------------------------------------------------------------


def damped(x, n=50):
    return fori_loop(0, n, lambda i, v: np.sin(v) * 0.99 + 0.01 * i, x)


def test_fori_loop_stays_one_op_and_matches_eager() -> None:
    x = np.linspace(-1, 1, 7)
    eager = damped(x)  # no trace: a Python loop
    expected = x.copy()
    for i in range(50):
        expected = np.sin(expected) * 0.99 + 0.01 * i
    np.testing.assert_allclose(eager, expected, rtol=0, atol=0)
    np.testing.assert_allclose(tracegrad.jit(damped)(x), expected, rtol=1e-14)
    ops = ops_of(damped, x)
    assert ops.count(Op.SIN) == 0  # the body is in the loop's sub-Function, not unrolled
    assert Op.SCAN in ops


def test_fori_loop_gradient_matches_finite_differences() -> None:
    x = np.array([0.3, -0.7, 1.1])
    loss = lambda x: damped(x, 8).sum()  # noqa: E731  (50 steps contract the gradient to 1e-20)
    np.testing.assert_allclose(tracegrad.grad(loss)(x), fd_grad(loss, x), rtol=1e-6)
    np.testing.assert_allclose(tracegrad.jit(tracegrad.grad(loss))(x), fd_grad(loss, x), rtol=1e-6)


def test_fori_loop_traced_bounds_compile_once() -> None:
    traces = []

    def f(n, x):
        traces.append(1)
        return fori_loop(0, n, lambda i, v: v * 1.5 + i, x)

    jf = tracegrad.jit(f)
    for n in (0, 1, 5, 17):
        expected = 2.0
        for i in range(n):
            expected = expected * 1.5 + i
        assert float(jf(n, 2.0)) == expected
    assert len(traces) == 1
    g = tracegrad.grad(f, argnums=1)
    assert float(g(4, 2.0)) == pytest.approx(1.5**4)


def test_grad_of_grad_through_fori_loop() -> None:
    h = lambda x: fori_loop(0, 4, lambda i, v: np.sin(v) * v, x).sum()  # noqa: E731
    x = np.array([0.3, 0.8])
    hess = tracegrad.hessian(h)(x)
    fd = np.array([fd_grad(lambda y, j=j: tracegrad.grad(h)(y)[j], x) for j in range(2)])
    np.testing.assert_allclose(hess, fd, rtol=1e-5, atol=1e-8)


# ---- while_loop ---------------------------------------------------------------------------


def newton_sqrt(a):
    step = lambda x: 0.5 * (x + a / x)  # noqa: E731
    return while_loop(lambda x: abs(step(x) - x) > 1e-12, step, a)


def test_while_loop_value_and_reverse_mode() -> None:
    for a in (0.5, 2.0, 9.0, 1e4):
        assert float(tracegrad.jit(newton_sqrt)(a)) == pytest.approx(np.sqrt(a), rel=1e-15)
        # reverse mode through the recorded trips: d sqrt(a) = 1 / (2 sqrt(a))
        assert float(tracegrad.grad(newton_sqrt)(a)) == pytest.approx(0.5 / np.sqrt(a), rel=1e-9)


def test_while_loop_gradient_wrt_closure_and_carry_and_hessian() -> None:
    def g(a):
        c = (0, 1.0, a * 0.5)
        return while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] * a + c[2], c[2]), c)[1]

    assert float(tracegrad.jit(g)(1.3)) == pytest.approx(g(1.3), rel=1e-15)
    assert float(tracegrad.grad(g)(1.3)) == pytest.approx(fd_grad(g, 1.3), rel=1e-7)
    d2 = fd_grad(lambda a: float(tracegrad.grad(g)(a)), 1.3)
    assert float(tracegrad.hessian(g)(1.3)) == pytest.approx(d2, rel=1e-6)


def test_while_loop_value_dependent_trip_count() -> None:
    # the trip count depends on x: the recorded buffer grows at run time
    def f(x):
        return while_loop(lambda v: v.sum() < 100.0, lambda v: v * 1.7 + 0.1, x)

    for x in (np.array([1.0, 2.0]), np.array([0.01, 0.02]), np.array([200.0, 1.0])):
        np.testing.assert_allclose(tracegrad.jit(f)(x), f(x), rtol=1e-15)
        loss = lambda x: f(x).sum()  # noqa: E731
        np.testing.assert_allclose(tracegrad.grad(loss)(x), fd_grad(loss, x), rtol=1e-6)


# ---- scan ---------------------------------------------------------------------------------


def rnn(params, xs):
    w, u = params

    def step(h, x):
        h = np.tanh(h @ w + x @ u)
        return h, h.sum()

    h, ys = scan(step, np.zeros(w.shape[0]), xs)
    return h.sum() + ys.sum()


def test_scan_rnn_value_and_gradient() -> None:
    rng = np.random.default_rng(0)
    w, u = rng.normal(size=(4, 4)) * 0.5, rng.normal(size=(3, 4)) * 0.5
    xs = rng.normal(size=(6, 3))
    assert float(tracegrad.jit(rnn)((w, u), xs)) == pytest.approx(rnn((w, u), xs), rel=1e-13)
    gw, gu = tracegrad.grad(rnn)((w, u), xs)
    np.testing.assert_allclose(gw, fd_grad(lambda w: rnn((w, u), xs), w), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gu, fd_grad(lambda u: rnn((w, u), xs), u), rtol=1e-6, atol=1e-9)
    gx = tracegrad.grad(rnn, argnums=1)((w, u), xs)
    np.testing.assert_allclose(gx, fd_grad(lambda x: rnn((w, u), x), xs), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_reverse_pytrees_and_none_ys(reverse: bool) -> None:
    def f(xs):
        def step(c, x):
            return {"s": c["s"] + x["a"] * c["p"], "p": c["p"] * x["b"]}, None

        init = {"s": 0.0, "p": 1.0}
        return scan(step, init, {"a": xs[0], "b": xs[1]}, reverse=reverse)

    xs = np.array([[1.0, 2.0, 3.0], [0.5, 2.0, 4.0]])
    carry, ys = tracegrad.jit(f)(xs)
    expected, _ = f(xs)
    assert ys is None
    assert float(carry["s"]) == pytest.approx(expected["s"]) and float(carry["p"]) == expected["p"]
    loss = lambda xs: f(xs)[0]["s"]  # noqa: E731
    np.testing.assert_allclose(tracegrad.grad(loss)(xs), fd_grad(loss, xs), rtol=1e-7)


def test_scan_jvp_matches_finite_differences() -> None:
    f = lambda x: scan(lambda c, xi: (c * xi + np.sin(c), c), x[0], x)[0]  # noqa: E731
    x = np.array([0.5, 1.2, 0.7, 0.9])
    value, tangent = tracegrad.jvp(f, (x,), (np.ones(4),))
    assert float(value) == pytest.approx(f(x), rel=1e-14)
    assert float(tangent) == pytest.approx((f(x + 1e-6) - f(x - 1e-6)) / 2e-6, rel=1e-7)


def test_scan_weak_carry_takes_the_body_dtype() -> None:
    xs = np.arange(4, dtype=np.float32)
    carry, ys = tracegrad.jit(lambda xs: scan(lambda c, x: (c + x, c * 2), 0.0, xs))(xs)
    assert carry.dtype == np.float32 and ys.dtype == np.float32
    assert float(carry) == 6.0


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(-2, 2), min_size=0, max_size=12),
    st.floats(-1, 1),
    st.booleans(),
)
def test_scan_matches_eager_property(values: list[float], init: float, reverse: bool) -> None:
    xs = np.array(values, dtype=np.float64)

    def f(init, xs):
        return scan(lambda c, x: (np.cos(c) * x + c, c * x), init, xs, reverse=reverse)

    carry, ys = tracegrad.jit(f)(np.float64(init), xs)
    e_carry, e_ys = f(np.float64(init), xs)
    np.testing.assert_allclose(carry, e_carry, rtol=1e-13, atol=1e-15)
    if len(values):
        np.testing.assert_allclose(ys, e_ys, rtol=1e-13, atol=1e-15)
    else:
        assert ys.shape == (0,)


# ---- cond ---------------------------------------------------------------------------------


def test_cond_value_gradient_and_nan_free_other_branch() -> None:
    f = lambda x: cond(x > 0, lambda x: np.log(x) * x, lambda x: x * x, x)  # noqa: E731
    for x in (2.0, -3.0, 0.0):
        assert float(tracegrad.jit(f)(x)) == pytest.approx(f(x))
        g = float(tracegrad.grad(f)(x))
        assert np.isfinite(g)
        assert g == pytest.approx(np.log(x) + 1 if x > 0 else 2 * x)


def test_cond_pytrees_closures_and_weak_outputs() -> None:
    def f(x, y):
        return cond(
            x.sum() > y, lambda a: {"u": a * y, "v": 1.0}, lambda a: {"u": a + y, "v": a.sum()}, x
        )

    x = np.array([1.0, 2.0])
    for y in (0.5, 10.0):
        out = tracegrad.jit(f)(x, y)
        expected = f(x, y)
        np.testing.assert_allclose(out["u"], expected["u"])
        assert float(out["v"]) == float(expected["v"])
    gy = tracegrad.grad(lambda y: f(x, y)["u"].sum())(0.5)
    assert float(gy) == pytest.approx(3.0)


# ---- errors -------------------------------------------------------------------------------


def test_carry_type_change_names_the_leaf_and_line() -> None:
    def f(x):
        return fori_loop(0, 3, lambda i, c: (c[0], np.stack([c[1], c[1]])), (x, x))

    with pytest.raises(
        LoopTypeError,
        match=r"fori_loop body_fun: val\[1\] enters as f64\[2\] but leaves as f64\[2,2\]",
    ) as info:
        tracegrad.jit(f)(np.ones(2))
    assert "test_control_flow.py" in str(info.value)


def test_cond_pred_must_be_scalar_bool() -> None:
    with pytest.raises(LoopTypeError, match="pred must be a scalar bool, got f64"):
        tracegrad.jit(lambda x: cond(x, lambda x: x, lambda x: -x, x))(np.ones(3))
    with pytest.raises(LoopTypeError, match="must return a scalar bool"):
        tracegrad.jit(lambda x: while_loop(lambda v: v, lambda v: v - 1.0, x))(np.ones(2))


def test_cond_branches_must_agree() -> None:
    with pytest.raises(LoopTypeError, match="output is f64\\[3\\] in true_fun"):
        tracegrad.jit(lambda x: cond(x[0] > 0, lambda x: x, lambda x: x.sum(), x))(np.ones(3))


def test_random_draw_inside_a_body_is_an_error_not_a_frozen_draw() -> None:
    def f(x):
        return fori_loop(0, 3, lambda i, v: v + np.random.normal(size=v.shape), x)

    with pytest.raises(tracegrad.TracegradError, match="draws random numbers"):
        tracegrad.jit(f)(np.zeros(2))


# ---- the optimizer and the plan -----------------------------------------------------------


def _loop_groups(function) -> set:
    from tracegrad.ir.prims.control import group_key

    return {group_key(v) for v in function.order if v.op in (Op.SCAN, Op.WHILE, Op.COND)}


@pytest.mark.parametrize("kind", ["scan", "while"])
def test_value_and_grad_runs_the_forward_loop_once(kind: str) -> None:
    from tracegrad.ir.passes import optimize

    def f(x):
        if kind == "scan":
            return fori_loop(0, 5, lambda i, v: np.sin(v) * 1.1, x).sum()
        return while_loop(lambda v: v.sum() < 50.0, lambda v: v * 1.3 + 0.1, x).sum()

    raw = tracegrad.make_ir(tracegrad.value_and_grad(f))(np.array([1.0, 2.0]))
    assert len(_loop_groups(raw)) == 3  # forward, its recording twin, backward
    assert len(_loop_groups(optimize(raw))) == 2  # the twin serves the value too
    value, grad = tracegrad.jit(tracegrad.value_and_grad(f))(np.array([1.0, 2.0]))
    assert float(value) == pytest.approx(f(np.array([1.0, 2.0])), rel=1e-15)


def test_stabilization_runs_inside_loop_bodies() -> None:
    # log(1 / (1 + exp(-z))) inside a scan body: stabilized, the value and the gradient stay
    # finite at z = -800 (the unstabilized spelling gives -inf and NaN)
    def f(z):
        step = lambda c, zi: (c + np.log(1.0 / (1.0 + np.exp(-zi))), None)  # noqa: E731
        return scan(step, 0.0, z)[0]

    z = np.array([-800.0, 3.0, 800.0])
    value = float(tracegrad.jit(f)(z))
    assert value == pytest.approx(-800.0 - np.log1p(np.exp(-3.0)), rel=1e-12)
    grad = tracegrad.grad(f)(z)
    np.testing.assert_allclose(grad, [1.0, 1.0 / (1.0 + np.exp(3.0)), 0.0], atol=1e-15)


def test_a_loop_is_one_plan_step_for_all_its_outputs() -> None:
    from tracegrad.llvm.plan.kernels import InterpretStep, plan

    def f(x):
        return scan(lambda c, x: ((c[0] + x, c[1] * x), c[0]), (0.0, 1.0), x)

    function = tracegrad.make_ir(f)(np.arange(1.0, 4.0))
    steps = [s for s in plan(function).steps if isinstance(s, InterpretStep)]
    assert len(steps) == 1 and len(steps[0].function.outputs) == 3


def test_dead_carries_go_and_invariant_work_is_hoisted() -> None:
    from tracegrad.ir.passes import optimize

    def f(x, w):
        def body(c, xi):
            total, unused, counter = c
            return (total + xi * np.exp(w) * counter, unused * 2.0, counter + 1.0), None

        return scan(body, (0.0, 1.0, 1.0), x)[0][0]

    x, w = np.arange(1.0, 5.0), 0.5
    g = optimize(tracegrad.make_ir(f)(x, w))
    (loop,) = [v for v in g.order if v.op is Op.SCAN]
    body = loop.attr("body")
    assert loop.attr("num_carry") == 2  # `unused` is dead; `counter` feeds `total`
    assert Op.EXP not in [v.op for v in body.order]  # exp(w) runs once, before the loop
    expected = sum(xi * np.exp(w) * (i + 1) for i, xi in enumerate(x))
    assert float(tracegrad.jit(f)(x, w)) == pytest.approx(expected, rel=1e-14)
    gw = tracegrad.grad(f, argnums=1)(x, w)
    assert float(gw) == pytest.approx(expected, rel=1e-12)  # d/dw exp(w) = exp(w)


def _recorded_lengths(function) -> list[int]:
    """Leading extents of the carries every recording scan stores, in all nested bodies."""
    from tracegrad.ir.printer import subfunctions

    found = []
    for g in [function, *subfunctions(function)]:
        for v in g.order:
            body = v.attr("body") if v.op is Op.SCAN else None
            if body is not None and body.name.endswith("_fwd"):
                n_carry = v.attr("num_carry")
                if v.attr("output") >= len(body.outputs) - n_carry:
                    found.append(v.shape[0])
    return found


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("checkpoint", [True, 5, 1])
def test_checkpointed_scan_same_gradient_bounded_residuals(reverse: bool, checkpoint) -> None:
    from tracegrad.ir.passes import optimize

    weights = np.arange(23.0)

    def f(xs, checkpoint):
        step = lambda c, x: (np.sin(c) * x + 0.1 * c, c * x)  # noqa: E731
        c, ys = scan(step, 0.3, xs, checkpoint=checkpoint, reverse=reverse)
        return c + (ys * weights).sum()

    xs = np.linspace(0.5, 1.5, 23)
    plain = tracegrad.grad(lambda x: f(x, None))(xs)
    checkpointed = tracegrad.grad(lambda x: f(x, checkpoint))
    np.testing.assert_allclose(checkpointed(xs), plain, rtol=1e-13)
    np.testing.assert_allclose(plain, fd_grad(lambda x: f(x, None), xs), rtol=1e-6)
    lengths = _recorded_lengths(optimize(tracegrad.make_ir(checkpointed)(xs)))
    k = 5 if checkpoint is True else checkpoint
    expected_max = 23 if k == 1 else max(23 // k, k, 23 % k)
    assert lengths and max(lengths) == expected_max  # never all 23 carries at once (k > 1)


def test_dead_while_carries_go() -> None:
    from tracegrad.ir.passes import optimize

    def f(x):
        def body(c):
            k, v, unused = c
            return k + 1, v * 1.5, unused * np.exp(v)

        return while_loop(lambda c: c[0] < 4, body, (0, x, x))[1]

    g = optimize(tracegrad.make_ir(f)(np.ones(2)))
    (loop,) = [v for v in g.order if v.op is Op.WHILE]
    assert len(loop.attr("body").outputs) == 2  # `unused` is gone, and its exp with it
    np.testing.assert_allclose(tracegrad.jit(f)(np.ones(2)), 1.5**4)
    np.testing.assert_allclose(tracegrad.grad(lambda x: f(x).sum())(np.ones(2)), 1.5**4)


def test_grad_of_grad_and_jvp_through_cond_and_while() -> None:
    g = lambda x: cond(x > 0, lambda x: np.sin(x) * x, lambda x: x**3, x)  # noqa: E731
    assert float(tracegrad.hessian(g)(0.7)) == pytest.approx(2 * np.cos(0.7) - 0.7 * np.sin(0.7))
    assert float(tracegrad.hessian(g)(-0.7)) == pytest.approx(-4.2)
    _, tangent = tracegrad.jvp(g, (0.7,), (1.0,))
    assert float(tangent) == pytest.approx(np.cos(0.7) * 0.7 + np.sin(0.7))
    w = lambda a: while_loop(lambda c: c < 50.0, lambda c: c * a + 1.0, a)  # noqa: E731
    _, tangent = tracegrad.jvp(w, (1.3,), (1.0,))
    assert float(tangent) == pytest.approx(fd_grad(w, 1.3), rel=1e-6)
