"""interp, searchsorted, select, piecewise, r_/c_, einsum with diagonals and ellipsis, outer
and swapaxes under jit and grad (issue #15 item 1, structure list): values against numpy
(bitwise: each is exact or numpy's own formula), a size-0 and a 0-d case, and gradients against
finite differences (``interp`` in ``x``, ``xp`` and ``fp``)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest

import tracegrad
import tracegrad.numpy as tnp
from tracegrad.errors import ConcretizationError, UnsupportedError
from tracegrad.testing import check_grads

RNG = np.random.default_rng(3)
XP = np.array([-1.0, 0.0, 0.5, 0.5, 2.0, 3.5])  # a repeated point: a jump
FP = np.array([1.0, -2.0, 0.5, 4.0, 3.0, -1.0])
X = np.array([-3.0, -1.0, -0.25, 0.0, 0.3, 0.5, 1.0, 2.0, 3.0, 3.5, 9.0, np.nan, np.inf, -np.inf])
MATS = RNG.standard_normal((2, 3, 3))
VEC = RNG.standard_normal(6)
HOLDER = SimpleNamespace(c_=np.c_)  # numpy's c_ out of the reach of tracing's swap

CASES: dict[str, tuple[Callable, tuple]] = {
    "interp": (lambda x: np.interp(x, XP, FP), (X,)),
    "interp_left_right": (lambda x: np.interp(x, XP, FP, left=-7.0, right=8.5), (X,)),
    "interp_period": (lambda x: np.interp(x, XP[[0, 1, 2, 4, 5]] * 3, FP[:5], period=4.0), (X,)),
    "interp_one_point": (lambda x: np.interp(x, [1.0], [2.0]), (X,)),
    "interp_traced_xp_fp": (lambda xp, fp: np.interp(X, xp, fp), (XP, FP)),
    "interp_ints": (lambda x: np.interp(x, np.arange(4), [0, 3, 1, 2]), (np.arange(-1, 5),)),
    "searchsorted": (lambda x: np.searchsorted(XP, x), (X,)),
    "searchsorted_right": (lambda x: np.searchsorted(XP, x, side="right"), (X,)),
    "select": (lambda x: np.select([x < 0, x > 1], [-x, x**2], 7.0), (X,)),
    "select_f32_weak_default": (lambda x: np.select([x > 0], [x.astype(np.float32)], 1.5), (X,)),
    "select_strong_default": (lambda x: np.select([x > 0], [x], np.float32(2)), (X,)),
    "piecewise": (lambda x: np.piecewise(x, [x < 0, x >= 0], [lambda v: -v, np.exp]), (X,)),
    "piecewise_default": (lambda x: np.piecewise(x, [x < 0, x > 2], [np.sin, 5.0, np.cos]), (X,)),
    "piecewise_ints": (lambda x: np.piecewise(x, [x > 1], [lambda v: v * 3]), (np.arange(-2, 4),)),
    "r_": (lambda x: tnp.r_[x, 2 * x, 0:3, 7.0], (VEC,)),
    "r_directive": (lambda x: tnp.r_["0,2", x, x], (VEC,)),
    "r_trans1d": (lambda x: tnp.r_["-1,2,0", x, x], (VEC,)),
    "c_": (lambda x: tnp.c_[x, x * 3, x[::-1]], (VEC,)),
    "c_matrices": (lambda m: tnp.c_[m[0], m[1]], (MATS,)),
    "einsum_diag": (lambda m: np.einsum("ii->i", m[0]), (MATS,)),
    "einsum_trace": (lambda m: np.einsum("ii", m[0]), (MATS,)),
    "einsum_batch_diag": (lambda m: np.einsum("bii->bi", m), (MATS,)),
    "einsum_ellipsis": (lambda m: np.einsum("...ij,...jk->...ik", m, m[0]), (MATS,)),
    "einsum_ellipsis_implicit": (lambda m: np.einsum("...ij,...jk", m, m), (MATS,)),
    "einsum_ellipsis_diag": (lambda m: np.einsum("...ii->...i", m), (MATS,)),
    "einsum_mixed": (lambda m: np.einsum("iji->j", m.transpose(1, 0, 2)[:, :2]), (MATS,)),
    "outer_stacks": (lambda m, v: np.outer(m, v), (MATS, VEC)),
    "swapaxes": (lambda m: np.swapaxes(m, 0, 2), (MATS,)),
}
BITWISE = {n for n in CASES if not n.startswith("einsum") and n != "piecewise_default"}


@pytest.mark.parametrize("name", list(CASES))
def test_values_equal_numpy(name: str) -> None:
    f, args = CASES[name]
    with np.errstate(all="ignore"):
        want = np.asarray(f(*args))
        got = np.asarray(tracegrad.jit(f)(*args))
    assert got.dtype == want.dtype and got.shape == want.shape
    if name in BITWISE:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


SMOOTH = np.array([-0.7, -0.3, 0.2, 0.8, 1.4, 2.6, 3.1])  # away from XP's points and jump


GRADS: dict[str, tuple[Callable, tuple]] = {
    "interp_x": (lambda x: np.interp(x, XP, FP), (SMOOTH,)),
    "interp_x_left_right": (lambda x: np.interp(x * 3, XP, FP, left=-7.0, right=8.5), (SMOOTH,)),
    "interp_xp_fp": (lambda xp, fp: np.interp(SMOOTH, xp, fp), (XP + [0, 0, 0, 0.1, 0, 0], FP)),
    "interp_period": (lambda x: np.interp(x, [0, 1, 2.5], [1.0, 3.0, 2.0], period=3), (SMOOTH,)),
    "select": (lambda x: np.select([x < 0, x > 1], [-x, x**2], 7.0), (SMOOTH,)),
    "piecewise": (lambda x: np.piecewise(x, [x < 0], [np.sin, lambda v: v**3]), (SMOOTH,)),
    "r_c_": (lambda x: tnp.r_[x, 2 * x, 1.0] + tnp.c_[x, x].sum() , (VEC,)),
    "einsum_diag": (lambda m: np.einsum("bii->bi", m) ** 2, (MATS,)),
    "einsum_ellipsis": (lambda m: np.einsum("...ij,...jk->...ik", m, m), (MATS,)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(GRADS))
def test_gradients_match_finite_differences(name: str) -> None:
    f, args = GRADS[name]
    check_grads(lambda *a: np.sum(f(*a) ** 2), args, order=2, modes=("rev",))


def test_interp_gradient_is_the_slope() -> None:
    g = tracegrad.grad(lambda x: np.sum(np.interp(x, XP, FP)))(np.array([-0.5, 1.0, 5.0]))
    np.testing.assert_array_equal(g, [-3.0, -1.0 / 1.5, 0.0])  # outside: constant right


def test_size_zero_and_zero_d() -> None:
    for f, arg in [
        (lambda x: np.interp(x, XP, FP), np.zeros(0)),
        (lambda x: np.interp(x, XP, FP), np.array(0.25)),
        (lambda x: np.select([x > 0], [x]), np.zeros((0, 2))),
        (lambda x: np.select([x > 0], [x]), np.array(-1.0)),
        (lambda x: np.piecewise(x, [x > 0], [lambda v: v + 1]), np.zeros(0)),
        (lambda x: np.piecewise(x, [x > 0], [lambda v: v + 1]), np.array(2.0)),
        (lambda x: np.searchsorted(XP, x), np.array(0.5)),
        (lambda x: np.einsum("ii", x), np.zeros((0, 0))),
        (lambda x: np.einsum("...ii->...i", x), np.zeros((0, 2, 2))),
    ]:
        want = np.asarray(f(arg))
        got = np.asarray(tracegrad.jit(f)(arg))
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert tracegrad.jit(lambda x: tnp.r_[x, 1.0])(np.array(2.0)).tolist() == [2.0, 1.0]
    assert tracegrad.jit(lambda x: tnp.c_[x, x])(np.zeros(0)).shape == (0, 2)


def test_clear_errors() -> None:
    with pytest.raises(ValueError, match="same length"):
        tracegrad.jit(lambda x: np.interp(x, XP, FP[:3]))(X)
    with pytest.raises(ValueError, match="empty"):
        tracegrad.jit(lambda x: np.interp(x, [], []))(X)
    with pytest.raises(TypeError, match="should be boolean"):
        tracegrad.jit(lambda x: np.select([x], [x]))(X)
    with pytest.raises(ValueError, match="functions are expected"):
        tracegrad.jit(lambda x: np.piecewise(x, [x > 0], [1, 2, 3]))(X)
    with pytest.raises(UnsupportedError, match="matrix"):
        tracegrad.jit(lambda x: tnp.r_["r", x])(X)
    # numpy's own np.c_ kept where the swap while tracing cannot reach it (an object's
    # attribute; tracegrad/numpy/lists.py) makes numpy arrays of its items: a clear error
    with pytest.raises(ConcretizationError, match="tracegrad.numpy"):
        tracegrad.jit(lambda x: HOLDER.c_[x, x])(VEC)


def test_eager_and_numpy_dispatch_of_searchsorted_sorter() -> None:
    order = np.argsort(FP, kind="stable")
    want = np.searchsorted(FP, [0.0, 2.0], sorter=order)
    np.testing.assert_array_equal(tnp.searchsorted(FP, [0.0, 2.0], sorter=order), want)
    got = tracegrad.jit(lambda f: np.searchsorted(f, np.array([0.0, 2.0]), sorter=order))(FP)
    np.testing.assert_array_equal(got, want)
