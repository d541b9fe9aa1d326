"""The Theano-style front end: symbolic variables, tracegrad.function, and T.grad/jacobian/
hessian/Lop/Rop checked against numpy and central finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tracegrad
import tracegrad.tensor as T  # noqa: N812
from tracegrad import function, pp
from tracegrad.backend import InterpretBackend
from tracegrad.errors import UnsupportedError
from tracegrad.tensor.function import MissingInputError

SHORT_FORMS = [
    ("dscalar", np.float64, 0), ("dvector", np.float64, 1), ("dmatrix", np.float64, 2),
    ("fscalar", np.float32, 0), ("fvector", np.float32, 1), ("fmatrix", np.float32, 2),
    ("iscalar", np.int32, 0), ("ivector", np.int32, 1), ("imatrix", np.int32, 2),
    ("dtensor3", np.float64, 3), ("lvector", np.int64, 1),
]  # fmt: skip


def numeric_jacobian(fn, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences: result shape fn(x).shape + x.shape."""
    x = np.asarray(x, dtype=np.float64)
    out = np.asarray(fn(x))
    jac = np.zeros(out.shape + x.shape)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        jac[(...,) + index] = (np.asarray(fn(x + step)) - np.asarray(fn(x - step))) / (2 * eps)
    return jac


# ---- variables ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "dtype", "ndim"), SHORT_FORMS)
def test_short_forms_have_their_dtype_and_rank(name: str, dtype: type, ndim: int) -> None:
    var = getattr(T, name)("v")
    assert var.dtype == np.dtype(dtype)
    assert var.ndim == ndim
    assert var.name == "v"
    assert all(not isinstance(d, int) for d in var.shape)  # symbolic: any length


@pytest.mark.parametrize("maker", [T.scalar, T.vector, T.matrix, T.tensor3])
def test_generic_constructors_take_a_dtype(maker) -> None:
    assert maker("a").dtype == np.float64
    assert maker("b", dtype="float32").dtype == np.float32
    assert maker("c", dtype="int64").dtype == np.int64


def test_same_name_twice_gives_independent_dims() -> None:
    a, b = T.dvector("same"), T.dvector("same")
    f = function([a, b], [T.sum(a), T.sum(b)])
    assert [float(r) for r in f([1.0, 2.0], [3.0, 4.0, 5.0])] == [3.0, 12.0]


def test_row_broadcasts_against_a_matrix() -> None:
    r, m = T.drow("r"), T.dmatrix("m")
    f = function([r, m], r + m)
    np.testing.assert_array_equal(f([[1, 2, 3]], np.ones((2, 3))), [[2, 3, 4], [2, 3, 4]])


def test_numpy_functions_work_on_symbolic_variables() -> None:
    x = T.dvector("x")
    f = function([x], [np.exp(x), T.nnet.sigmoid(x), T.softplus(x), T.mean(x), T.max(x)])
    data = np.array([-1.0, 0.5, 2.0])
    expected = [np.exp(data), 1 / (1 + np.exp(-data)), np.log1p(np.exp(data)), data.mean(), 2.0]
    for got, want in zip(f(data), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)


# ---- tracegrad.function -------------------------------------------------------------------


def test_accepts_lists_scalars_and_arrays_of_other_dtypes() -> None:
    x, s = T.dvector("x"), T.dscalar("s")
    f = function([x, s], x * s)
    np.testing.assert_array_equal(f([1, 2], 3), [3.0, 6.0])
    np.testing.assert_array_equal(f(np.arange(3, dtype=np.int32), np.float32(0.5)), [0, 0.5, 1])
    assert f([1, 2], 3).dtype == np.float64


def test_float32_variables_convert_their_inputs() -> None:
    x = T.fvector("x")
    out = function([x], x * 2)([1.5, 2.5])
    assert out.dtype == np.float32


def test_lossy_float_to_int_input_is_an_error_unless_allowed() -> None:
    i = T.iscalar("i")
    f = function([i], i * 2)
    assert f(3.0) == 6
    with pytest.raises(TypeError, match="'i'.*without losing precision"):
        f(2.5)
    assert function([i], i * 2, allow_input_downcast=True)(2.5) == 4


def test_single_output_is_an_array_and_a_list_gives_a_list() -> None:
    x = T.dscalar("x")
    single = function([x], x + 1)(1.0)
    assert isinstance(single, np.ndarray) and single.shape == () and single == 2.0
    both = function([x], [x + 1, x * 3])(2.0)
    assert isinstance(both, list) and [float(b) for b in both] == [3.0, 6.0]
    assert isinstance(function([x], [x])(1.0), list)


def test_compiles_once_per_rank_with_symbolic_dims() -> None:
    x = T.dmatrix("x")
    f = function([x], T.sum(T.exp(x)), backend="interpret")
    for shape in [(2, 2), (5, 3), (1, 7)]:
        data = np.random.default_rng(0).normal(size=shape)
        np.testing.assert_allclose(f(data), np.exp(data).sum(), rtol=1e-12)
    assert f.compile_count == 1


