"""Writes through views reach the base and writes to the base reach its views, as numpy's
shared memory does (issue #14 item 6); what cannot be replayed raises naming the line."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracegrad
from tracegrad.errors import UnsupportedError


def slice_write(x):
    v = x[1:]
    v[0] = 100.0
    return x


def base_write_seen_by_view(x):
    v = x[1:]
    x[1] = 7.0
    return v


def view_of_view(x):
    v = x[1:]
    w = v[::2]
    w[1] = -5.0
    x[0] += 1.0
    return x, v, w


def augmented_through_column(x):
    c = x[:, 1]
    c += 10.0
    return x


def rows_in_a_loop(x):
    for i in range(x.shape[0]):
        row = x[i]
        row *= i + 1.0
    return x


def transpose_write(x):
    t = x.T
    t[0, 1] = 9.0
    u = np.transpose(x)
    x[1, 2] = -1.0
    return x, t, u


def reshape_and_ravel(x):
    r = x.reshape(-1)
    r[3] = 4.0
    f = x.ravel()
    x[0, 0] += 1.0
    return x, r, f


def reshape_of_transpose_is_a_copy(x):
    r = x.T.reshape(-1)  # numpy copies here
    r[0] = 50.0
    return x, r


def split_and_squeeze(x):
    a, b = np.split(x, 2)
    a[0] = 5.0
    s = np.squeeze(b[None])
    s[-1] = 6.0
    return x, a, b


def ellipsis_and_newaxis(x):
    e = x[...]
    e[0, 0] = 3.0
    n = x[None, 1]
    n[0, 0] = 4.0
    return x, e, n


def copies_stay_apart(x):
    c = x[[0, 1]]
    c[0] = 100.0
    f = x.flatten()
    f[1] = 200.0
    m = x[x.shape[0] - 1].copy()
    m[0] = 300.0
    return x, c, f, m


def rebinding_to_a_view_in_a_loop(x):
    for i in range(x.shape[0] - 1):
        x = x[1:]
        x[0] = -float(i)
    return x


def scalar_is_not_a_view(x):
    a = x[0, 0]
    x[0, 0] = a * 2.0
    return x, a


CASES = [
    (slice_write, (5,)),
    (base_write_seen_by_view, (5,)),
    (view_of_view, (6,)),
    (augmented_through_column, (3, 4)),
    (rows_in_a_loop, (3, 4)),
    (transpose_write, (2, 3)),
    (reshape_and_ravel, (2, 3)),
    (reshape_of_transpose_is_a_copy, (2, 3)),
    (split_and_squeeze, (4, 3)),
    (ellipsis_and_newaxis, (2, 3)),
    (copies_stay_apart, (2, 3)),
    (scalar_is_not_a_view, (2, 3)),
    (rebinding_to_a_view_in_a_loop, (40,)),
]


@pytest.mark.parametrize(("fun", "shape"), CASES, ids=[c[0].__name__ for c in CASES])
def test_jit_matches_numpy(fun, shape):
    def on_a_copy(x):
        return fun(x * 1.0)  # not the argument itself (that would warn)

    x = np.arange(float(np.prod(shape))).reshape(shape)
    expected = on_a_copy(x.copy())
    got = tracegrad.jit(on_a_copy)(x)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = got if isinstance(got, tuple) else (got,)
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(g, e)


def loss(x):
    y = x * 1.0
    v = y[1:]
    v[0] = v[0] * 3.0  # y[1] tripled through the view
    t = y.reshape(2, 2).T
    t[1, 1] = t[1, 1] ** 2  # y[3] squared through a view of a view
    return np.sum(y**2)


def test_grad_through_view_writes_matches_finite_differences():
    x = np.array([0.5, -1.0, 2.0, 1.5])
    expected = 2 * x * np.array([1.0, 9.0, 1.0, 2 * x[3] ** 2])  # d/dx of x^2, 9x^2, x^4
    np.testing.assert_allclose(tracegrad.grad(loss)(x), expected, rtol=1e-14)
    eps = 1e-6
    fd = [(loss(x + eps * e) - loss(x - eps * e)) / (2 * eps) for e in np.eye(4)]
    np.testing.assert_allclose(tracegrad.grad(loss)(x), fd, rtol=1e-6)


def test_write_through_a_view_of_an_argument_warns_like_a_direct_write():
    def f(x):
        v = x[1:]
        v[0] = 3.0
        return x

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = tracegrad.jit(f)(np.ones(3))
    assert out.tolist() == [1.0, 3.0, 1.0]
    assert [w.category.__name__ for w in caught] == ["InPlaceArgumentWarning"]


def test_read_only_views_refuse_writes_as_numpy_does():
    def f(x):
        b = np.broadcast_to(x, (2, 3))
        b[0, 0] = 1.0
        return b

    with pytest.raises(ValueError, match="read-only"):
        f(np.zeros(3))
    with pytest.raises(ValueError, match="read-only"):
        tracegrad.jit(f)(np.zeros(3))


def test_row_by_a_traced_index_is_a_view():
    def f(x, i):
        x = x * 1.0
        row = x[i]
        row[1] = 5.0  # numpy: x changes
        other = x[i + 1]
        x[i + 1, 0] = -1.0  # numpy: other sees it
        tail = other[1:]
        tail += 100.0  # a view of that row: x and other change
        return x, row, other, tail

    x = np.arange(9.0).reshape(3, 3)
    for i in (np.int64(0), np.int64(1)):
        for e, g in zip(f(x, i), tracegrad.jit(f)(x, i), strict=True):
            np.testing.assert_array_equal(g, e)


def test_unreplayable_view_write_raises_naming_the_line():
    def f(x, i):
        x = x * 1.0
        t = x[i].reshape(1, -1)  # a view of a row at a traced position
        t[0, 0] = 5.0  # the line the error names
        return x

    x = np.arange(6.0).reshape(2, 3)
    with pytest.raises(UnsupportedError, match=r"t\[0, 0\] = 5.0  # the line the error names"):
        tracegrad.jit(f)(x, np.int64(1))
    # a Python int index is specialized on instead (tracegrad.specialize): exact
    np.testing.assert_array_equal(tracegrad.jit(f)(x, 1), f(x, 1))
