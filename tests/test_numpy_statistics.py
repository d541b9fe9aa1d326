"""numpy's NaN-ignoring reductions and small statistics under jit and grad (issue #15,
reductions and statistics list): values against numpy, gradients against finite differences
and, with NaNs in the input, exactly 0 on the NaNs and finite elsewhere."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest

import tracegrad
from tracegrad.testing import check_grads

RNG = np.random.default_rng(0)
WITH_NAN = RNG.standard_normal((4, 5))
WITH_NAN[0, 1] = np.nan
WITH_NAN[2, :] = np.nan  # an all-NaN row: numpy gives NaN (and warns)
PLAIN = RNG.standard_normal((4, 5))

NAN_CASES: dict[str, Callable] = {
    "nansum": lambda a: np.nansum(a), "nansum_axis": lambda a: np.nansum(a, axis=1),
    "nanmean": lambda a: np.nanmean(a, axis=1), "nanmean_all": lambda a: np.nanmean(a),
    "nanmax": lambda a: np.nanmax(a, axis=1),
    "nanmin_keepdims": lambda a: np.nanmin(a, 0, keepdims=True),
    "nanvar": lambda a: np.nanvar(a, 1), "nanstd_ddof": lambda a: np.nanstd(a, 1, ddof=1),
}  # fmt: skip
CASES: dict[str, Callable] = {
    "ptp": lambda a: np.ptp(a, 1), "count_nonzero": lambda a: np.count_nonzero(a > 0, axis=0),
    "average_weights": lambda a: np.average(a, axis=1, weights=np.arange(1.0, 6.0)),
    "average_returned": lambda a: np.average(a, axis=0, returned=True),
    "cov": lambda a: np.cov(a), "cov_columns": lambda a: np.cov(a, rowvar=False),
    "cov_vector": lambda a: np.cov(a[0]), "cov_xy": lambda a: np.cov(a[0], a[1]),
    "cov_bias": lambda a: np.cov(a, bias=True), "corrcoef": lambda a: np.corrcoef(a),
    "corrcoef_xy": lambda a: np.corrcoef(a[0], a[1]),
}  # fmt: skip


def _leaves(x: object) -> list[np.ndarray]:
    return [np.asarray(v) for v in (x if isinstance(x, tuple) else (x,))]


def _same(f: Callable, x: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = _leaves(f(x))
    got = _leaves(tracegrad.jit(f)(x))
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15, equal_nan=True)


@pytest.mark.parametrize("name", list(NAN_CASES))
def test_nan_reductions_equal_numpy(name: str) -> None:
    _same(NAN_CASES[name], WITH_NAN)
    _same(NAN_CASES[name], PLAIN)


@pytest.mark.parametrize("name", list(CASES))
def test_statistics_equal_numpy(name: str) -> None:
    _same(CASES[name], PLAIN)


@pytest.mark.parametrize("name", [n for n in {**NAN_CASES, **CASES} if n != "count_nonzero"])
def test_gradients_match_finite_differences(name: str) -> None:
    f = {**NAN_CASES, **CASES}[name]
    check_grads(
        lambda a: sum(np.sum(out) for out in _leaves_traced(f(a))),
        (PLAIN,),
        order=1,
        modes=("rev",),
    )


def _leaves_traced(x: object) -> list:
    return list(x) if isinstance(x, tuple) else [x]


@pytest.mark.parametrize("name", ["nansum", "nanmean", "nanvar"])
def test_gradient_is_zero_on_nans_and_finite_elsewhere(name: str) -> None:
    x = WITH_NAN[:2]  # no all-NaN row: every output is finite
    g = tracegrad.grad(lambda a: np.sum(NAN_CASES[name](a)))(x)
    assert g[0, 1] == 0.0 and np.isfinite(g).all()
    masked = np.where(np.isnan(x), 0.0, x)
    keep = ~np.isnan(x)
    if name == "nansum":
        np.testing.assert_array_equal(g, keep.astype(float))
    elif name == "nanmean":
        np.testing.assert_allclose(g, keep / keep.sum(1, keepdims=True), rtol=1e-14)
    else:
        mean = masked.sum(1, keepdims=True) / keep.sum(1, keepdims=True)
        np.testing.assert_allclose(
            g, keep * 2 * (masked - mean) / keep.sum(1, keepdims=True), rtol=1e-12
        )
