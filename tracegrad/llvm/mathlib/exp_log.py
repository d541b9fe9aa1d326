"""Exponential and logarithm family of the math library (exp, expm1, log, log1p, tanh,
sigmoid, softplus), emitted into a builder in double precision."""

from __future__ import annotations

from tracegrad.llvm.mathlib.core import (
    EXP_TAYLOR,
    EXPM1_Q,
    FDLIBM_LN2_HI,
    FDLIBM_LN2_LO,
    INF,
    LN2_HI,
    LN2_LO,
    LOG2E,
    LOG_LG,
    MIN_NORMAL,
    NAN,
    MathBuilder,
    c,
)
from tracegrad.llvm.mathlib.registry import Routine, register_routine

# ----------------------------------------------------------------------------------------------
# Core algorithms (double precision), emitted into a builder
# ----------------------------------------------------------------------------------------------


def exp_core(b: MathBuilder, x: str, lo: str | None = None) -> str:
    """exp(x [+ lo]) for any x; NaN x gives a finite garbage value (callers select)."""
    xs = b.clamp_nan0(x, -746.0, 710.0)
    kd = b.rint(b.mul(xs, c(LOG2E)))
    nk = b.neg(kd)
    r = b.fma(nk, c(LN2_HI), xs)  # exact: |k| < 2^11 and the result is < 0.35
    r = b.fma(nk, c(LN2_LO), r)
    if lo is not None:
        ok = b.fcmp("olt", b.fabs(x), c(746.0))  # lo is meaningless (or NaN) when x saturates
        r = b.add(r, b.sel(ok, lo, c(0.0)))
    # 1 + r(1 + r(1/2 + r*tail)): Horner for the three large terms, Estrin for the tail
    # (scaled by r^3 <= 0.042, so its extra roundings stay far below an ulp of the result)
    head = b.fma(b.estrin(r, EXP_TAYLOR[3:]), r, c(EXP_TAYLOR[2]))
    p = b.fma(b.fma(head, r, c(EXP_TAYLOR[1])), r, c(1.0))
    k1 = b.floor(b.mul(kd, c(0.5)))
    k2 = b.sub(kd, k1)
    # Two scalings: each factor is a normal double, the last multiply rounds subnormals once.
    return b.mul(b.mul(p, b.pow2(k1)), b.pow2(k2))


def _exp_body(b: MathBuilder, x: str) -> str:
    return b.sel(b.fcmp("uno", x, x), x, exp_core(b, x))


def _expm1_body(b: MathBuilder, x: str) -> str:
    xs = b.clamp_nan0(x, -45.0, 710.0)  # expm1 rounds to -1 below -38
    kd = b.rint(b.mul(xs, c(LOG2E)))
    nk = b.neg(kd)
    r = b.fma(nk, c(LN2_HI), xs)
    r = b.fma(nk, c(LN2_LO), r)
    tail = b.fma(b.estrin(r, EXPM1_Q[1:]), r, c(EXPM1_Q[0]))  # see exp_core
    q = b.fma(b.mul(r, r), tail, r)  # expm1(r)
    s = b.pow2(b.sub(kd, c(1.0)))  # 2^(k-1) stays normal for k in [-65, 1024]
    # expm1(x) = 2^k q + 2^k - 1 = 2 * (s*q + (s - 1/2)) with a single rounding.
    res = b.mul(b.fma(s, q, b.sub(s, c(0.5))), c(2.0))
    tiny = b.fcmp("olt", b.fabs(x), c(2.0**-54))  # expm1(x) rounds to x; keeps -0 and subnormals
    res = b.sel(tiny, x, res)
    return b.sel(b.fcmp("uno", x, x), x, res)


def _log_decompose(b: MathBuilder, u: str, prescale: bool) -> tuple[str, str]:
    """u = 2^k * m with m in [sqrt(2)/2, sqrt(2)); returns (k as double, f = m - 1 exact)."""
    ix = b.to_bits(u)
    if prescale:  # subnormal u: scale by 2^54 and fix the exponent afterwards
        sub = b.fcmp("olt", u, c(MIN_NORMAL))
        ix = b.sel(sub, b.to_bits(b.mul(u, c(2.0**54))), ix, "i64")
        ix = b.sel(sub, b.i("sub", ix, 54 << 52), ix, "i64")
    tmp = b.i("sub", ix, 0x3FE6A09E667F3BCD)
    iz = b.i("sub", ix, b.i("and", tmp, -(1 << 52)))
    f = b.sub(b.from_bits(iz), c(1.0))
    return b.exponent_as_double(tmp), f