class ConcreteOnlyBackend(InterpretBackend):
    """A backend that refuses symbolic dims, like a backend without shape polymorphism."""

    name = "concrete-only"

    def compile(self, function, *, spent_s=0.0):  # type: ignore[no-untyped-def]
        if not all(p.type.is_concrete for p in function.params):
            raise UnsupportedError("symbolic dims")
        return super().compile(function, spent_s=spent_s)


def test_backend_without_symbolic_dims_gets_one_compile_per_shape(monkeypatch) -> None:
    from tracegrad import backend as backend_module

    monkeypatch.setitem(backend_module._BACKENDS, "concrete-only", ConcreteOnlyBackend())
    x, y = T.dvector("x"), T.dvector("y")
    f = function([x, y], x * y + 1, backend="concrete-only")
    np.testing.assert_array_equal(f([1, 2], [3, 4]), [4, 9])
    np.testing.assert_array_equal(f([1, 2, 3], [1, 1, 1]), [2, 3, 4])
    np.testing.assert_array_equal(f([0, 0], [5, 5]), [1, 1])
    assert f.compile_count == 2


def test_wrong_rank_is_a_type_error_naming_the_variable() -> None:
    x = T.dmatrix("weights")
    f = function([x], T.sum(x))
    with pytest.raises(TypeError, match=r"'weights': expected 2 .* got 1 with shape \(3,\)"):
        f([1.0, 2.0, 3.0])


def test_wrong_number_of_arguments() -> None:
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="takes 1 arguments"):
        function([x], x)(1.0, 2.0)


