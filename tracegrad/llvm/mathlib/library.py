"""Vectorizable math library emitted as LLVM IR text.

Every public function is a branch-free ``define internal ... alwaysinline`` body built only from
arithmetic, ``select``, integer/bit operations and intrinsics that lower to single instructions
(``llvm.fma``, ``llvm.rint``, ``llvm.floor``, ``llvm.fabs``).  After inlining, the loop vectorizer
turns a loop calling them into packed zmm code with no libm calls.  No fast-math flags are used:
NaN, +-inf, signed zeros, subnormal inputs and results follow numpy/C99.

Use :func:`module_math_ir` to get the text for a set of ``(name, dtype)`` pairs: it adds the
dependencies (other math functions and constant tables) and emits each definition once.
Intrinsic declarations are not emitted (LLVM 22 declares intrinsics implicitly when parsing).

Algorithms (all float64 internally; the float32 versions extend to double, call the float64
function and round once, so their error is at most 0.5 + 2^-28 float32 ulp):

* exp: clamp to [-746, 710], k = rint(x/ln2), Cody-Waite reduction r = x - k*ln2 with FMA
  (exact first step), degree-13 Taylor series (Horner/FMA for the three largest terms, Estrin
  for the tail: the vector loops are latency-bound, and Estrin's chain is 4 FMAs deep instead
  of 10; single-thread logistic gradient 2.6 -> 2.3 ns/element), then scaling by 2^k in two steps
  ``2^(k>>1) * 2^(k - (k>>1))`` so overflow, gradual underflow and subnormal rounding are right.
* expm1: the same reduction, q = expm1(r) = r + r^2*P(r) (P likewise), result
  ``2*fma(s, q, s - 1/2)`` with s = 2^(k-1) (one rounding, no cancellation problem);
  |x| < 2^-54 returns x (keeps -0).
* log: fdlibm e_log.c made branch-free (subnormals prescaled by 2^54, mantissa in
  [sqrt(2)/2, sqrt(2)) by the musl bit trick, s = f/(2+f) and the Lg1..Lg7 minimax polynomial).
* log1p: u = 1 + x with its exact TwoSum rounding error e; log(u) as above plus the e/u correction.
* tanh: sign(x) * e/(e+2) with e = expm1(2|x|); the division is corrected with the exact error
  of e+2 and a residual fma, |x| < 2^-28 returns x, |x| > 22 saturates.
* sigmoid: e = exp(-|x|), (x >= 0 ? 1 : e) / (1 + e) with the same corrected division.
* softplus: max(x, 0) + log1p(exp(-|x|)).
* sin, cos, tan: |x| < 2^30: Cody-Waite with a 3-part pi/2 and FMA giving the reduced argument as a
  double-double; |x| >= 2^30 (up to 1.8e308): Payne-Hanek in double arithmetic, branch-free, with
  a 994 x 4 table of (2^E * 2/pi mod 4) chunks (gathered by exponent) and error-free
  products.  Kernels are fdlibm __kernel_sin/__kernel_cos (using the tail of the reduced
  argument); tan = s/c or -c/s by quadrant.  Both reductions are computed for every lane and
  selected (branch-free), so the cost is paid for all inputs.
* pow: C99/numpy special cases by select; the core is exp(y*log|x|) with log as a double-double
  (ARM optimized-routines' pow log: 128-entry table of 1/c and log(c) hi/lo, exact r = z/c - 1,
  Taylor series to degree 11 for |r| < 1/128) and an exp that takes a double-double argument.

Measured max error in ulp of the target dtype (tests/llvm/test_mathlib.py, ~200k random inputs per
function spanning the full range plus special regions, reference numpy longdouble):

    ========  =====  =====  ==================================================
    function  f64    f32    f64 worst input seen
    ========  =====  =====  ==================================================
    exp       0.85   0.50   exp(277.6)
    expm1     1.80   0.50   expm1(0.3737) (k = 1, final fma rounding)
    log       0.79   0.50   log(0.7011)
    log1p     0.79   0.50   log1p(-0.2989)
    sin       0.77   0.50   sin(-1.17e102) (Payne-Hanek lane)
    cos       0.77   0.50   cos(-5.72e91)
    tan       2.07   0.50   tan(-2.23e170) (s/c: two kernels plus a division)
    tanh      1.91   0.50   tanh(-0.2047)
    sigmoid   1.48   0.50   sigmoid(-4.848)
    softplus  1.56   0.50   softplus(0.3965)
    pow       1.00   0.50   pow(5.69e37, 0.777); double-double log error ~2^-63
    atan2     0.75   0.50   atan2(2.2e-304, 2854.3) (fdlibm atan, exact octant)
    atan      0.72   0.50   atan(1.456) (atan2(x, 1))
    ========  =====  =====  ==================================================

The asserted bounds are in :data:`MAX_ULP`.  sin/cos/tan are accurate over the whole double
range (no argument bound).  Cost: the trig functions run both reductions and both kernels for
every lane (~170 AVX2 instructions per 4 elements), about 2.4x the Cody-Waite-only cost.

Dependencies: tanh -> expm1; sigmoid -> exp; softplus -> exp, log1p; sin/cos/tan -> the
``_ph_table`` constant; pow -> the ``_pow_log_table`` constant; every float version -> its double
version.  Integer conversions use the 0x1.8p52 "shifter" trick and i32 exponents because AVX2
(znver3) has no packed double <-> i64 conversion; the code is also packed on AVX-512.
"""

from __future__ import annotations

import functools

from tracegrad.ir.prims import PRIMS

