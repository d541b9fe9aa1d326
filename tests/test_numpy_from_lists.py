"""numpy building arrays from traced values (issue #15): ``np.array([x, y])``,
``np.asarray(x)``, ``np.sum([x, y])``, nested lists mixing constants and traced values,
``np.r_``/``np.c_``; values and dtypes equal to eager numpy's, gradients against finite
differences; the swap of numpy's functions is confined to traces (other threads see numpy's)
and undone after them (tracegrad/numpy/lists.py)."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
from numpy import array as bound_array  # bound before any trace: swapped while tracing

import tracegrad
from tracegrad.errors import ConcretizationError
from tracegrad.numpy import lists
from tracegrad.testing import check_grads

C = np.array([0.5, -1.5, 2.0])
V = np.array([0.3, -0.7, 1.1])

CASES = {
    "array_1d": (lambda x: np.array([x, x * 1.0, x + 2.5]), (1.3,)),
    "array_2d": (lambda x: np.array([[x, x * 1.0, x + 2.5], [x**2, x, x / 2.0]]), (1.3,)),
    "nested_mixed": (lambda x, y: np.array([[x, 1], [np.float64(2.0), y * x]]), (1.3, -0.4)),
    "array_of_arrays": (lambda v: np.array([v, 2 * v, C]), (V,)),
    "array_scalar": (lambda x: np.array(x) * 3.0, (1.3,)),
    "asarray": (lambda x: np.asarray(x) ** 2, (1.3,)),
    "asanyarray_list": (lambda x: np.asanyarray([x, 2.0]) * x, (1.3,)),
    "ascontiguousarray_0d": (lambda x: np.ascontiguousarray(x) + 1.0, (1.3,)),
    "ndmin": (lambda x: np.array(x, ndmin=2) * C, (1.3,)),
    "dtype_arg": (lambda x: np.array([x, 1], dtype=np.float32), (1.3,)),
    "sum_list": (lambda x, y: np.sum([x, y, 1.0]), (1.3, -0.4)),
    "mean_list": (lambda x: np.mean([x, x + 2]), (1.3,)),
    "std_list": (lambda x, y: np.std([x, y * 2]), (1.3, -0.4)),
    "var_list": (lambda x, y: np.var([[x, y], [1.0, x * y]], axis=0), (1.3, -0.4)),
    "prod_tuple": (lambda x, y: np.prod((x, y, 3.0)), (1.5, -0.25)),  # exact products
    "concatenate_nested": (lambda x, y: np.concatenate([[x, 1.0], [y]]), (1.3, -0.4)),
    "linalg_det": (lambda x, y: np.linalg.det([[x, 1.0], [2.0, y]]), (1.3, -0.4)),
    "max_ties": (lambda x: np.max(np.array([x, x])), (1.0,)),
    "max_ties_2d": (lambda x: np.max(np.array([[x, x], [x, 0.5]]), axis=1), (1.0,)),
    "min_3_way": (lambda x: np.min(np.array([[x, x, x], [x, 0.5, 0.5]]), axis=0), (-1.0,)),
    "maximum_built": (lambda x: np.maximum(np.array([x, x, 0.5]), np.array([[x, 0.5, x]])), (2.0,)),
    "r_": (lambda v: np.r_[v, C, v[0]], (V,)),
    "r_slice": (lambda v: np.r_[v, C, 1:4], (V,)),
    "c_": (lambda v: np.c_[v, C, v], (V,)),
    "bound_name": (lambda x: bound_array([x, 2.0]) * x, (1.3,)),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_equal_numpys(name: str) -> None:
    f, args = CASES[name]
    got, expected = tracegrad.jit(f)(*args), f(*args)
    np.testing.assert_array_equal(got, expected)
    assert np.asarray(got).dtype == np.asarray(expected).dtype


@pytest.mark.parametrize("name", sorted(set(CASES) - {"dtype_arg"}))  # float32: too coarse for FD
def test_gradients_match_finite_differences(name: str) -> None:
    f, args = CASES[name]
    args = tuple(np.float64(a) if isinstance(a, float) else a for a in args)
    order = 1 if name.startswith(("max", "min")) else 2  # ties: only first derivatives exist
    check_grads(f, args, order=order, modes=("rev", "fwd"))


def test_tied_maxima_share_the_gradient() -> None:
    """autograd's convention, as tracegrad's max takes it for arrays: equal shares."""
    g = tracegrad.grad(lambda x, y: np.max(np.array([x, y, y])), argnums=(0, 1))(1.0, 1.0)
    assert [float(v) for v in g] == pytest.approx([1 / 3, 2 / 3])


def test_jacobian_of_a_built_vector() -> None:
    jac = tracegrad.jacobian(lambda x: np.array([x, x**2, x**3]))(2.0)
    np.testing.assert_allclose(jac, [1.0, 4.0, 12.0])
    funs = [np.sin, np.cos, np.tanh]
    jac = tracegrad.jacobian(lambda v: np.array([f(v) for f in funs]))(V)
    derivatives = (np.cos(V), -np.sin(V), 1 - np.tanh(V) ** 2)
    np.testing.assert_allclose(jac, np.stack([np.diag(d) for d in derivatives]))


DTYPE_ARGS = [
    (np.float64(1.5), 2), (np.float32(1.5), 2.0), (np.float32(1.5), np.float32(2.0)),
    (np.int64(3), 2), (np.int64(3), 2.5), (np.int32(3), 2), (np.int8(3), np.int8(2)),
    (np.bool_(True), 2), (np.bool_(True), False), (np.bool_(True), np.float32(2.0)),
    (np.uint8(3), np.int8(-2)), (1.5, 2), (1.5, np.float32(2.0)), (1.5, True),  # weak floats
]  # fmt: skip


@pytest.mark.parametrize("x, c", DTYPE_ARGS, ids=[f"{type(x).__name__}-{c}" for x, c in DTYPE_ARGS])
def test_dtypes_are_numpys(x: object, c: object) -> None:
    """NEP 50 as numpy applies it to a list: Python scalars in it are int64/float64/bool."""
    for f in (lambda x: np.array([x, c]), lambda x: np.array([[c], [x]]),
              lambda x: np.asarray([c, x, c]), lambda x: np.sum([x, c])):  # fmt: skip
        got, expected = tracegrad.jit(f)(x), f(x)
        np.testing.assert_array_equal(got, expected)
        assert np.asarray(got).dtype == np.asarray(expected).dtype, (x, c)


def test_zero_d_and_empty() -> None:
    f = lambda x: (np.array(x), np.array([[x]])[:, :0], np.sum([]) + np.sum([x]))  # noqa: E731
    for got, expected in zip(tracegrad.jit(f)(np.array(1.5)), f(np.array(1.5)), strict=True):
        np.testing.assert_array_equal(got, expected)
        assert got.shape == expected.shape and got.dtype == expected.dtype


@pytest.mark.filterwarnings("ignore::tracegrad.InPlaceArgumentWarning")
def test_array_copies_and_asarray_aliases() -> None:
    """np.array(x) is a new array (writing to it leaves x); np.asarray(x) is x."""

    def f(x):
        a, b = np.array(x), np.asarray(x)
        a[0] = 10.0
        b[1] = 20.0
        return x, a

    for got, expected in zip(tracegrad.jit(f)(V), f(V.copy()), strict=True):
        np.testing.assert_array_equal(got, expected)


def _all_numpys() -> bool:
    return all(getattr(m, n) is original for m, n, original, _ in lists.SWAPS)


def test_swapped_only_while_tracing_and_restored_after_failure() -> None:
    seen = []

    def f(x):
        seen.append(np.array is not lists.SWAPS[0][2] and bound_array is np.array)
        return bound_array([x, 1.0])

    def failing(x):
        f(x)
        raise KeyError("fails while tracing")

    assert _all_numpys()
    np.testing.assert_array_equal(tracegrad.jit(f)(1.5), [1.5, 1.0])
    assert _all_numpys() and bound_array is lists.SWAPS[0][2]
    with pytest.raises(KeyError, match="fails while tracing"):
        tracegrad.grad(failing)(1.0)
    assert _all_numpys() and bound_array is lists.SWAPS[0][2] and seen == [True, True]


def test_other_threads_get_numpys_results() -> None:
    """While one thread traces, a thread that is not tracing calls numpy unchanged."""
    started, done = threading.Event(), threading.Event()
    results: list = []

    def other() -> None:
        started.wait(10)
        results.append((np.array([1, 2]), np.sum([1.0, 2.0]), np.r_[1, 2], np.asarray(3)))
        done.set()

    def f(x):
        started.set()
        done.wait(10)
        return np.array([x, x * 2])

    worker = threading.Thread(target=other)
    worker.start()
    np.testing.assert_array_equal(tracegrad.jit(f)(1.5), [1.5, 3.0])
    worker.join()
    ((a, s, r, z),) = results
    assert type(a) is np.ndarray and a.dtype == np.int64 and a.tolist() == [1, 2]
    assert s == 3.0 and r.tolist() == [1, 2] and type(z) is np.ndarray and z.shape == ()


def test_numpys_own_code_sees_numpys_functions() -> None:
    """np.histogram (not implemented by tracegrad) calls np.asarray on the list inside numpy:
    that call is numpy's, so the error is the ConcretizationError it was, naming the line."""
    built = []

    def f(x, y):
        built.append(np.array([x, y]))
        return np.histogram([x, y])[0]

    with pytest.raises(ConcretizationError, match="np.histogram"):
        tracegrad.jit(f)(0.3, 0.7)
    assert len(built) == 1 and built[0].shape == (2,)


def test_stand_ins_look_like_numpys() -> None:
    """Name, doc and __wrapped__ are numpy's; pickled while tracing, a stand-in is numpy's
    name (numpy.sum) and a new RClass for r_."""
    for _, name, original, stand_in in lists.SWAPS:
        if callable(original):
            assert stand_in.__wrapped__ is original and stand_in.__name__ == name
        assert stand_in.__doc__ == original.__doc__
    copies = []

    def f(x):
        copies.append(pickle.loads(pickle.dumps((np.sum, np.r_, np.linalg.det))))
        return np.sum([x, x])

    assert tracegrad.jit(f)(1.5) == 3.0
    ((total, r_, det),) = copies
    assert total.__wrapped__ is np.sum and det.__wrapped__ is np.linalg.det  # the stand-ins
    assert type(r_) is type(np.r_)
    assert r_[1:3].tolist() == [1, 2]
