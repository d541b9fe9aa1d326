"""arctan2 and arctan of :mod:`tracegrad.llvm.mathlib.library`: fdlibm's atan made branch-free.

atan2(y, x) = sign(y) * (A + s * atan(t)): with num = min(|x|, |y|), den = max(|x|, |y|) and
z = num/den in [0, 1], fdlibm's reduction picks c in {0, 1/2, 1} (z < 7/16, < 11/16, <= 1) and
t = (num - c*den) / (den + c*num), |t| <= 7/16, computed from num and den directly (the
numerator is exact by Sterbenz, the denominator's rounding and the quotient's remainder are
carried as a correction tl).  The octant constant A + s*atan(c) (A in {0, pi/2, pi}, s = +-1
by whether |y| > |x| and x's sign bit) is a double-double made exact with TwoSum, and atan(t)
is fdlibm's degree-22 odd minimax polynomial (aT[0..10], error < 2^-57 for |t| <= 7/16).
All lanes compute the same instructions (selects, no branches), so the loop vectorizes.

Special values follow C99/numpy: NaN in -> NaN; atan2(+-0, +0) = +-0, atan2(+-0, -0) = +-pi,
atan2(+-y, 0) = +-pi/2, atan2(+-inf, +inf) = +-pi/4, atan2(+-inf, -inf) = +-3pi/4,
atan2(+-y, +inf) = +-0 and atan2(+-y, -inf) = +-pi for finite y.  arctan(x) = atan2(x, 1).
"""

from __future__ import annotations

from fractions import Fraction

from tracegrad.llvm.mathlib.core import INF, NAN, Builder, c, from_words, pi_fixed
from tracegrad.llvm.mathlib.registry import Routine, register_routine

# fdlibm s_atan.c: atan(t) = t - t*(z*(aT0 + w*(aT2 + ...)) + w*(aT1 + w*(aT3 + ...))),
# z = t^2, w = z^2
_AT = [
    from_words(0x3FD55555, 0x5555550D),
    from_words(0xBFC99999, 0x9998EBC4),
    from_words(0x3FC24924, 0x920083FF),
    from_words(0xBFBC71C6, 0xFE231671),
    from_words(0x3FB745CD, 0xC54C206E),
    from_words(0xBFB3B0F2, 0xAF749A6D),
    from_words(0x3FB10D66, 0xA0D03D51),
    from_words(0xBFADDE2D, 0x52DEFD9A),
    from_words(0x3FA97B4B, 0x24760DEB),
    from_words(0xBFA2B444, 0x2C6A6C2F),
    from_words(0x3F90AD3A, 0xE322DA11),
]


def _split(value: Fraction) -> tuple[float, float]:
    """A double-double (hi, lo) for an exact rational."""
    hi = float(value)
    return hi, float(value - Fraction(hi))


def _atan_half() -> Fraction:
    """atan(1/2) to ~2^-200 by its Taylor series (terms shrink by 4 each)."""
    return sum(
        (Fraction((-1) ** n, (2 * n + 1) * 2 ** (2 * n + 1)) for n in range(110)), Fraction(0)
    )


_PI = Fraction(pi_fixed(256), 1 << 256)
_PI_HI, _PI_LO = _split(_PI)
_PIO2_HI, _PIO2_LO = _split(_PI / 2)
_ATAN_C = [(0.0, 0.0), _split(_atan_half()), _split(_PI / 4)]  # atan(0), atan(1/2), atan(1)
_BIG = 2.0**1000  # above this, den + c*num could overflow: scale by 1/4
_SMALL = 2.0**-900  # below this, scale by 2^200 (subnormals become normal)


