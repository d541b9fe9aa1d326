"""Theano's function options and shared variables (issue #17 item 3): updates, givens, In,
allow_input_downcast, on_unused_input, copy(swap=), with the tutorial's own examples."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import tracegrad.tensor as T  # noqa: N812  (Theano's spelling)
from tracegrad import In, UnsupportedError, function, shared
from tracegrad.tensor.updates import UnusedInputError


def test_more_examples_accumulator_givens_and_copy() -> None:
    """Theano's "More Examples" page, shared-variable section, verbatim but the imports."""
    state = shared(0)
    inc = T.iscalar("inc")
    accumulator = function([inc], state, updates=[(state, state + inc)])
    assert accumulator(1) == 0 and state.get_value() == 1
    assert accumulator(300) == 1 and state.get_value() == 301
    state.set_value(-1)
    assert accumulator(3) == -1 and state.get_value() == 2
    decrementor = function([inc], state, updates=[(state, state - inc)])
    assert decrementor(2) == 2 and state.get_value() == 0
    fn_of_state = state * 2 + inc
    foo = T.scalar(dtype=state.dtype)  # the type of the value replacing state
    skip_shared = function([inc, foo], fn_of_state, givens=[(state, foo)])
    assert skip_shared(1, 3) == 7 and state.get_value() == 0  # state untouched
    new_state = shared(0)
    new_accumulator = accumulator.copy(swap={state: new_state})
    assert new_accumulator(100) == 0 and new_state.get_value() == 100
    assert state.get_value() == 0  # the original's variable is not the copy's


def test_updates_apply_after_every_output_at_once() -> None:
    a, b = shared(np.array([1.0, 2.0]), name="a"), shared(np.array([3.0, 4.0]), name="b")
    swap = function([], [a + b], updates=[(a, b), (b, a)])
    (total,) = swap()
    np.testing.assert_array_equal(total, [4.0, 6.0])
    np.testing.assert_array_equal(a.get_value(), [3.0, 4.0])  # the old b, not a's new value
    np.testing.assert_array_equal(b.get_value(), [1.0, 2.0])


def test_logistic_regression_training_matches_numpy() -> None:
    """Theano's "A Real Example: Logistic Regression": shared w, b, updates, 10 steps."""
    rng = np.random.default_rng(1)
    n, feats = 40, 5
    data_x, data_y = rng.standard_normal((n, feats)), rng.integers(0, 2, n).astype(float)
    x, y = T.dmatrix("x"), T.dvector("y")
    w0 = rng.standard_normal(feats)
    w, b = shared(w0, name="w"), shared(0.0, name="b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    prediction = p_1 > 0.5
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = T.sum(xent) / n + 0.01 * (w**2).sum()
    gw, gb = T.grad(cost, [w, b])
    train = function(
        [x, y], [prediction, T.sum(xent)], updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb))
    )
    predict = function([x], prediction)
    ref_w, ref_b = w0.copy(), 0.0
    for _ in range(10):
        pred, err = train(data_x, data_y)
        z = data_x @ ref_w + ref_b
        p = 1 / (1 + np.exp(-z))
        np.testing.assert_array_equal(pred, p > 0.5)
        np.testing.assert_allclose(
            err,
            np.sum(np.logaddexp(0, -z) * data_y + np.logaddexp(0, z) * (1 - data_y)),
            rtol=1e-12,
        )
        residual = p - data_y
        ref_w, ref_b = (
            ref_w - 0.1 * (data_x.T @ residual / n + 0.02 * ref_w),
            ref_b - 0.1 * residual.sum() / n,
        )
    np.testing.assert_allclose(w.get_value(), ref_w, rtol=1e-12)
    np.testing.assert_allclose(b.get_value(), ref_b, rtol=1e-12)
    np.testing.assert_array_equal(predict(data_x), data_x @ ref_w + ref_b > 0)


def test_in_defaults_and_keywords() -> None:
    x, y, w = T.dscalars("x", "y", "w")
    z = (x + y) * w
    f = function([x, In(y, value=1), In(w, value=2, name="w_by_name")], z)
    assert f(33) == 68
    assert f(33, 2) == 70
    assert f(33, 0, 1) == 33
    assert f(33, w_by_name=1) == 34
    assert f(33, w_by_name=1, y=0) == 33
    with pytest.raises(TypeError, match="missing input 'x'"):
        f()
    with pytest.raises(TypeError, match="unknown input name"):
        f(1, nope=2)


