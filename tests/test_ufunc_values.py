"""Issue #15's elementwise functions under jit: values equal to numpy's (bitwise where numpy's
result is exact; within the measured ulp bound of a long-double reference where it is a
transcendental), the same special values (NaN, +-inf, +-0, domain errors), the same result
dtypes (NEP 50; ints promote as numpy does per function), and size-0 and 0-d inputs.

The bounds are the measured maxima over 200,000+ inputs per range (docs/numpy_elementwise.md)
rounded up."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tracegrad
import tracegrad.numpy as tnp
from tracegrad.testing.ulp import assert_ulp_close, exact_reference_available, reference

RNG_SEED = 15
SPECIAL = np.array(
    [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -2.5, 2.5, 3.0, 1e300,
     -1e300, 1e-310, -5e-324, 2.0**28 + 2.0**-24, 0.999999, -0.9999999999, 1.0000001, 7e8]
)  # fmt: skip

# name: (ulp bound, input domain sampler); the reference is numpy's function in long double
UNARY_ULP: dict[str, tuple[float, Callable[[np.random.Generator], np.ndarray]]] = {
    "arcsin": (2.0, lambda r: r.uniform(-1, 1, 2000)),
    "arccos": (2.0, lambda r: r.uniform(-1, 1, 2000)),
    "arcsinh": (2.0, lambda r: _logu(r, -300, 300)),
    "arccosh": (3.0, lambda r: np.abs(_logu(r, 0, 300)) + np.abs(_logu(r, -16, 0))),
    "arctanh": (2.0, lambda r: r.uniform(-1, 1, 2000)),
    "cbrt": (1.0, lambda r: _logu(r, -300, 300)),
}
UNARY_EXACT = ["deg2rad", "rad2deg", "radians", "degrees", "rint", "trunc", "fix", "round",
               "around", "nan_to_num", "signbit", "isnan", "isinf", "isfinite"]  # fmt: skip
BINARY_EXACT = ["heaviside", "copysign", "fmod", "fmax", "fmin", "isclose"]


def _logu(rng: np.random.Generator, lo: float, hi: float, n: int = 2000) -> np.ndarray:
    return 10.0 ** rng.uniform(lo, hi, n) * rng.choice([-1.0, 1.0], n)


def _jit(name: str) -> Callable:
    fn = getattr(np, name)
    return tracegrad.jit(lambda *a: fn(*a))


def _same(got: np.ndarray, want: np.ndarray) -> None:
    """Bitwise: equal values, NaN where numpy has NaN, signed zeros, the same dtype."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    if want.dtype.kind == "f":
        assert (np.signbit(got) == np.signbit(want))[want == 0].all()


needs_ld = pytest.mark.skipif(not exact_reference_available(), reason="long double is double")


@needs_ld
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(UNARY_ULP))
def test_unary_within_bound(name: str, dtype: type) -> None:
    bound, sample = UNARY_ULP[name]
    with np.errstate(all="ignore"):
        x = np.concatenate([SPECIAL, sample(np.random.default_rng(RNG_SEED))]).astype(dtype)
    got = _jit(name)(x)
    assert got.dtype == dtype
    assert_ulp_close(got, getattr(np, name), x, max_ulp=bound)


@needs_ld
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_hypot_within_bound(dtype: type) -> None:
    rng = np.random.default_rng(RNG_SEED)
    a = np.concatenate([SPECIAL, _logu(rng, -300, 300), rng.uniform(-9, 9, 2000)])
    c = np.concatenate([SPECIAL[::-1], _logu(rng, -300, 300), rng.uniform(-9, 9, 2000)])
    with np.errstate(all="ignore"):
        a, c = a.astype(dtype), c.astype(dtype)
    got = _jit("hypot")(a, c)
    assert got.dtype == dtype
    assert_ulp_close(got, np.hypot, a, c, max_ulp=2.5)
    assert _jit("hypot")(np.inf, np.nan) == np.inf and _jit("hypot")(np.nan, -np.inf) == np.inf