# the routine modules register their routines and tables on import
from tracegrad.llvm.mathlib import atan, exp_log, power, trig  # noqa: F401
from tracegrad.llvm.mathlib.core import D as D
from tracegrad.llvm.mathlib.core import MathBuilder, c
from tracegrad.llvm.mathlib.registry import ROUTINES, TABLES

__all__ = [
    "MATH_FUNCTIONS",
    "MAX_ULP",
    "math_dependencies",
    "math_function_ir",
    "math_function_name",
    "math_routine_arity",
    "module_math_ir",
]

MATH_FUNCTIONS: tuple[str, ...] = tuple(ROUTINES)


def _bounds() -> dict[str, dict[str, float]]:
    """Asserted bounds (ulp of the result dtype) used by the tests; docs quote this table.  A
    routine backing a primitive row has the row's bound (float64: the design's target, the
    measured maxima are in the module docstring; float32: the float64 routine rounded once,
    0.5 + 2.1 * 2^-29 ulp, so 0.501 asserts "correctly rounded up to double-rounding ties")."""
    rows = {
        p.scalar.routine.name: p.scalar.routine
        for p in PRIMS.values()
        if p.scalar is not None and p.scalar.routine is not None
    }
    out: dict[str, dict[str, float]] = {"double": {}, "float": {}}
    for name, routine in ROUTINES.items():
        row = rows.get(name)
        f64 = row.ulp_f64 if row is not None else routine.ulp_f64
        if f64 is None:
            raise ValueError(f"math routine {name!r} has no ulp bound (no row, none declared)")
        out["double"][name] = f64
        out["float"][name] = row.ulp_f32 if row is not None else 0.501
    return out


MAX_ULP: dict[str, dict[str, float]] = _bounds()

_SUFFIX = {"double": "f64", "float": "f32"}
_PARAMS = ("x", "y")
_ATTRS = "alwaysinline nounwind willreturn"


def _check(name: str, dtype: str) -> None:
    if dtype not in _SUFFIX:
        raise ValueError(f"dtype must be 'float' or 'double', got {dtype!r}")
    if name not in ROUTINES and not (name in TABLES and dtype == "double"):
        raise ValueError(f"unknown math function {name!r}")


def math_routine_arity(name: str) -> int:
    """How many arguments the routine takes (1 or 2)."""
    _check(name, "double")
    return ROUTINES[name].arity


def math_function_name(name: str, dtype: str) -> str:
    """Symbol of the definition, e.g. ``tg_exp_f64``."""
    _check(name, dtype)
    if name in TABLES:
        return TABLES[name].symbol
    return f"tg_{name}_{_SUFFIX[dtype]}"


def math_dependencies(name: str, dtype: str = "double") -> tuple[tuple[str, str], ...]:
    """Direct dependencies ``(name, dtype)`` of one definition (names starting with ``_`` are
    constant tables).  :func:`module_math_ir` resolves them transitively."""
    _check(name, dtype)
    if name in TABLES:
        return ()
    if dtype == "float":
        return ((name, "double"),)
    return tuple((d, "double") for d in ROUTINES[name].deps)


def _table_ir(name: str) -> str:
    table = TABLES[name]
    vals = table.values()
    body = ", ".join(f"double {c(v)}" for v in vals)
    return (
        f"@{table.symbol} = internal unnamed_addr constant [{len(vals)} x double] [{body}], "
        "align 64\n"
    )


def _f32_wrapper_ir(name: str) -> str:
    sym = math_function_name(name, "float")
    inner = math_function_name(name, "double")
    params = _PARAMS[: ROUTINES[name].arity]
    lines = [
        f"define internal float @{sym}({', '.join(f'float %{p}' for p in params)}) {_ATTRS} {{"
    ]
    for p in params:
        lines.append(f"  %{p}.d = fpext float %{p} to double")
    args = ", ".join(f"double %{p}.d" for p in params)
    lines.append(f"  %r = call double @{inner}({args})")
    lines.append("  %t = fptrunc double %r to float")  # the only rounding to float
    lines.append("  ret float %t")
    lines.append("}")
    return "\n".join(lines) + "\n"


@functools.cache
def math_function_ir(name: str, dtype: str) -> str:
    """IR text of one definition (a function, or a constant table for ``_``-names).

    Dependencies are not included; use :func:`module_math_ir` to build a complete set."""
    _check(name, dtype)
    if name in TABLES:
        return _table_ir(name)
    if dtype == "float":
        return _f32_wrapper_ir(name)
    routine = ROUTINES[name]
    params = _PARAMS[: routine.arity]
    b = MathBuilder()
    res = routine.body(b, *(f"%{p}" for p in params))
    sym = math_function_name(name, dtype)
    head = f"define internal double @{sym}({', '.join(f'double %{p}' for p in params)}) {_ATTRS} {{"
    return "\n".join([head, *b.lines, f"  ret double {res}", "}"]) + "\n"


def _closure(items: set[tuple[str, str]] | list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    stack = sorted(set(items))
    while stack:
        item = stack.pop()
        if item in seen:
            continue
        seen[item] = None
        stack.extend(math_dependencies(*item))
    return sorted(seen)


def module_math_ir(names_and_dtypes: set[tuple[str, str]] | list[tuple[str, str]]) -> str:
    """Definitions of the requested ``(name, dtype)`` functions plus their dependencies, each
    exactly once, in a deterministic order (suitable for caching on the IR text)."""
    return "\n".join(math_function_ir(n, d) for n, d in _closure(names_and_dtypes))