def test_plural_constructors_and_tensor_type() -> None:
    a, b = T.dmatrices("a", "b")
    assert (a.name, b.name, a.dtype, a.ndim) == ("a", "b", np.dtype("float64"), 2)
    s = T.fscalars(3)
    assert len(s) == 3 and all(v.dtype == np.float32 for v in s)
    row = T.TensorType("float32", (True, False))("r")
    assert row.dtype == np.float32 and row.shape[0] == 1


def test_float64_arrays_are_not_silently_downcast() -> None:
    x = T.fvector("x")
    f = function([x], x * 2)
    with pytest.raises(TypeError, match="not downcast silently"):
        f(np.array([1.0, 2.0]))  # float64
    np.testing.assert_array_equal(f(np.array([1.0, 2.0], np.float32)), [2.0, 4.0])
    assert f([1.5]).dtype == np.float32  # Python floats: Theano's default allows them
    g = function([x], x * 2, allow_input_downcast=True)
    assert g(np.array([1.0, 2.0])).dtype == np.float32
    strict = function([x], x * 2, allow_input_downcast=False)
    with pytest.raises(TypeError, match="not downcast silently"):
        strict([1.5])


def test_on_unused_input() -> None:
    x, y = T.dscalars("x", "y")
    with pytest.raises(UnusedInputError, match="input 1 \\(y\\)"):
        function([x, y], x * 2, on_unused_input="raise")
    with pytest.warns(UserWarning, match="input 1 \\(y\\)"):
        function([x, y], x * 2, on_unused_input="warn")
    assert function([x, y], x * 2)(1.0, 5.0) == 2.0  # default "ignore": see the docstring


def test_wrong_updates_and_givens_are_clear_errors() -> None:
    w = shared(np.zeros(3, np.float32), name="w")
    x = T.dvector("x")
    with pytest.raises(TypeError, match="update of 'w'"):
        function([x], x, updates=[(w, x)])  # float64 into float32
    with pytest.raises(TypeError, match="not one"):
        function([x], x, updates=[(x, x * 2)])
    with pytest.raises(ValueError, match="updated twice"):
        function([], w, updates=[(w, w + 1), (w, w * 2)])
    with pytest.raises(TypeError, match="does not convert"):
        w.set_value(np.array([0.5, 1.5, 1e300]))
    with pytest.raises(TypeError, match="dimensions"):
        w.set_value(np.zeros((2, 2), np.float32))


def test_shared_values_are_copied_unless_borrowed() -> None:
    array = np.ones(3)
    copied, borrowed = shared(array), shared(array, borrow=True)
    array[0] = 5.0
    assert copied.get_value()[0] == 1.0 and borrowed.get_value(borrow=True)[0] == 5.0
    got = copied.get_value()
    got[1] = 7.0
    assert copied.get_value()[1] == 1.0


def test_a_function_with_shared_variables_refuses_to_pickle_clearly() -> None:
    w = shared(np.ones(2), name="w")
    with pytest.raises(pickle.PicklingError, match="shared variables"):
        pickle.dumps(function([], w * 2))


def test_mean_var_std_over_symbolic_dims_and_their_gradients() -> None:
    """Theano's xent.mean() over a symbolic dim: the count is computed at run time."""
    x = T.dmatrix("x")
    f = function([x], [x.mean(), x.mean(axis=0), T.mean(x, axis=1), x.var(), x.std(axis=0)])
    for shape in [(3, 4), (1, 7), (5, 1)]:
        a = np.arange(float(np.prod(shape))).reshape(shape) ** 1.5
        for got, want in zip(
            f(a), [a.mean(), a.mean(0), a.mean(1), a.var(), a.std(0)], strict=True
        ):
            np.testing.assert_allclose(got, want, rtol=1e-12)
            assert got.shape == want.shape
        g = function([x], T.grad(x.mean(), x))(a)
        np.testing.assert_allclose(g, np.full(shape, 1.0 / a.size), rtol=1e-14)
    with np.errstate(invalid="ignore"):
        assert np.isnan(function([x], x.mean())(np.zeros((0, 3))))  # numpy: nan, with a warning


