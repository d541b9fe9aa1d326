"""Trigonometric functions of the math library (sin, cos, tan): argument reduction
with Cody-Waite and the Payne-Hanek table, and the fdlibm kernels."""

from __future__ import annotations

import functools
from fractions import Fraction

from tracegrad.llvm.mathlib.core import (
    COS_COEFFS,
    INF,
    PIO2,
    SIN_COEFFS,
    TWO_OVER_PI,
    MathBuilder,
    c,
    pi_fixed,
)
from tracegrad.llvm.mathlib.registry import Routine, Table, register_routine, register_table

# Payne-Hanek table: for biased exponents 1053 (2^30) .. 2046, E = biased - 1075 and
# G(E) = (2^E * 2/pi) mod 4 split into 4 doubles of 52 bits each (2^-50, 2^-102, ... grids).
_PH_FIRST_BIASED = 1053
_PH_ROWS = 2046 - _PH_FIRST_BIASED + 1
_PH_THRESHOLD = 2.0**30


@functools.cache
def _ph_table() -> list[float]:
    prec = 1400
    two_over_pi = (1 << (2 * prec + 1)) // pi_fixed(prec)  # floor(2/pi * 2^prec), near enough
    mask52 = (1 << 52) - 1
    out: list[float] = []
    for row in range(_PH_ROWS):
        e = _PH_FIRST_BIASED + row - 1075
        g = (two_over_pi >> (prec - e - 206)) & ((1 << 208) - 1)  # units of 2^-206, mod 4
        out.append(float(Fraction(g >> 156, 1 << 50)))
        out.append(float(Fraction((g >> 104) & mask52, 1 << 102)))
        out.append(float(Fraction((g >> 52) & mask52, 1 << 154)))
        out.append(float(Fraction(g & mask52, 1 << 206)))
    return out


# --- trigonometric ---------------------------------------------------------------------------


def _rem_pio2(b: MathBuilder, ax: str) -> tuple[str, str, str]:
    """ax >= 0 -> (rh, rl, q) with ax = (q + 4n)*pi/2 + rh + rl, |rh| <~ pi/4, q an i64."""
    # Cody-Waite for ax < 2^30 (other lanes computed on 0 to stay poison-free).
    small = b.fcmp("olt", ax, c(_PH_THRESHOLD))
    xs = b.sel(small, ax, c(0.0))
    kd = b.rint(b.mul(xs, c(TWO_OVER_PI)))
    nk = b.neg(kd)
    r1 = b.fma(nk, c(PIO2[0]), xs)  # exact (|k| < 2^30, result < 1 on a 2^-52 grid)
    t = b.mul(kd, c(PIO2[1]))
    tl = b.fma(kd, c(PIO2[1]), b.neg(t))
    h, low = b.two_sum(r1, b.neg(t))
    low = b.fma(nk, c(PIO2[2]), b.sub(low, tl))
    rh_cw, rl_cw = b.fast_two_sum(h, low)
    q_cw = b.low_int_bits(kd)

    # Payne-Hanek for ax >= 2^30: ax = M * 2^E, ax*2/pi mod 4 = M * G(E) mod 4.
    ix = b.to_bits(ax)
    row = b.i("sub", b.i("lshr", ix, 52), _PH_FIRST_BIASED)
    row = b.sel(b.icmp("slt", row, 0), "0", row, "i64")
    row = b.sel(b.icmp("sgt", row, _PH_ROWS - 1), str(_PH_ROWS - 1), row, "i64")
    base = b.i("shl", row, 2)
    g = []
    for j in range(4):
        idx = b.i("add", base, j)
        g.append(b.load_table("tg__ph_table", 4 * _PH_ROWS, idx))
    # M = 2^52 + mantissa field, read directly as the double 2^52 + field.
    m = b.from_bits(b.i("or", b.i("and", ix, (1 << 52) - 1), 0x4330000000000000))

    def mod4(v: str) -> str:
        return b.sub(v, b.mul(b.floor(b.mul(v, c(0.25))), c(4.0)))

    p0 = b.mul(m, g[0])
    e0 = b.fma(m, g[0], b.neg(p0))
    a = mod4(b.add(mod4(p0), e0))  # exact: all on the 2^-50 grid and < 8
    p1 = b.mul(m, g[1])
    e1 = b.fma(m, g[1], b.neg(p1))
    hs, hl = b.two_sum(a, p1)
    kq = b.rint(hs)
    f0 = b.sub(hs, kq)  # exact
    p2 = b.mul(m, g[2])
    e2 = b.fma(m, g[2], b.neg(p2))
    p3 = b.mul(m, g[3])
    s1, s1e = b.two_sum(hl, e1)
    s2, s2e = b.two_sum(s1, p2)
    err = b.add(b.add(s1e, s2e), b.add(e2, p3))
    fh, fl = b.two_sum(f0, s2)
    fh, fl = b.fast_two_sum(fh, b.add(fl, err))
    rh_ph = b.mul(fh, c(PIO2[0]))
    rl_ph = b.fma(fh, c(PIO2[0]), b.neg(rh_ph))
    rl_ph = b.add(rl_ph, b.fma(fh, c(PIO2[1]), b.mul(fl, c(PIO2[0]))))
    q_ph = b.low_int_bits(kq)

    rh = b.sel(small, rh_cw, rh_ph)
    rl = b.sel(small, rl_cw, rl_ph)
    q = b.sel(small, q_cw, q_ph, "i64")
    return rh, rl, q