@needs_ld
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sinc_within_bound_of_numpys_formula(dtype: type) -> None:
    """numpy's sinc is sin(y)/y with y = pi * x rounded in x's dtype; the reference evaluates
    that formula in long double after the same rounding of y."""
    rng = np.random.default_rng(RNG_SEED)
    with np.errstate(all="ignore"):
        x = np.concatenate([SPECIAL, rng.uniform(-3, 3, 2000), _logu(rng, -10, -3)]).astype(dtype)

    def formula(v: np.ndarray) -> np.ndarray:
        y = np.pi * np.where(v == 0, 1.0e-20, v).astype(dtype)
        return np.sin(y.astype(np.longdouble)) / y.astype(np.longdouble)

    got = _jit("sinc")(x)
    assert got.dtype == dtype and (got[x == 0] == 1.0).all()
    assert_ulp_close(got, formula, x, max_ulp=2.0)


def _ulps_of_larger_summand(got: np.ndarray, a: np.ndarray, c: np.ndarray, ref: np.ndarray):
    m = np.maximum(a, c).astype(np.longdouble)
    mag = np.maximum(np.abs(m), np.abs(ref - m))
    _, ex = np.frexp(mag)
    ulp = np.ldexp(np.longdouble(1), ex.astype(np.int64) - np.finfo(got.dtype).nmant - 1)
    return (np.abs(got.astype(np.longdouble) - ref) / ulp).astype(np.float64)


@needs_ld
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2"])
def test_logaddexp_within_bound(name: str, dtype: type) -> None:
    """Measured as numpy's own formula (max + log1p(exp(-|x - y|))) is: in ulps of the larger
    summand, because the sum cancels when max < 0 (numpy's own result is 8 ulp off there
    too). Finite results only; the special values are compared bitwise below."""
    rng = np.random.default_rng(RNG_SEED)
    a = np.concatenate([rng.uniform(-50, 50, 2000), _logu(rng, -5, 3)]).astype(dtype)
    c = np.concatenate([rng.uniform(-50, 50, 2000), _logu(rng, -5, 3)[::-1]]).astype(dtype)
    base = np.exp if name == "logaddexp" else np.exp2
    ln = np.longdouble(1) if name == "logaddexp" else np.log(np.longdouble(2))
    ref = reference(lambda p, q: np.maximum(p, q) + np.log1p(base(-np.abs(p - q))) / ln, a, c)
    got = _jit(name)(a, c)
    assert got.dtype == dtype
    assert _ulps_of_larger_summand(got, a, c, ref).max() <= 9.0


@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2"])
def test_logaddexp_special_values_and_no_overflow(name: str) -> None:
    s = np.array([np.nan, np.inf, -np.inf, 0.0, 1000.0, -1000.0, 800.0])
    a, c = np.repeat(s, s.size), np.tile(s, s.size)
    with np.errstate(all="ignore"):
        want = getattr(np, name)(a, c)
        far = np.abs(a - c) > 100
    got = _jit(name)(a, c)
    special = ~np.isfinite(want) | far | (a == c)
    _same(got[special], want[special])
    assert got[(a == 1000) & (c == 800)] == 1000.0


@pytest.mark.parametrize("name", UNARY_EXACT)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32])
def test_unary_exact(name: str, dtype: type) -> None:
    rng = np.random.default_rng(RNG_SEED)
    x = np.concatenate([SPECIAL, rng.uniform(-400, 400, 500), np.arange(-6, 6) / 2])
    with np.errstate(all="ignore"):
        x = x.astype(dtype)
        _same(_jit(name)(x), getattr(np, name)(x))


@pytest.mark.parametrize("decimals", [1, 2, 3, -1, -2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32])
def test_round_decimals(decimals: int, dtype: type) -> None:
    rng = np.random.default_rng(RNG_SEED)
    x = np.concatenate([rng.uniform(-999, 999, 500), np.arange(-30, 30) * 5 / 10**decimals])
    x = x.astype(dtype)
    f = tracegrad.jit(lambda v: np.round(v, decimals))
    _same(f(x), np.round(x, decimals))
    _same(tracegrad.jit(lambda v: np.around(v, decimals))(x), np.around(x, decimals))


def test_nan_to_num_arguments() -> None:
    x = np.array([np.nan, np.inf, -np.inf, 1.5, -0.0])
    f = tracegrad.jit(lambda v: np.nan_to_num(v, nan=-1.0, posinf=9.0, neginf=-9.0))
    _same(f(x), np.nan_to_num(x, nan=-1.0, posinf=9.0, neginf=-9.0))
    _same(_jit("nan_to_num")(x.astype(np.float32)), np.nan_to_num(x.astype(np.float32)))


