"""pow of :mod:`tracegrad.llvm.mathlib.library`: double-double log with its table, then exp."""

from __future__ import annotations

import functools
from decimal import Decimal, localcontext

from tracegrad.llvm.mathlib.core import (
    INF,
    LN2_HI42,
    LN2_LO42,
    LOG1P_Q,
    MIN_NORMAL,
    NAN,
    MathBuilder,
    c,
    double_from_bits,
)
from tracegrad.llvm.mathlib.exp_log import exp_core
from tracegrad.llvm.mathlib.registry import Routine, Table, register_routine, register_table

# pow log table (ARM optimized-routines construction, N = 128).
_POW_LOG_N = 128
_POW_LOG_OFF = 0x3FE6955500000000


@functools.cache
def _pow_log_table() -> list[float]:
    n = _POW_LOG_N
    out: list[float] = []
    with localcontext() as ctx:
        ctx.prec = 60
        for i in range(n):
            zlo = double_from_bits(_POW_LOG_OFF + (i << 45))
            zhi = double_from_bits(_POW_LOG_OFF + ((i + 1) << 45))
            center = (zlo + zhi) / 2
            # Few-bit 1/c so that fma(z, invc, -1) is exact (see ARM pow_log_data.c).
            if center < 1:
                invc = round(n / center) / n
            else:
                invc = round(2 * n / center) / (2 * n)
            logc_exact = -Decimal(invc).ln()
            logc = float(round(logc_exact * (1 << 43))) / (1 << 43)
            logctail = float(logc_exact - Decimal(logc))
            out += [invc, logc, logctail]
    return out


# --- pow ---------------------------------------------------------------------------------------


def _log_dd(b: MathBuilder, ax: str) -> tuple[str, str]:
    """log(ax) as hi + lo with ~2^-68 relative error for finite ax > 0 (garbage otherwise)."""
    sub = b.fcmp("olt", ax, c(MIN_NORMAL))
    ix = b.to_bits(ax)
    ix = b.sel(sub, b.i("sub", b.to_bits(b.mul(ax, c(2.0**52))), 52 << 52), ix, "i64")
    tmp = b.i("sub", ix, _POW_LOG_OFF)
    i = b.i("and", b.i("lshr", tmp, 45), _POW_LOG_N - 1)
    iz = b.i("sub", ix, b.i("and", tmp, -(1 << 52)))
    z = b.from_bits(iz)
    kd = b.exponent_as_double(tmp)
    base = b.i("mul", i, 3)
    tab = []
    for j in range(3):
        idx = b.i("add", base, j)
        tab.append(b.load_table("tg__pow_log_table", 3 * _POW_LOG_N, idx))
    invc, logc, logctail = tab
    r = b.fma(z, invc, c(-1.0))  # exact by construction of invc
    t1 = b.fma(kd, c(LN2_HI42), logc)  # exact
    t2 = b.add(t1, r)
    lo1 = b.fma(kd, c(LN2_LO42), logctail)
    lo2 = b.add(b.sub(t1, t2), r)
    ar = b.mul(c(-0.5), r)
    ar2 = b.mul(r, ar)
    ar3 = b.mul(r, ar2)
    hi = b.add(t2, ar2)
    lo3 = b.fma(ar, r, b.neg(ar2))
    lo4 = b.add(b.sub(t2, hi), ar2)
    p = b.mul(ar3, b.horner(r, LOG1P_Q))
    lo = b.add(b.add(b.add(lo1, lo2), b.add(lo3, lo4)), p)
    return b.fast_two_sum(hi, lo)


def _pow_body(b: MathBuilder, x: str, y: str) -> str:
    ax = b.fabs(x)
    lh, ll = _log_dd(b, ax)
    eh = b.mul(y, lh)
    el = b.add(b.fma(y, lh, b.neg(eh)), b.mul(y, ll))
    res = exp_core(b, eh, el)

    ry = b.rint(y)
    y_int = b.fcmp("oeq", ry, y)  # true for +-inf too
    yh = b.mul(y, c(0.5))
    y_odd = b.and1(y_int, b.fcmp("une", b.rint(yh), yh))
    y_neg = b.fcmp("olt", y, c(0.0))
    inf, zero = c(INF), c(0.0)
    res = b.sel(b.fcmp("oeq", ax, zero), b.sel(y_neg, inf, zero), res)
    res = b.sel(b.fcmp("oeq", ax, inf), b.sel(y_neg, zero, inf), res)
    # y = +-inf: 1 for |x| == 1, else inf or 0 depending on |x| < 1 and the sign of y.
    small_x = b.fcmp("olt", ax, c(1.0))
    big = b.emit(f"xor i1 {small_x}, {y_neg}")
    r_yinf = b.sel(b.fcmp("oeq", ax, c(1.0)), c(1.0), b.sel(big, zero, inf))
    res = b.sel(b.fcmp("oeq", b.fabs(y), inf), r_yinf, res)
    x_signbit = b.icmp("slt", b.to_bits(x), 0)
    res = b.sel(b.and1(x_signbit, y_odd), b.neg(res), res)
    neg_finite_x = b.and1(b.fcmp("olt", x, c(0.0)), b.fcmp("olt", ax, inf))
    res = b.sel(b.and1(neg_finite_x, b.not1(y_int)), NAN, res)
    res = b.sel(b.fcmp("uno", x, y), NAN, res)
    one = b.or1(b.fcmp("oeq", y, zero), b.fcmp("oeq", x, c(1.0)))
    return b.sel(one, c(1.0), res)


register_table(Table("_pow_log_table", "tg__pow_log_table", _pow_log_table))
register_routine(Routine("pow", 2, _pow_body, ("_pow_log_table",)))