def _kernel_sin(b: MathBuilder, x: str, y: str) -> str:
    """fdlibm __kernel_sin(x, y, 1): x - ((z*(y/2 - v*r) - y) - v*S1)."""
    z = b.mul(x, x)
    v = b.mul(z, x)
    r = b.horner(z, SIN_COEFFS[1:])
    inner = b.sub(b.mul(z, b.sub(b.mul(c(0.5), y), b.mul(v, r))), y)
    return b.sub(x, b.sub(inner, b.mul(v, c(SIN_COEFFS[0]))))


def _kernel_cos(b: MathBuilder, x: str, y: str) -> str:
    """musl __cos: w + (((1 - w) - hz) + (z*r - x*y)), w = 1 - z/2."""
    z = b.mul(x, x)
    w = b.mul(z, z)
    r = b.add(
        b.mul(z, b.horner(z, COS_COEFFS[0:3])),
        b.mul(b.mul(w, w), b.horner(z, COS_COEFFS[3:6])),
    )
    hz = b.mul(c(0.5), z)
    one_w = b.sub(c(1.0), hz)
    tail = b.add(b.sub(b.sub(c(1.0), one_w), hz), b.sub(b.mul(z, r), b.mul(x, y)))
    return b.add(one_w, tail)


def _trig_body(b: MathBuilder, x: str, which: str) -> str:
    ax = b.fabs(x)
    rh, rl, q = _rem_pio2(b, ax)
    s = _kernel_sin(b, rh, rl)
    co = _kernel_cos(b, rh, rl)
    odd = b.icmp("ne", b.i("and", q, 1), 0)
    xneg = b.fcmp("olt", x, c(0.0))
    if which == "sin":
        v = b.sel(odd, co, s)
        flip = b.icmp("ne", b.i("and", q, 2), 0)
        flip = b.emit(f"xor i1 {flip}, {xneg}")
        res = b.sel(flip, b.neg(v), v)
        res = b.sel(b.fcmp("olt", ax, c(2.0**-27)), x, res)
    elif which == "cos":
        v = b.sel(odd, s, co)
        flip = b.icmp("ne", b.i("and", b.i("add", q, 1), 2), 0)
        res = b.sel(flip, b.neg(v), v)
    else:  # tan
        t = b.sel(odd, b.neg(b.div(co, s)), b.div(s, co))
        res = b.sel(xneg, b.neg(t), t)
        res = b.sel(b.fcmp("olt", ax, c(2.0**-27)), x, res)
    # inf and NaN give NaN (x - x), everything else the computed value.
    return b.sel(b.fcmp("olt", ax, c(INF)), res, b.sub(x, x))


register_table(Table("_ph_table", "tg__ph_table", _ph_table))
for _which in ("sin", "cos", "tan"):
    register_routine(
        Routine(_which, 1, functools.partial(_trig_body, which=_which), ("_ph_table",))
    )
