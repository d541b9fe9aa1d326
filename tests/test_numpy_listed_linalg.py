"""Issue #15 target, first half: one row per function of the bullets "linear algebra", "sorting
and order statistics" and "reductions and statistics" (value, gradient, 0-d and size-0 cases;
the harness is tests/numpy_listed_harness.py, the other bullets tests/test_numpy_listed_more.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy_listed_harness import LISTED, Row, covered, params, run_case

import tracegrad

BULLETS = ("linear algebra", "sorting and order statistics", "reductions and statistics")

RNG = np.random.default_rng(15)
M = RNG.standard_normal((3, 3)) + 3 * np.eye(3)  # well conditioned, distinct singular values
SPD = M @ M.T + np.eye(3)  # distinct eigenvalues: eigh's gradient is defined
B = RNG.standard_normal((3, 2))
TALL = RNG.standard_normal((4, 3))
X = RNG.standard_normal((3, 4))  # distinct values: sorting has no ties
V = RNG.standard_normal(4)
STACK = RNG.standard_normal((2, 3, 3))
NAN = X.copy()
NAN[0, 1] = NAN[2, 3] = np.nan
POS = np.abs(X) + 0.5
S0 = np.array(1.5)  # the 0-d input
E0 = np.zeros((0, 0))
E2 = np.zeros((0, 3))
E1 = np.zeros(0)
INT = "integer output"
BOOL = "boolean output"
# numpy reads one triangle (finite differences see a lower-triangular gradient); tracegrad
# returns the symmetric one, as JAX does: the gradient is checked on a symmetric input (:sym)
SYM = "gradient convention: symmetric (JAX's), checked in the :sym row"
ROW_EIGH = "the eigh row checks this case (through tuple(...))"
NANLOSS = "NaN inputs make the finite-difference loss NaN"

ROWS = [
    # linear algebra: numpy raises LinAlgError on 0-d; the 0-d cases check tracegrad does too
    Row("cholesky", lambda a: np.linalg.cholesky(a), (SPD,), (S0,), (E0,), SYM),
    Row("cholesky:sym", lambda a: np.linalg.cholesky(a + a.T), (SPD,), (S0,), (E0,)),
    Row("solve", lambda a, b: np.linalg.solve(a, b), (M, B), (S0, S0), (E0, np.zeros((0, 2)))),
    Row("inv", lambda a: np.linalg.inv(a), (M,), (S0,), (E0,)),
    Row("det", lambda a: np.linalg.det(a), (M,), (S0,), (E0,)),
    Row("slogdet", lambda a: tuple(np.linalg.slogdet(a)), (M,), (S0,), (E0,)),
    Row("eigh", lambda a: tuple(np.linalg.eigh(a)), (SPD,), (S0,), (E0,), SYM),
    Row("eigh:result", lambda a: np.linalg.eigh(a), (SPD,), ROW_EIGH, ROW_EIGH, ROW_EIGH),
    Row("eigh:sym", lambda a: tuple(np.linalg.eigh(a + a.T)), (SPD,), (S0,), (E0,)),
    Row("eigvalsh", lambda a: np.linalg.eigvalsh(a), (SPD,), (S0,), (E0,), SYM),
    Row("eigvalsh:sym", lambda a: np.linalg.eigvalsh(a + a.T), (SPD,), (S0,), (E0,)),
    Row("qr", lambda a: tuple(np.linalg.qr(a)), (TALL,), (S0,), (E2.T,)),
    Row("svd", lambda a: tuple(np.linalg.svd(a, full_matrices=False)), (TALL,), (S0,), (E2,)),
    Row("svd:full", lambda a: tuple(np.linalg.svd(a)), (M,), (S0,), (E0,)),
    Row(
        "lstsq",
        lambda a, b: tuple(np.linalg.lstsq(a, b, rcond=None)),
        (TALL, RNG.standard_normal(4)),
        (S0, S0),
        (np.zeros((0, 3)), E1),
    ),
    Row("pinv", lambda a: np.linalg.pinv(a), (TALL,), (S0,), (E2,)),
    Row("matrix_power", lambda a: np.linalg.matrix_power(a, 3), (M,), (S0,), (E0,)),
    Row("matrix_power:inverse", lambda a: np.linalg.matrix_power(a, -2), (M,), (S0,), (E0,)),
    Row(
        "multi_dot",
        lambda a, b, c: np.linalg.multi_dot([a, b, c]),
        (TALL, M, B),
        (S0, S0, S0),
        (E2, np.zeros((3, 3)), B),
    ),
    Row("trace", lambda a: np.trace(a), (X,), (S0,), (E2,)),
    Row("trace:stack", lambda a: np.trace(a, axis1=1, axis2=2), (STACK,), (S0,), (E2[None],)),
    Row("diag", lambda a: np.diag(a), (V,), (S0,), (E1,), exact=True),
    Row("diag:matrix", lambda a: np.diag(a, k=1), (X,), (S0,), (E2,), exact=True),
    Row("diagonal", lambda a: np.diagonal(a, 0, 1, 2), (STACK,), (S0,), (E2[None],), exact=True),
    Row("diagflat", lambda a: np.diagflat(a, -1), (X,), (S0,), (E2,), exact=True),
    Row("tril", lambda a: np.tril(a, -1), (STACK,), (S0,), (E2,), exact=True),
    Row("triu", lambda a: np.triu(a, 1), (STACK,), (S0,), (E2,), exact=True),
    Row("tril:1d", lambda a: np.tril(a), (V,), (S0,), (E1,), exact=True),
    Row("triu:1d", lambda a: np.triu(a, -1), (V,), (S0,), (E1,), exact=True),
    Row("outer", lambda a, b: np.outer(a, b), (STACK, V), (S0, S0), (E2, V), exact=True),
    Row("einsum", lambda a: np.einsum("ii->i", a), (M,), (S0,), (E0,), exact=True),
    Row(
        "einsum:ellipsis",
        lambda a, b: np.einsum("...ij,...jk->...ik", a, b),
        (STACK, M),
        (S0, S0),
        (np.zeros((2, 0, 3)), M),
    ),
    Row("einsum:trace", lambda a: np.einsum("...ii", a), (STACK,), (S0,), (E2[None],)),
    # sorting and order statistics (exact: numpy's selection and interpolation are exact here)
    Row("sort", lambda a: np.sort(a), (X,), (S0,), (E2,), exact=True),
    Row("sort:axis0", lambda a: np.sort(a, axis=0), (X,), (S0,), (E2,), exact=True),
    Row("sort:nan", lambda a: np.sort(a, axis=0), (NAN,), (S0,), (E2,), NANLOSS, exact=True),
    Row("argsort", lambda a: np.argsort(a), (X,), (S0,), (E2,), INT, exact=True),
    # numpy specifies only the kth element of a partition; the row checks that one
    Row("partition", lambda a: np.partition(a, 2)[..., 2], (X,), (S0,), (E2,), exact=True),
    Row("median", lambda a: np.median(a), (X,), (S0,), (E2,), exact=True),
    Row("median:axis", lambda a: np.median(a, axis=1), (X,), (S0,), (E2,), exact=True),
    Row("percentile", lambda a: np.percentile(a, [10, 90], axis=0), (X,), (S0,), (E2,)),
    Row("quantile", lambda a: np.quantile(a, 0.3), (X,), (S0,), (E2,)),
    Row("nanmedian", lambda a: np.nanmedian(a, axis=1), (NAN,), (S0,), (E2,), exact=True),
    # reductions and statistics
    Row("cumprod", lambda a: np.cumprod(a, axis=1), (X,), (S0,), (E2,)),
    Row("average", lambda a: np.average(a, axis=1, weights=V), (X,), (S0,), (E2.T,), (0,)),
    Row("average:plain", lambda a: np.average(a), (X,), (S0,), (E2,)),
    Row("nansum", lambda a: np.nansum(a, axis=0), (NAN,), (S0,), (E2,)),
    Row("nanmean", lambda a: np.nanmean(a, axis=1), (NAN,), (S0,), (E2,)),
    Row("nanmax", lambda a: np.nanmax(a, axis=1), (NAN,), (S0,), (E2,), exact=True),
    Row("nanmin", lambda a: np.nanmin(a), (NAN,), (S0,), (E2,), exact=True),
    Row("nanstd", lambda a: np.nanstd(a, axis=0, ddof=1), (NAN,), (S0,), (E2,)),
    Row("nanvar", lambda a: np.nanvar(a, axis=1), (NAN,), (S0,), (E2,)),
    Row("cov", lambda a: np.cov(a), (X,), (S0,), (E2,)),
    Row("corrcoef", lambda a: np.corrcoef(a), (X,), (S0,), (E2,)),
    Row("count_nonzero", lambda a: np.count_nonzero(a, axis=0), (X,), (S0,), (E2,), INT),
    Row("ptp", lambda a: np.ptp(a, axis=1), (X,), (S0,), (E2,), exact=True),
]

XFAILS: dict[str, str] = {}


@pytest.mark.parametrize(("row", "case"), params(ROWS, XFAILS))
def test_listed(row: Row, case: str) -> None:
    run_case(row, case)


def test_every_listed_function_has_a_row() -> None:
    listed = {name for bullet in BULLETS for name in LISTED[bullet]}
    assert listed - covered(ROWS) == set()


REDUCTIONS_0D = ("sum", "prod", "max", "min", "any", "all", "argmax", "argmin", "nansum",
                 "nanmean", "nanstd", "nanvar", "nanmax", "count_nonzero", "ptp")  # fmt: skip
NOT_ON_0D = ("mean", "std", "var", "average", "median")


def test_axis_0_of_a_0d_array_follows_numpy() -> None:
    """numpy's ufunc reductions take axis=0 (or -1) on a 0-d array as no axis; np.mean and
    the other non-ufunc statistics raise AxisError there. tracegrad does the same."""
    x = np.array(2.5)
    for name in REDUCTIONS_0D:
        fn = getattr(np, name)
        for axis in (0, -1, (0,)):
            if name.startswith("arg") and isinstance(axis, tuple):
                continue  # argmax takes one int
            traced = tracegrad.jit(lambda a, fn=fn, axis=axis: fn(a, axis=axis))
            try:
                expected = fn(x, axis=axis)
            except np.exceptions.AxisError:  # numpy takes some spellings only
                with pytest.raises(np.exceptions.AxisError):
                    traced(x)
                continue
            got = traced(x)
            assert np.shape(got) == np.shape(expected), name
            assert np.asarray(got).dtype == np.asarray(expected).dtype, name
            np.testing.assert_array_equal(got, expected, err_msg=name)
    for name in NOT_ON_0D:
        fn = getattr(np, name)
        with pytest.raises(np.exceptions.AxisError):
            fn(x, axis=0)
        with pytest.raises(np.exceptions.AxisError):
            tracegrad.jit(lambda a, fn=fn: fn(a, axis=0))(x)