def _log_poly(b: MathBuilder, dk: str, f: str, corr: str | None) -> str:
    """fdlibm: k*ln2_hi - ((hfsq - (s*(hfsq+R) + k*ln2_lo + corr)) - f)."""
    s = b.div(f, b.add(c(2.0), f))
    z = b.mul(s, s)
    w = b.mul(z, z)
    t1 = b.mul(w, b.horner(w, [LOG_LG[1], LOG_LG[3], LOG_LG[5]]))
    t2 = b.mul(z, b.horner(w, [LOG_LG[0], LOG_LG[2], LOG_LG[4], LOG_LG[6]]))
    rr = b.add(t2, t1)
    hfsq = b.mul(b.mul(c(0.5), f), f)
    lo = b.mul(dk, c(FDLIBM_LN2_LO))
    if corr is not None:
        lo = b.add(lo, corr)
    inner = b.sub(hfsq, b.add(b.mul(s, b.add(hfsq, rr)), lo))
    return b.sub(b.mul(dk, c(FDLIBM_LN2_HI)), b.sub(inner, f))


def _log_body(b: MathBuilder, x: str) -> str:
    dk, f = _log_decompose(b, x, prescale=True)
    res = _log_poly(b, dk, f, None)
    res = b.sel(b.fcmp("oeq", x, c(INF)), x, res)
    res = b.sel(b.fcmp("oeq", x, c(0.0)), c(-INF), res)
    return b.sel(b.fcmp("olt", x, c(0.0)), NAN, b.sel(b.fcmp("uno", x, x), x, res))


def _log1p_body(b: MathBuilder, x: str) -> str:
    u, e = b.two_sum(x, c(1.0))  # u + e == 1 + x exactly
    dk, f = _log_decompose(b, u, prescale=False)  # u >= 2^-53 when x > -1
    res = _log_poly(b, dk, f, b.div(e, u))  # log(u + e) = log(u) + e/u
    res = b.sel(b.fcmp("olt", b.fabs(x), c(2.0**-54)), x, res)
    res = b.sel(b.fcmp("oeq", x, c(INF)), x, res)
    res = b.sel(b.fcmp("oeq", x, c(-1.0)), c(-INF), res)
    return b.sel(b.fcmp("olt", x, c(-1.0)), NAN, b.sel(b.fcmp("uno", x, x), x, res))


def _tanh_body(b: MathBuilder, x: str) -> str:
    ax = b.fabs(x)
    axc = b.sel(b.fcmp("ogt", ax, c(22.0)), c(22.0), ax)  # tanh rounds to 1 above 19.1
    e = b.call("tg_expm1_f64", b.mul(axc, c(2.0)))
    d, dl = b.two_sum(e, c(2.0))
    t = b.corrected_div(e, d, dl)
    neg = b.fcmp("olt", x, c(0.0))
    res = b.sel(neg, b.neg(t), t)
    return b.sel(b.fcmp("olt", ax, c(2.0**-28)), x, res)  # also passes NaN, +-0


def _sigmoid_body(b: MathBuilder, x: str) -> str:
    e = b.call("tg_exp_f64", b.neg(b.fabs(x)))  # in (0, 1]: no overflow on either side
    num = b.sel(b.fcmp("olt", x, c(0.0)), e, c(1.0))
    d, dl = b.fast_two_sum(c(1.0), e)
    return b.corrected_div(num, d, dl)  # NaN x: e is NaN, so is the result


def _softplus_body(b: MathBuilder, x: str) -> str:
    e = b.call("tg_exp_f64", b.neg(b.fabs(x)))
    l1p = b.call("tg_log1p_f64", e)
    m = b.sel(b.fcmp("ogt", x, c(0.0)), x, c(0.0))
    return b.add(m, l1p)


for _routine in [
    Routine("exp", 1, _exp_body),
    Routine("expm1", 1, _expm1_body),
    Routine("log", 1, _log_body),
    Routine("log1p", 1, _log1p_body),
    Routine("tanh", 1, _tanh_body, ("expm1",)),
    Routine("sigmoid", 1, _sigmoid_body, ("exp",), ulp_f64=2.5),
    Routine("softplus", 1, _softplus_body, ("exp", "log1p"), ulp_f64=2.5),
]:
    register_routine(_routine)