def _octant(b: Builder, num: str, den: str) -> tuple[str, str, str, str]:
    """The reduction: (t, tl, atan(c) hi, atan(c) lo) with atan(num/den) = atan(c) +
    atan(t + tl) for 0 <= num <= den, den finite and nonzero."""
    # scale by a power of 2 (exact where it matters): den + c*num must not overflow, and
    # subnormal operands would make the quotient's remainder inexact
    scale = b.sel(b.fcmp("olt", den, c(_SMALL)), c(2.0**200), c(1.0))
    scale = b.sel(b.fcmp("ogt", den, c(_BIG)), c(0.25), scale)
    ns, ds = b.mul(num, scale), b.mul(den, scale)
    z = b.div(ns, ds)
    r1 = b.fcmp("oge", z, c(7 / 16))
    r2 = b.fcmp("oge", z, c(11 / 16))
    # c = 1/2: (2n - d) / (2d + n); c = 1: (n - d) / (d + n); numerators exact (Sterbenz)
    n1, (d1, d1l) = b.sub(b.add(ns, ns), ds), b.two_sum(b.add(ds, ds), ns)
    n2, (d2, d2l) = b.sub(ns, ds), b.two_sum(ds, ns)
    n = b.sel(r2, n2, b.sel(r1, n1, ns))
    d = b.sel(r2, d2, b.sel(r1, d1, ds))
    dl = b.sel(r2, d2l, b.sel(r1, d1l, c(0.0)))
    t = b.div(n, d)
    rem = b.sub(b.fma(b.neg(t), d, n), b.mul(t, dl))  # n - t*(d + dl), nearly exact
    tl = b.div(rem, d)
    hi = b.sel(r2, c(_ATAN_C[2][0]), b.sel(r1, c(_ATAN_C[1][0]), c(0.0)))
    lo = b.sel(r2, c(_ATAN_C[2][1]), b.sel(r1, c(_ATAN_C[1][1]), c(0.0)))
    return t, tl, hi, lo


def _atan_small(b: Builder, t: str, tl: str) -> str:
    """atan(t + tl) for |t| <= 7/16 and |tl| <~ ulp(t)."""
    z = b.mul(t, t)
    w = b.mul(z, z)
    s1 = b.mul(z, b.horner(w, _AT[0::2]))
    s2 = b.mul(w, b.horner(w, _AT[1::2]))
    corr = b.fma(b.neg(tl), z, tl)  # tl * atan'(t), atan'(t) ~ 1 - t^2
    return b.sub(t, b.fma(t, b.add(s1, s2), b.neg(corr)))  # one rounding after t


def _atan2_body(b: Builder, y: str, x: str) -> str:
    ax, ay = b.fabs(x), b.fabs(y)
    swap = b.fcmp("ogt", ay, ax)
    num = b.sel(swap, ax, ay)
    den = b.sel(swap, ay, ax)
    # den == 0 (both zeros) or den == inf: the octant constant alone is the answer (t = 0),
    # except inf/inf below; computing on (0, 1) keeps the reduction free of NaNs there
    special = b.or1(b.fcmp("oeq", den, c(0.0)), b.fcmp("oeq", den, c(INF)))
    num = b.sel(special, c(0.0), num)
    den = b.sel(special, c(1.0), den)
    t, tl, ac_hi, ac_lo = _octant(b, num, den)
    at = _atan_small(b, t, tl)

    xneg = b.icmp("slt", b.to_bits(x), 0)  # the sign bit: atan2(0, -0) = pi
    flip = b.emit(f"xor i1 {swap}, {xneg}")  # result = A - atan(num/den) in these octants
    a_hi = b.sel(swap, c(_PIO2_HI), b.sel(xneg, c(_PI_HI), c(0.0)))
    a_lo = b.sel(swap, c(_PIO2_LO), b.sel(xneg, c(_PI_LO), c(0.0)))
    s_hi, s_err = b.two_sum(a_hi, b.sel(flip, b.neg(ac_hi), ac_hi))
    s_lo = b.add(s_err, b.add(a_lo, b.sel(flip, b.neg(ac_lo), ac_lo)))
    res = b.add(s_hi, b.add(s_lo, b.sel(flip, b.neg(at), at)))

    both_inf = b.and1(b.fcmp("oeq", ax, c(INF)), b.fcmp("oeq", ay, c(INF)))
    diag = b.sel(xneg, c(float(3 * _PI / 4)), c(float(_PI / 4)))
    res = b.sel(both_inf, diag, res)
    res = b.sel(b.icmp("slt", b.to_bits(y), 0), b.neg(res), res)
    return b.sel(b.fcmp("uno", x, y), NAN, res)


def _atan_body(b: Builder, x: str) -> str:
    return _atan2_body(b, x, c(1.0))  # LLVM folds the constant operand's lanes away


register_routine(Routine("atan2", 2, _atan2_body))
register_routine(Routine("atan", 1, _atan_body))