def _binary_inputs(dtype: type) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(RNG_SEED)
    s = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 2.5, -3.0, 1e-300, 7.0])
    a = np.concatenate([np.repeat(s, s.size), rng.uniform(-9, 9, 300)])
    c = np.concatenate([np.tile(s, s.size), rng.uniform(-9, 9, 300)])
    with np.errstate(all="ignore"):
        return a.astype(dtype), c.astype(dtype)


@pytest.mark.parametrize("name", BINARY_EXACT)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32])
def test_binary_exact(name: str, dtype: type) -> None:
    a, c = _binary_inputs(dtype)
    with np.errstate(all="ignore"):
        want = getattr(np, name)(a, c)
    _same(_jit(name)(a, c), want)


def test_fmod_integers_like_numpy() -> None:
    for dt in (np.int64, np.int32):
        lo = np.iinfo(dt).min
        a = np.array([7, -7, 7, -7, 5, lo, lo, 3], dt)
        c = np.array([3, 3, -3, -3, 0, -1, 7, 0], dt)
        with np.errstate(all="ignore"):
            _same(_jit("fmod")(a, c), np.fmod(a, c))


@pytest.mark.parametrize("kw", [{}, {"rtol": 0.1}, {"atol": 0.5}, {"equal_nan": True}])
def test_isclose_arguments(kw: dict) -> None:
    a = np.array([1.0, 1.05, np.nan, np.inf, -np.inf, 0.0, 1e-9, 3.0])
    c = np.array([1.0, 1.0, np.nan, np.inf, np.inf, 1e-9, 0.0, 2.0])
    _same(tracegrad.jit(lambda p, q: np.isclose(p, q, **kw))(a, c), np.isclose(a, c, **kw))
    ints = np.array([1, 2, 3])
    _same(tracegrad.jit(lambda p: np.isclose(p, ints))(a[:3]), np.isclose(a[:3], ints))
    _same(tracegrad.jit(lambda p, q: np.isclose(p, b=q, rtol=0.0))(a, c), np.isclose(a, c, 0.0))


def test_python_scalars_keep_float32() -> None:
    """NEP 50: a Python float beside a float32 array does not widen it."""
    x = np.array([0.5, 2.0], np.float32)
    for name in ["hypot", "logaddexp", "logaddexp2", "copysign", "fmod", "heaviside"]:
        got = tracegrad.jit(lambda v, n=name: getattr(np, n)(v, 1.5))(x)
        assert got.dtype == getattr(np, name)(x, 1.5).dtype == np.float32, name


ALL_UNARY = [*UNARY_ULP, "sinc", *UNARY_EXACT]
ALL_BINARY = ["hypot", "logaddexp", "logaddexp2", *BINARY_EXACT]


@pytest.mark.parametrize("name", ALL_UNARY + ALL_BINARY)
def test_size_zero_and_zero_d(name: str) -> None:
    arity = 2 if name in ALL_BINARY else 1
    empty, scalar = np.zeros((0, 3)), np.float64(0.75)
    for arg in (empty, scalar, np.int32(3)):
        with np.errstate(all="ignore"):
            want = np.asarray(getattr(np, name)(*[arg] * arity))
        got = np.asarray(_jit(name)(*[arg] * arity))
        assert got.shape == want.shape and got.dtype == want.dtype, (name, arg)
        transcendental = name in UNARY_ULP or name == "sinc" or name in ALL_BINARY[:3]
        if want.dtype.kind in "fb" and not transcendental:  # numpy's sin/log bits vary by CPU
            _same(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-15)


@pytest.mark.parametrize("name", ALL_UNARY + ALL_BINARY)
def test_eager_namespace_function(name: str) -> None:
    """tracegrad.numpy.<name> on concrete arrays computes the same as under jit."""
    x = np.array([0.25, -0.5, 2.0])
    args = [x] * (2 if name in ALL_BINARY else 1)
    with np.errstate(all="ignore"):
        eager, jitted = getattr(tnp, name)(*args), _jit(name)(*args)
    if name in UNARY_EXACT or name in BINARY_EXACT:
        _same(eager, jitted)
    else:  # the interpreter's transcendentals are numpy's, the kernel's are tracegrad's
        np.testing.assert_allclose(eager, jitted, rtol=1e-15)
