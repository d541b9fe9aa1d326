"""Shared pieces of the routine files (:mod:`tracegrad.llvm.mathlib.library` and its parts):
exact constants and coefficient tables, and :class:`MathBuilder`, the LLVM IR text builder
(:class:`tracegrad.llvm.text.builder.Builder`) with the double-precision vocabulary the
function bodies are emitted with. Every name without an underscore is shared with the
routine files."""

from __future__ import annotations

import functools
import struct
from decimal import Decimal, localcontext
from fractions import Fraction
from math import factorial

from tracegrad.llvm.text import builder as text

# ----------------------------------------------------------------------------------------------
# Constants
# ----------------------------------------------------------------------------------------------


def double_from_bits(b: int) -> float:
    """The double whose IEEE bits are ``b``."""
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def from_words(hi: int, lo: int) -> float:
    """Double from two 32-bit words, the way fdlibm lists its coefficients."""
    return double_from_bits((hi << 32) | lo)


@functools.cache
def pi_fixed(bits: int) -> int:
    """floor(pi * 2**bits) by Machin's formula in integer arithmetic (guard bits added)."""
    guard = 32
    one = 1 << (bits + guard)

    def arctan_inv(n: int) -> int:
        total, term, k, sign = 0, one // n, 1, 1
        n2 = n * n
        while term:
            total += sign * (term // k)
            term //= n2
            k += 2
            sign = -sign
        return total

    pi = 4 * (4 * arctan_inv(5) - arctan_inv(239))
    return pi >> guard


def _fx_to_double_parts(num: int, bits: int, parts: int) -> list[float]:
    """Split the fixed-point value num/2**bits into `parts` doubles (each the rounded rest)."""
    out = []
    rest = Fraction(num, 1 << bits)
    for _ in range(parts):
        d = float(rest)
        out.append(d)
        rest -= Fraction(d)
    return out


_PI_BITS = 256  # enough for 3 doubles of pi/2; the Payne-Hanek table uses 1400 bits lazily
PIO2 = _fx_to_double_parts(pi_fixed(_PI_BITS), _PI_BITS + 1, 3)  # pi/2 in 3 parts
TWO_OVER_PI = float(Fraction(1 << (_PI_BITS + 1), pi_fixed(_PI_BITS)))


def _ln2_parts() -> tuple[float, float, float, float]:
    with localcontext() as ctx:
        ctx.prec = 60
        ln2 = Decimal(2).ln()
        hi = float(ln2)
        lo = float(ln2 - Decimal(hi))
        # A 42-bit head: k*hi is exact for |k| < 2^11 and k*hi + log(c) (2^-43 grid) too.
        hi42 = float(round(ln2 * (1 << 42))) / (1 << 42)
        lo42 = float(ln2 - Decimal(hi42))
    return hi, lo, hi42, lo42


LN2_HI, LN2_LO, LN2_HI42, LN2_LO42 = _ln2_parts()
LOG2E = float(1 / Fraction(Decimal(2).ln()))  # 1/ln2 rounded (60 digits are plenty)

# fdlibm e_log.c minimax coefficients for log(1+f) = f - hfsq + s*(hfsq + R(z)).
LOG_LG = [
    from_words(0x3FE55555, 0x55555593),
    from_words(0x3FD99999, 0x9997FA04),
    from_words(0x3FD24924, 0x94229359),
    from_words(0x3FCC71C5, 0x1D8E78AF),
    from_words(0x3FC74664, 0x96CB03DE),
    from_words(0x3FC39A09, 0xD078C69F),
    from_words(0x3FC2F112, 0xDF3E5244),
]
FDLIBM_LN2_HI = from_words(0x3FE62E42, 0xFEE00000)
FDLIBM_LN2_LO = from_words(0x3DEA39EF, 0x35793C76)

# fdlibm __kernel_sin / __kernel_cos coefficients (|x| <= pi/4).
SIN_COEFFS = [
    from_words(0xBFC55555, 0x55555549),
    from_words(0x3F811111, 0x1110F8A6),
    from_words(0xBF2A01A0, 0x19C161D5),
    from_words(0x3EC71DE3, 0x57B1FE7D),
    from_words(0xBE5AE5E6, 0x8A2B9CEB),
    from_words(0x3DE5D93A, 0x5ACFD57C),
]
COS_COEFFS = [
    from_words(0x3FA55555, 0x5555554C),
    from_words(0xBF56C16C, 0x16C15177),
    from_words(0x3EFA01A0, 0x19CB1590),
    from_words(0xBE927E4F, 0x809C52AD),
    from_words(0x3E21EE9E, 0xBDB4B1C4),
    from_words(0xBDA8FAE9, 0xBE8838D4),
]

EXP_TAYLOR = [1.0 / factorial(n) for n in range(14)]  # exp(r), |r| <= 0.347: degree 13
EXPM1_Q = [1.0 / factorial(n) for n in range(2, 15)]  # (expm1(r) - r)/r^2 coefficients
LOG1P_Q = [2.0 * (-1) ** n / n for n in range(3, 12)]  # pow log: log1p(r) tail / (-r^3/2)

# ----------------------------------------------------------------------------------------------
# The routines' builder (double-precision operations only)
# ----------------------------------------------------------------------------------------------

D = "double"
_SHIFTER = 6755399441055744.0  # 0x1.8p52: adding it rounds to an integer kept in the low bits


def c(v: float) -> str:
    """The exact LLVM constant of a double."""
    return text.float_literal(v)


class MathBuilder(text.Builder):
    """The text builder with double-precision arithmetic, bit tricks and the compound steps
    the routines share (Horner, Estrin, TwoSum, 2^k); every method returns the name of its
    result (``%v1``, ``%v2``, ...)."""

    default_hint = "v"

    # floating point
    def add(self, a: str, b: str) -> str:
        return self.emit(f"fadd double {a}, {b}")

    def sub(self, a: str, b: str) -> str:
        return self.emit(f"fsub double {a}, {b}")

    def mul(self, a: str, b: str) -> str:
        return self.emit(f"fmul double {a}, {b}")

    def div(self, a: str, b: str) -> str:
        return self.emit(f"fdiv double {a}, {b}")

    def neg(self, a: str) -> str:
        return self.emit(f"fneg double {a}")

    def fma(self, a: str, b: str, d: str) -> str:
        return self.emit(f"call double @llvm.fma.f64(double {a}, double {b}, double {d})")

    def fabs(self, a: str) -> str:
        return self.emit(f"call double @llvm.fabs.f64(double {a})")

    def rint(self, a: str) -> str:
        return self.emit(f"call double @llvm.rint.f64(double {a})")

    def floor(self, a: str) -> str:
        return self.emit(f"call double @llvm.floor.f64(double {a})")

    def fcmp(self, pred: str, a: str, b: str) -> str:
        return self.emit(f"fcmp {pred} double {a}, {b}")

    def sel(self, cond: str, a: str, b: str, ty: str = D) -> str:
        return self.emit(f"select i1 {cond}, {ty} {a}, {ty} {b}")

    def call(self, fn: str, *args: str) -> str:
        return self.emit(f"call double @{fn}(" + ", ".join(f"double {a}" for a in args) + ")")

    # integer / bits
    def to_bits(self, a: str) -> str:
        return self.emit(f"bitcast double {a} to i64")

    def from_bits(self, a: str) -> str:
        return self.emit(f"bitcast i64 {a} to double")

    def i(self, op: str, a: str, b: str | int, ty: str = "i64") -> str:
        return self.emit(f"{op} {ty} {a}, {b}")

    def icmp(self, pred: str, a: str, b: str | int) -> str:
        return self.emit(f"icmp {pred} i64 {a}, {b}")

    def and1(self, a: str, b: str) -> str:
        return self.emit(f"and i1 {a}, {b}")

    def or1(self, a: str, b: str) -> str:
        return self.emit(f"or i1 {a}, {b}")

    def not1(self, a: str) -> str:
        return self.emit(f"xor i1 {a}, true")

    def load_table(self, table: str, size: int, idx: str) -> str:
        """table[idx] from a constant [size x double] global (a gather once vectorized)."""
        p = self.emit(f"getelementptr inbounds [{size} x double], ptr @{table}, i64 0, i64 {idx}")
        return self.emit(f"load double, ptr {p}, align 8")

    # compound helpers
    def horner(self, x: str, coeffs: list[float]) -> str:
        """coeffs[0] + x*(coeffs[1] + x*(...)) by FMA."""
        acc = c(coeffs[-1])
        for k in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, c(k))
        return acc

    def estrin(self, x: str, coeffs: list[float]) -> str:
        """coeffs[0] + coeffs[1]*x + ... by Estrin's scheme: pairs, then x^2, x^4...
        About log2(n) dependent FMAs instead of Horner's n: the vector loops that evaluate
        these polynomials are latency-bound, not throughput-bound. Use it for tails whose
        rounding is scaled down by the caller (a Horner head keeps the large terms exact)."""
        terms = [c(k) for k in coeffs]
        power = x
        while len(terms) > 1:
            paired = [self.fma(terms[i + 1], power, terms[i]) for i in range(0, len(terms) - 1, 2)]
            terms = paired + terms[len(paired) * 2 :]
            if len(terms) > 1:
                power = self.mul(power, power)
        return terms[0]

    def two_sum(self, a: str, b: str) -> tuple[str, str]:
        """Knuth TwoSum: s + e == a + b exactly, for any magnitudes."""
        s = self.add(a, b)
        bb = self.sub(s, a)
        e = self.add(self.sub(a, self.sub(s, bb)), self.sub(b, bb))
        return s, e

    def fast_two_sum(self, a: str, b: str) -> tuple[str, str]:
        """Dekker: exact when |a| >= |b| (or a == 0)."""
        s = self.add(a, b)
        return s, self.add(self.sub(a, s), b)

    def pow2(self, kd: str) -> str:
        """2^kd for an integral double kd in [-1022, 1023].

        Adding 0x1.8p52 + 1023 puts kd + 1023 in the low mantissa bits; shifting them into the
        exponent field drops the rest.  No fp<->i64 conversion: AVX2 has no packed form."""
        t = self.to_bits(self.add(kd, c(_SHIFTER + 1023.0)))
        return self.from_bits(self.i("shl", t, 52))

    def low_int_bits(self, kd: str) -> str:
        """i64 whose low bits are the two's complement of an integral double |kd| < 2^51."""
        return self.to_bits(self.add(kd, c(_SHIFTER)))

    def exponent_as_double(self, tmp: str) -> str:
        """(double)(tmp >> 52) for an i64 tmp, through i32 (packed on AVX2)."""
        hi = self.emit(f"trunc i64 {self.i('ashr', tmp, 52)} to i32")
        return self.emit(f"sitofp i32 {hi} to double")

    def clamp_nan0(self, x: str, lo: float, hi: float) -> str:
        """x clamped to [lo, hi] with NaN mapped to 0 (keeps the integer tricks well defined)."""
        t = self.sel(self.fcmp("ogt", x, c(hi)), c(hi), x)
        t = self.sel(self.fcmp("olt", t, c(lo)), c(lo), t)
        return self.sel(self.fcmp("uno", x, x), c(0.0), t)

    def corrected_div(self, num: str, d: str, dl: str) -> str:
        """num / (d + dl) with the rounding of d + dl and of the quotient compensated."""
        q0 = self.div(num, d)
        res = self.sub(self.fma(self.neg(q0), d, num), self.mul(q0, dl))
        return self.add(q0, self.div(res, d))


MIN_NORMAL = 2.0**-1022
INF = float("inf")
NAN = "0x7FF8000000000000"

# The name routine files annotate their builder argument with (atan.py and routines
# added later: the registry interface stays ``Builder`` plus the constants above).
Builder = MathBuilder