def test_categorical_crossentropy_rows() -> None:
    p, t = T.dmatrices("p", "t")
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(p), t)
    f = function([p, t], [loss, T.grad(loss.sum(), p)])
    logits = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    onehot = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    soft = np.exp(logits - logits.max(1, keepdims=True))
    soft /= soft.sum(1, keepdims=True)
    got_loss, got_grad = f(logits, onehot)
    np.testing.assert_allclose(got_loss, -np.sum(onehot * np.log(soft), axis=1), rtol=1e-12)
    np.testing.assert_allclose(got_grad, soft - onehot, rtol=1e-12, atol=1e-15)
    labels = T.ivector("labels")
    with pytest.raises(UnsupportedError, match="one-hot"):
        T.nnet.categorical_crossentropy(p, labels)


def test_dimshuffle_like_theano() -> None:
    x = T.dmatrix("x")
    a = np.arange(6.0).reshape(2, 3)
    cases = {
        (1, 0): a.T,
        ("x", 0, 1): a[None],
        (1, "x", 0): a.T[:, None, :],
        (0, 1, "x"): a[..., None],
    }
    for pattern, want in cases.items():
        got = function([x], (x * 1.0).dimshuffle(*pattern))(a)
        np.testing.assert_array_equal(got, want)
    r = T.drow("r")  # (1, n): the broadcastable axis may be dropped
    np.testing.assert_array_equal(function([r], r.dimshuffle(1))(a[:1]), a[0])
    with pytest.raises(ValueError, match="not 1"):
        x.dimshuffle(1)
    with pytest.raises(ValueError, match="distinct"):
        x.dimshuffle(0, 0)


def test_eval_of_expressions() -> None:
    x, y = T.dscalars("x", "y")
    z = x + y
    assert z.eval({x: 16.3, y: 12.1}) == pytest.approx(28.4)
    w = shared(np.array([1.0, 2.0]), name="w")
    assert float((w * 2).sum().eval()) == 6.0
    v = T.dvector("v")
    np.testing.assert_array_equal((v.mean() - v).eval({v: np.array([1.0, 3.0])}), [1.0, -1.0])


def test_printing_debugprint_and_pydotprint(tmp_path, capsys) -> None:
    import tracegrad as theano

    x, y = T.dscalars("x", "y")
    z = T.exp(x) * y + x
    text = theano.printing.debugprint(z)
    assert capsys.readouterr().out.strip() == text
    assert text.splitlines() == [
        "add [id A]",
        " |mul [id B]",
        " | |exp [id C]",
        " | | |x [id D]",
        " | |y [id E]",
        " |x [id D]",
    ]
    f = function([x, y], z)
    assert theano.printing.debugprint(f, file="str").splitlines()[0].endswith("[id A]")
    out = tmp_path / "graph.dot"
    dot = theano.printing.pydotprint(z, outfile=str(out))
    assert out.read_text().strip() == dot
    assert dot.count("->") == 5 and '[label="exp", shape=box]' in dot
    with pytest.raises(ValueError, match="DOT"):
        theano.printing.pydotprint(z, format="png")


def test_conditions_page_ifelse_and_switch() -> None:
    """Theano's "Conditions" page: ifelse picks a whole branch, switch picks elementwise."""
    from tracegrad.ifelse import ifelse

    a, b = T.dscalars("a", "b")
    x, y = T.dmatrices("x", "y")
    z_switch = T.switch(T.lt(a, b), T.mean(x), T.mean(y))
    z_lazy = ifelse(T.lt(a, b), T.mean(x), T.mean(y))
    f_switch = function([a, b, x, y], z_switch)
    f_lazyifelse = function([a, b, x, y], z_lazy)
    val1, val2 = 0.0, 1.0
    big1, big2 = np.ones((10, 10)), np.zeros((10, 10))
    assert f_switch(val1, val2, big1, big2) == 1.0 and f_lazyifelse(val2, val1, big1, big2) == 0.0
    g = function([a, b, x, y], T.grad(ifelse(T.lt(a, b), T.sum(x * 2), T.sum(y)), x))
    np.testing.assert_array_equal(g(0.0, 1.0, big1, big2), np.full((10, 10), 2.0))
    np.testing.assert_array_equal(g(1.0, 0.0, big1, big2), np.zeros((10, 10)))
    with pytest.raises(ValueError, match="scalar condition"):
        ifelse(T.lt(x, y), x, y)
    np.testing.assert_array_equal(T.arange(4), np.arange(4))