def test_mismatched_runtime_dims_are_a_value_error() -> None:
    x, y = T.dvector("x"), T.dvector("y")
    f = function([x, y], x + y)
    with pytest.raises(ValueError, match="could not be broadcast together.*'x'.*'y'"):
        f([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError):  # a symbolic dim never broadcasts, even at length 1
        f([1.0], [1.0, 2.0])


def test_mismatched_matmul_dims_are_a_value_error() -> None:
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = function([a, b], T.dot(a, b))
    np.testing.assert_array_equal(f(np.eye(2), [[1, 2], [3, 4]]), [[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="dimension 1 of 'a' and dimension 0 of 'b'"):
        f(np.ones((2, 3)), np.ones((2, 2)))


def test_missing_input_is_reported() -> None:
    x, y = T.dscalar("x"), T.dscalar("y")
    with pytest.raises(MissingInputError, match="'y'"):
        function([x], x + y)


def test_inputs_must_be_symbolic_variables() -> None:
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="symbolic variable"):
        function([x * 2], x)
    with pytest.raises(TypeError, match="listed twice"):
        function([x, x], x)


def test_optimized_graph_is_exposed() -> None:
    x = T.dscalar("x")
    f = function([x], x * 2.0)
    assert "x" in pp(f.optimized)
    assert f.maker.fgraph.outputs[0] is f.optimized


# ---- derivatives --------------------------------------------------------------------------


def test_grad_of_square_and_pp_shows_the_chain_rule() -> None:
    x = T.dscalar("x")
    gy = T.grad(x**2, x)
    assert "x ** " in pp(gy)  # the raw power rule, before optimization
    f = function([x], gy)
    assert float(f(4)) == 8.0 and float(f(94.2)) == pytest.approx(188.4, rel=1e-15)


def test_optimized_gradient_of_square_is_two_x() -> None:
    x = T.dscalar("x")
    f = function([x], T.grad(x**2, x))
    assert pp(f.optimized) == "(2.0 * x)"


def test_grad_needs_a_scalar_cost() -> None:
    x = T.dvector("x")
    with pytest.raises(TypeError, match=r"must be a scalar \(0-d\).*shape \(x"):
        T.grad(x * 2, x)


def test_grad_with_a_list_returns_a_list_in_order() -> None:
    a, b, c = T.dscalar("a"), T.dvector("b"), T.dmatrix("c")
    cost = a * T.sum(b**2) + T.sum(T.tanh(c))
    grads = T.grad(cost, [c, a, b])
    assert isinstance(grads, list) and [g.ndim for g in grads] == [2, 0, 1]
    bv, cv = np.array([1.0, -2.0]), np.array([[0.1, 0.2], [0.3, 0.4]])
    gc, ga, gb = function([a, b, c], grads)(3.0, bv, cv)
    np.testing.assert_allclose(gc, 1 - np.tanh(cv) ** 2, rtol=1e-12)
    assert float(ga) == pytest.approx(5.0)
    np.testing.assert_allclose(gb, 3.0 * 2 * bv)


def test_grad_with_respect_to_an_intermediate_expression() -> None:
    x = T.dvector("x")
    h = T.exp(x)
    cost = T.sum(h**2)
    f = function([x], T.grad(cost, h))
    data = np.array([0.0, 1.0])
    np.testing.assert_allclose(f(data), 2 * np.exp(data))


def test_disconnected_inputs() -> None:
    x, y = T.dscalar("x"), T.dscalar("y")
    with pytest.raises(T.DisconnectedInputError, match="y"):
        T.grad(x * 2, y)
    gy = T.grad(x * 2, y, disconnected_inputs="ignore")
    assert float(function([x, y], gy)(1.0, 2.0)) == 0.0


def test_grad_of_grad() -> None:
    x = T.dscalar("x")
    d3 = T.grad(T.grad(T.grad(x**4, x), x), x)
    assert float(function([x], d3)(2.0)) == pytest.approx(48.0)


def test_jacobian_matches_finite_differences() -> None:
    w, x = T.dmatrix("w"), T.dvector("x")
    y = T.tanh(T.dot(w, x))
    jx, jw = T.jacobian(y, [x, w])
    rng = np.random.default_rng(1)
    wv, xv = rng.normal(size=(3, 2)), rng.normal(size=2)
    got_x, got_w = function([w, x], [jx, jw])(wv, xv)
    assert got_x.shape == (3, 2) and got_w.shape == (3, 3, 2)
    np.testing.assert_allclose(got_x, numeric_jacobian(lambda v: np.tanh(wv @ v), xv), atol=1e-8)
    want_w = numeric_jacobian(lambda m: np.tanh(m @ xv), wv)
    np.testing.assert_allclose(got_w, want_w, atol=1e-8)


def test_jacobian_of_a_matrix_expression() -> None:
    x = T.dmatrix("x")
    j = function([x], T.jacobian(T.sum(x**2, axis=1) * x.T, x))
    xv = np.random.default_rng(2).normal(size=(2, 3))
    want = numeric_jacobian(lambda m: (m**2).sum(axis=1) * m.T, xv)
    np.testing.assert_allclose(j(xv), want, atol=1e-7)


def test_hessian_matches_finite_differences_of_the_gradient() -> None:
    x = T.dvector("x")
    cost = T.sum(T.exp(x) * x**2) + T.sum(x) ** 2
    h = function([x], T.hessian(cost, x))
    xv = np.array([0.3, -0.7, 1.1])

    def grad_np(v: np.ndarray) -> np.ndarray:
        return np.exp(v) * v**2 + 2 * v * np.exp(v) + 2 * v.sum()

    np.testing.assert_allclose(h(xv), numeric_jacobian(grad_np, xv), atol=1e-7)


def test_rop_and_lop_match_the_jacobian() -> None:
    x, w = T.dvector("x"), T.dmatrix("w")
    v, u = T.dmatrix("v"), T.dvector("u")
    y = T.sin(T.dot(x, w))
    rng = np.random.default_rng(3)
    xv, wv, vv, uv = (rng.normal(size=s) for s in [(2,), (2, 3), (2, 3), (3,)])
    jac = numeric_jacobian(lambda m: np.sin(xv @ m), wv)  # (3, 2, 3)
    rop = function([x, w, v], T.Rop(y, w, v))(xv, wv, vv)
    np.testing.assert_allclose(rop, np.tensordot(jac, vv, axes=2), atol=1e-8)
    lop = function([x, w, u], T.Lop(y, w, u))(xv, wv, uv)
    np.testing.assert_allclose(lop, np.tensordot(uv, jac, axes=1), atol=1e-8)


def test_rop_with_several_wrt_sums_their_contributions() -> None:
    a, b = T.dvector("a"), T.dvector("b")
    va, vb = T.dvector("va"), T.dvector("vb")
    y = a * b**2
    jv = function([a, b, va, vb], T.Rop(y, [a, b], [va, vb]))
    av, bv, dav, dbv = np.array([1.0, 2.0]), np.array([3.0, -1.0]), np.ones(2), np.full(2, 0.5)
    np.testing.assert_allclose(jv(av, bv, dav, dbv), bv**2 * dav + 2 * av * bv * dbv)


def test_hessian_vector_product_both_ways() -> None:
    x, v = T.dvector("x"), T.dvector("v")
    gy = T.grad(T.sum(T.sin(x) * x), x)
    vh = function([x, v], T.grad(T.sum(gy * v), x))
    hv = function([x, v], T.Rop(gy, x, v))
    xv, vv = np.array([0.5, 1.5, -2.0]), np.array([1.0, -1.0, 2.0])
    hess = np.diag(2 * np.cos(xv) - xv * np.sin(xv))
    np.testing.assert_allclose(vh(xv, vv), hess @ vv, atol=1e-12)
    np.testing.assert_allclose(hv(xv, vv), hess @ vv, atol=1e-12)


def test_integer_wrt_is_an_error() -> None:
    i = T.iscalar("i")
    with pytest.raises(TypeError, match="integer"):
        T.grad(T.cast(i, "float64") * 2.0, i)


@given(st.lists(st.floats(-3, 3), min_size=1, max_size=6))
def test_jacobian_of_elementwise_is_diagonal_of_gradient(values: list[float]) -> None:
    data = np.array(values)
    jac = _JAC(data)
    np.testing.assert_allclose(jac, np.diag(1 - np.tanh(data) ** 2), atol=1e-12)


_JX = T.dvector("x")
_JAC = function([_JX], T.jacobian(T.tanh(_JX), _JX))


def test_package_exports() -> None:
    assert tracegrad.function is function and tracegrad.pp is pp
    assert tracegrad.tensor is T
