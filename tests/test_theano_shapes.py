"""Theano's symbolic shapes (issue #17 item 1): ``x.shape[k]`` is a symbolic int64 scalar
usable in arithmetic and as a length, ``x.size`` a symbolic count, ``x.ndim`` an int."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad.tensor as T  # noqa: N812
from tracegrad import function
from tracegrad.errors import DTypeError, UnsupportedError
from tracegrad.ir.dtypes import DType


def test_shape_entries_are_symbolic_ints_with_the_call_time_lengths() -> None:
    x = T.dmatrix("x")
    f = function([x], [x.shape[0], x.shape[1], x.size, x.shape[0] * 2 + 1])
    a, b, size, twice = f(np.ones((3, 5)))
    assert (a, b, size, twice) == (3, 5, 15, 7)
    assert a.dtype == np.int64 and a.shape == ()
    assert x.ndim == 2 and len(x.shape) == 2
    assert repr(x.shape[1]) == f"<length of dim {x.value.shape[1].name}>"  # x.1, or x#2.1...
    assert function([x], x.shape)(np.ones((4, 2))) == [4, 2]
    r = T.drow("r")  # static lengths stay ints
    assert r.shape[0] == 1 and isinstance(r.shape[0], int)
    assert T.TensorType("float64", (True, True))("c").size == 1


def test_cost_divided_by_the_batch_length_and_its_gradient() -> None:
    x, y = T.dmatrix("x"), T.dvector("y")
    w = T.dvector("w")
    p = T.nnet.sigmoid(T.dot(x, w))
    xent = -y * T.log(p) - (1 - y) * T.log(1 - p)
    cost = xent.sum() / x.shape[0]
    f = function([x, y, w], [cost, T.grad(cost, w)])
    rng = np.random.default_rng(0)
    xv, yv, wv = rng.normal(size=(7, 3)), rng.integers(0, 2, 7).astype(float), rng.normal(size=3)
    pv = 1 / (1 + np.exp(-xv @ wv))
    expected = np.mean(-yv * np.log(pv) - (1 - yv) * np.log(1 - pv))
    value, grad = f(xv, yv, wv)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(grad, xv.T @ (pv - yv) / 7, rtol=1e-10)


def test_arange_of_a_symbolic_length() -> None:
    x = T.dvector("x")
    f = function([x], [T.arange(x.shape[0]), x * T.arange(0, x.shape[0], 1, dtype="float64")])
    idx, weighted = f(np.full(5, 2.0))
    np.testing.assert_array_equal(idx, np.arange(5))
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(weighted, 2.0 * np.arange(5.0))
    with pytest.raises(UnsupportedError, match="arange"):
        T.arange(1, x.shape[0])


def test_lengths_as_shapes_of_new_arrays_and_reshapes() -> None:
    x = T.dmatrix("x")
    f = function([x], [T.zeros((x.shape[1],)), T.ones((x.shape[0], 1), dtype="int32")])
    z, o = f(np.ones((2, 3)))
    np.testing.assert_array_equal(z, np.zeros(3))
    assert o.shape == (2, 1) and o.dtype == np.int32
    v = T.dvector("v")
    column = function([v], v.reshape((v.shape[0], 1)))(np.arange(3.0))
    np.testing.assert_array_equal(column, np.arange(3.0)[:, None])
    row = function([v], T.reshape(v, (1, v.shape[0]), ndim=2))(np.arange(3.0))
    np.testing.assert_array_equal(row, np.arange(3.0)[None, :])


def test_a_reshape_swapping_symbolic_lengths_is_refused() -> None:
    x = T.dmatrix("x")
    with pytest.raises(UnsupportedError, match="length-1 axes"):
        x.reshape((x.shape[1], x.shape[0]))
    with pytest.raises(TypeError, match="symbolic length"):
        x.reshape((x.sum(), 1))


def test_the_b_family_is_int8_or_names_the_missing_dtype() -> None:
    if any(d.numpy == np.dtype("int8") for d in DType):  # once the IR has int8
        a, b = T.bmatrices("a", "b")
        assert T.bscalar("b").dtype == np.int8 and a.dtype == np.int8
        return
    with pytest.raises(DTypeError, match="int8"):
        T.bscalar("b")
    with pytest.raises(DTypeError, match="int8"):
        T.bmatrices("a", "b")


def test_constructor_families_and_plurals() -> None:
    a, b = T.dmatrices("a", "b")
    assert (a.name, b.name, a.ndim, a.dtype) == ("a", "b", 2, np.float64)
    assert T.ltensor4("t").ndim == 4 and T.ftensor4().dtype == np.float32
    assert [s.dtype for s in T.iscalars(2)] == [np.int32, np.int32]
    assert T.vector("v", dtype="int64").dtype == np.int64


def test_typed_constructors_are_theano_types() -> None:
    x = T.dscalar("x")
    assert x.type is T.dscalar and repr(T.dscalar) == "TensorType(float64, scalar)"
    assert T.TensorType("float64", ()) is T.dscalar
    assert repr(T.fmatrix) == "TensorType(float32, matrix)"
    assert (
        repr(T.lcol) == "TensorType(int64, col)" and repr(T.dtensor3) == "TensorType(float64, 3D)"
    )
    assert repr(T.TensorType("int32", (True, False, True))) == (
        "TensorType(int32, (True, False, True))"
    )
    assert T.matrix("m", dtype="float32").type is T.fmatrix
