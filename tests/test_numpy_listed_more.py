"""Issue #15 target, second half: one row per function of the bullets "structure",
"elementwise" and "ufunc methods" (value, gradient, 0-d and size-0 cases; the harness is
tests/numpy_listed_harness.py, the other bullets tests/test_numpy_listed_linalg.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy_listed_harness import LISTED, Row, covered, params, run_case

import tracegrad.numpy as tnp

BULLETS = ("structure", "elementwise", "ufunc methods")

RNG = np.random.default_rng(16)
X = RNG.standard_normal((3, 4))
Y = RNG.standard_normal((3, 4))
V = RNG.standard_normal(4)
W = RNG.standard_normal(3)
CUBE = RNG.standard_normal((2, 3, 4))
UNIT = np.tanh(X) * 0.9  # inside (-1, 1): arcsin, arccos, arctanh
BIG = np.abs(X) + 1.2  # > 1: arccosh
POS = np.abs(X) + 0.3
AWAY = np.round(X * 4) / 4 + 0.1  # no ties or jumps within a finite-difference step of 0.5
SPECIAL = np.array([1.5, -0.0, 0.0, np.nan, np.inf, -np.inf, -2.5, 3.0])
S0 = np.array(0.5)  # the 0-d input
E2 = np.zeros((0, 4))
E1 = np.zeros(0)
E3 = np.zeros((2, 0, 4))
BOOL = "boolean output"
TIES = "inputs at the ties, where round jumps: no derivative"
HUGE = "inf becomes +-1.8e308, which swamps a finite-difference loss; see nan_to_num:nan"
TNP = "np.c_/np.r_ cannot see traced items (documented); the :tnp row checks this case"
STEP = "piecewise constant: the gradient is 0 wherever it is defined, checked on AWAY"


def _row_stack(a: object, b: object) -> object:
    with warnings.catch_warnings():  # deprecated since numpy 2.0, still a listed function
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.row_stack((a, b))


def _at(ufunc: np.ufunc) -> object:
    """``ufunc.at`` as a user writes it: into a copy, at repeated indices."""

    def f(a: object, vals: object) -> object:
        out = a.copy()
        ufunc.at(out, [0, 2, 0], vals)
        return out

    return f


def _piecewise(x: object) -> object:
    return np.piecewise(x, [x < 0, x >= 0.5], [lambda t: -t, lambda t: t**2, 0.25])


def _select(x: object) -> object:
    return np.select([x < -0.5, x > 0.5], [x**2, np.sin(x)], default=x)


ROWS = [
    # structure: exact (values are moved, not computed)
    Row("diff", lambda a: np.diff(a, n=2, axis=-1), (X,), (S0,), (E2,), exact=True),
    Row("roll", lambda a: np.roll(a, 2, axis=1), (X,), (S0,), (E2,), exact=True),
    Row("roll:flat", lambda a: np.roll(a, -3), (X,), (S0,), (E2,), exact=True),
    Row("flip", lambda a: np.flip(a, 0), (X,), (S0,), (E2,), exact=True),
    Row("fliplr", lambda a: np.fliplr(a), (X,), (S0,), (E2,), exact=True),
    Row("flipud", lambda a: np.flipud(a), (X,), (S0,), (E2,), exact=True),
    Row("rot90", lambda a: np.rot90(a, 3), (X,), (S0,), (E2,), exact=True),
    Row("tile", lambda a: np.tile(a, (2, 1, 2)), (X,), (S0,), (E2,), exact=True),
    Row("repeat", lambda a: np.repeat(a, 2, axis=0), (X,), (S0,), (E2,), exact=True),
    Row(
        "repeat:counts", lambda a: np.repeat(a, [1, 0, 3], axis=0), (X,), (S0,), (E2.T,), exact=True
    ),
    Row("split", lambda a: np.split(a, 2, axis=1), (X,), (S0,), (E2,), exact=True),
    Row("array_split", lambda a: np.array_split(a, 3, axis=1), (X,), (S0,), (E2,), exact=True),
    Row("hsplit", lambda a: np.hsplit(a, [1, 3]), (X,), (S0,), (E2,), exact=True),
    Row("vsplit", lambda a: np.vsplit(a, 3), (X,), (S0,), (np.zeros((0, 2)),), exact=True),
    Row("dsplit", lambda a: np.dsplit(a, 2), (CUBE,), (S0,), (E3,), exact=True),
    Row("atleast_1d", lambda a: np.atleast_1d(a), (X,), (S0,), (E1,), exact=True),
    Row("atleast_2d", lambda a: np.atleast_2d(a), (V,), (S0,), (E1,), exact=True),
    Row("atleast_3d", lambda a: np.atleast_3d(a), (X,), (S0,), (E2,), exact=True),
    Row("meshgrid", lambda a, b: np.meshgrid(a, b), (V, W), (S0, S0), (E1, W), exact=True),
    Row(
        "meshgrid:ij",
        lambda a, b: np.meshgrid(a, b, indexing="ij"),
        (V, W),
        (S0, S0),
        (E1, W),
        exact=True,
    ),
    Row("kron", lambda a, b: np.kron(a, b), (X, Y[:2, :2]), (S0, S0), (E2, X), exact=True),
    # the :tnp rows check tracegrad.numpy's implementations against numpy's, both orders
    Row("convolve", lambda a, v: np.convolve(a, v), (V, W), (S0, S0), (E1, W)),
    Row("correlate", lambda a, v: np.correlate(a, v), (V, W), (S0, S0), (E1, W)),
    Row(
        "convolve:tnp",
        lambda a, v: tnp.convolve(a, v),
        (V, W),
        (S0, S0),
        (E1, W),
        numpy_f=lambda a, v: np.convolve(a, v),
    ),
    Row(
        "convolve:tnp_same",
        lambda a, v: tnp.convolve(a, v, "same"),
        (W, V),
        (S0, V),
        (V, E1),
        numpy_f=lambda a, v: np.convolve(a, v, "same"),
    ),
    Row(
        "convolve:tnp_valid",
        lambda a, v: tnp.convolve(a, v, "valid"),
        (V, W),
        (V, S0),
        (E1, E1),
        numpy_f=lambda a, v: np.convolve(a, v, "valid"),
    ),
    Row(
        "correlate:tnp",
        lambda a, v: tnp.correlate(a, v),
        (V, W),
        (S0, S0),
        (E1, W),
        numpy_f=lambda a, v: np.correlate(a, v),
    ),
    Row(
        "correlate:tnp_full",
        lambda a, v: tnp.correlate(a, v, "full"),
        (W, V),
        (S0, V),
        (W, E1),
        numpy_f=lambda a, v: np.correlate(a, v, "full"),
    ),
    Row(
        "correlate:tnp_same",
        lambda a, v: tnp.correlate(a, v, "same"),
        (W, V),
        (V, S0),
        (X, W),
        numpy_f=lambda a, v: np.correlate(a, v, "same"),
    ),
    Row(
        "column_stack",
        lambda a, b: np.column_stack((a, b)),
        (X, V[:3]),
        (S0, S0),
        (E2, E1),
        exact=True,
    ),
    Row("row_stack", _row_stack, (X, V), (S0, S0), (E2, E2), exact=True),
    Row("dstack", lambda a, b: np.dstack((a, b)), (X, Y), (S0, S0), (E2, E2), exact=True),
    # numpy's np.c_/np.r_ call np.array on each item (no dispatch hook): documented in
    # docs/numpy.md, which sends users to tracegrad.numpy.c_/r_, checked in the :tnp rows
    Row("c_", lambda a, b: np.c_[a, b], (X, Y), TNP, TNP, TNP),
    Row("r_", lambda a, b: np.r_[a, b], (X, Y), TNP, TNP, TNP),
    Row(
        "c_:tnp",
        lambda a, b: tnp.c_[a, b],
        (X, Y),
        (S0, S0),
        (E2, E2),
        exact=True,
        numpy_f=lambda a, b: np.c_[a, b],
    ),
    Row(
        "r_:tnp",
        lambda a, b: tnp.r_[a, 0.0, b],
        (V, W),
        (S0, S0),
        (E1, W),
        exact=True,
        numpy_f=lambda a, b: np.r_[a, 0.0, b],
    ),
    Row(
        "r_:tnp_axis",
        lambda a, b: tnp.r_["1", a, b],
        (X, Y),
        (S0, S0),
        (E2, E2),
        exact=True,
        numpy_f=lambda a, b: np.r_["1", a, b],
    ),
    Row("swapaxes", lambda a: np.swapaxes(a, 0, 2), (CUBE,), (S0,), (E3,), exact=True),
    Row(
        "interp",
        lambda x, fp: np.interp(x, [-1.0, 0.0, 0.5, 2.0], fp),
        (AWAY, V),
        (S0, V),
        (E2, V),
    ),
    Row("select", _select, (AWAY,), (S0,), (E2,), exact=True),
    Row("piecewise", _piecewise, (AWAY,), (S0,), (E2,), exact=True),
    # elementwise: transcendental SIMD code differs per CPU, so tight tolerance, not bits
    Row("arcsin", lambda a: np.arcsin(a), (UNIT,), (S0,), (E2,)),
    Row("arccos", lambda a: np.arccos(a), (UNIT,), (S0,), (E2,)),
    Row("arctan", lambda a: np.arctan(a), (X,), (S0,), (E2,)),
    Row("arcsinh", lambda a: np.arcsinh(a), (X,), (S0,), (E2,)),
    Row("arccosh", lambda a: np.arccosh(a), (BIG,), (S0,), (E2,)),
    Row("arctanh", lambda a: np.arctanh(a), (UNIT,), (S0,), (E2,)),
    Row("arctan2", lambda a, b: np.arctan2(a, b), (X, Y), (S0, S0), (E2, V)),
    Row("hypot", lambda a, b: np.hypot(a, b), (X, Y), (S0, S0), (E2, V)),
    Row("logaddexp", lambda a, b: np.logaddexp(a, b), (X * 300, Y), (S0, S0), (E2, V)),
    Row("logaddexp2", lambda a, b: np.logaddexp2(a, b), (X, Y * 300), (S0, S0), (E2, V)),
    Row("cbrt", lambda a: np.cbrt(a), (X,), (S0,), (E2,)),
    Row("sinc", lambda a: np.sinc(a), (np.append(X.ravel(), 0.0),), (S0,), (E2,)),
    Row("heaviside", lambda a, h: np.heaviside(a, h), (AWAY, 0.5), (S0, S0), (E2, 0.5)),
    Row(
        "heaviside:at0", lambda a, h: np.heaviside(a, h), (SPECIAL, W[0]), (S0, S0), (E2, 0.5), STEP
    ),
    Row("deg2rad", lambda a: np.deg2rad(a), (X * 90,), (S0,), (E2,)),
    Row("rad2deg", lambda a: np.rad2deg(a), (X,), (S0,), (E2,)),
    Row("radians", lambda a: np.radians(a), (X * 90,), (S0,), (E2,)),
    Row("degrees", lambda a: np.degrees(a), (X,), (S0,), (E2,)),
    Row("round", lambda a: np.round(a, 2), (X * 10,), (S0,), (E2,), exact=True),
    Row(
        "round:half",
        lambda a: np.round(a),
        (np.arange(-3, 3) + 0.5,),
        (S0,),
        (E1,),
        TIES,
        exact=True,
    ),
    Row("around", lambda a: np.around(a, -1), (X * 100,), (S0,), (E2,), exact=True),
    Row("rint", lambda a: np.rint(a), (SPECIAL,), (S0,), (E1,), STEP, exact=True),
    Row("rint:grad", lambda a: np.rint(a), (AWAY,), (S0,), (E2,), exact=True),
    Row("fix", lambda a: np.fix(a), (SPECIAL,), (S0,), (E1,), STEP, exact=True),
    Row("trunc", lambda a: np.trunc(a), (AWAY * 3,), (S0,), (E2,), exact=True),
    Row("nan_to_num", lambda a: np.nan_to_num(a), (SPECIAL,), (S0,), (E1,), HUGE, exact=True),
    Row(
        "nan_to_num:nan",
        lambda a: np.nan_to_num(a, nan=-1.0),
        (np.where(X > 1, np.nan, X),),
        (S0,),
        (E2,),
        exact=True,
    ),
    Row(
        "nan_to_num:args",
        lambda a: np.nan_to_num(a, nan=1.0, posinf=9.0),
        (SPECIAL,),
        (S0,),
        (E1,),
        HUGE,
        exact=True,
    ),
    Row(
        "isclose", lambda a, b: np.isclose(a, b), (SPECIAL, SPECIAL[::-1]), (S0, S0), (E1, E1), BOOL
    ),
    Row(
        "copysign",
        lambda a, b: np.copysign(a, b),
        (X, SPECIAL[:4]),
        (S0, S0),
        (E2, V),
        (0,),
        exact=True,
    ),
    Row("fmod", lambda a, b: np.fmod(a, b), (X * 5, POS), (S0, S0), (E2, V)),
    Row(
        "fmax",
        lambda a, b: np.fmax(a, b),
        (X, np.where(Y > 1, np.nan, Y)),
        (S0, S0),
        (E2, V),
        (0,),
        exact=True,
    ),
    Row(
        "fmin",
        lambda a, b: np.fmin(a, b),
        (X, np.where(Y > 1, np.nan, Y)),
        (S0, S0),
        (E2, V),
        (0,),
        exact=True,
    ),
    Row("signbit", lambda a: np.signbit(a), (SPECIAL,), (S0,), (E1,), BOOL),
    Row("isnan", lambda a: np.isnan(a), (SPECIAL,), (S0,), (E1,), BOOL),
    Row("isinf", lambda a: np.isinf(a), (SPECIAL,), (S0,), (E1,), BOOL),
    Row("isfinite", lambda a: np.isfinite(a), (SPECIAL,), (S0,), (E1,), BOOL),
    Row(
        "isfinite:int",
        lambda a: np.isfinite(a),
        (np.arange(4),),
        (np.array(3),),
        (E1.astype(int),),
        BOOL,
    ),
    # ufunc methods
    Row("add.at", _at(np.add), (X, Y[:3]), (S0, S0), (E2, E2)),
    Row("subtract.at", _at(np.subtract), (X, Y[:3]), (S0, S0), (E2, E2)),
    Row("multiply.at", _at(np.multiply), (X, Y[:3]), (S0, S0), (E2, E2)),
    Row("maximum.at", _at(np.maximum), (X, Y[:3]), (S0, S0), (E2, E2), exact=True),
    Row("minimum.at", _at(np.minimum), (X, Y[:3]), (S0, S0), (E2, E2), exact=True),
    Row("add.reduce", lambda a: np.add.reduce(a, axis=1), (X,), (S0,), (E2,)),
    Row("add.reduce:none", lambda a: np.add.reduce(a, axis=None), (X,), (S0,), (E2,)),
    Row(
        "maximum.accumulate",
        lambda a: np.maximum.accumulate(a, axis=1),
        (X,),
        (S0,),
        (E2,),
        exact=True,
    ),
    Row("add.outer", lambda a, b: np.add.outer(a, b), (X, V), (S0, S0), (E2, V), exact=True),
]

XFAILS: dict[str, str] = {}


@pytest.mark.filterwarnings("ignore::tracegrad.InPlaceArgumentWarning")
@pytest.mark.parametrize(("row", "case"), params(ROWS, XFAILS))
def test_listed(row: Row, case: str) -> None:
    run_case(row, case)


def test_every_listed_function_has_a_row() -> None:
    listed = {name for bullet in BULLETS for name in LISTED[bullet]}
    assert listed - covered(ROWS) == set()


def test_the_two_tables_cover_every_bullet() -> None:
    from test_numpy_listed_linalg import BULLETS as FIRST

    assert sorted(FIRST + BULLETS) == sorted(LISTED)
