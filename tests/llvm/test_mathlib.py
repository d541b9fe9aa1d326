"""Accuracy, special values and vectorization of tracegrad.llvm.mathlib.library.

Each function is compiled into a loop kernel at O3 with the host target machine, run on ~200k
inputs (full exponent range, both signs, plus function-specific regions) and on an edge-case
list, and compared against numpy longdouble (x87 80-bit on this machine) in ulps of the target
dtype.  Special values (NaN, inf, signed zero) must agree exactly.
"""

from __future__ import annotations

import ctypes
import functools
import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _jit_for_tests import Compiled, compile_ir  # noqa: E402

from tracegrad.ir.prims import PRIMS  # noqa: E402
from tracegrad.llvm.mathlib import library as mathlib  # noqa: E402
from tracegrad.testing import ulp  # noqa: E402

LD = np.longdouble
DTYPES = {"double": np.float64, "float": np.float32}
N_RANDOM = 100_000  # full-range part; the function-specific part has the same size

pytestmark = pytest.mark.skipif(
    not ulp.exact_reference_available(), reason="needs 80-bit long double for the reference"
)


# ------------------------------------------------------------------------------------------------
# kernels
# ------------------------------------------------------------------------------------------------


def kernel_ir(name: str, dtype: str) -> str:
    """`void k(ptr a, [ptr b,] ptr out, i64 n)`: out[i] = f(a[i] [, b[i]])."""
    sym = mathlib.math_function_name(name, dtype)
    ty = dtype
    binary = mathlib.math_routine_arity(name) == 2
    params = ["ptr noalias %a"] + (["ptr noalias %b"] if binary else []) + ["ptr noalias %o"]
    load_b = (
        f"  %pb = getelementptr inbounds {ty}, ptr %b, i64 %i\n  %y = load {ty}, ptr %pb\n"
        if binary
        else ""
    )
    args = f"{ty} %x, {ty} %y" if binary else f"{ty} %x"
    return f"""
define void @k({", ".join(params)}, i64 %n) {{
entry:
  %c = icmp sgt i64 %n, 0
  br i1 %c, label %loop, label %exit
loop:
  %i = phi i64 [0, %entry], [%i1, %loop]
  %pa = getelementptr inbounds {ty}, ptr %a, i64 %i
  %x = load {ty}, ptr %pa
{load_b}  %r = call {ty} @{sym}({args})
  %po = getelementptr inbounds {ty}, ptr %o, i64 %i
  store {ty} %r, ptr %po
  %i1 = add nuw nsw i64 %i, 1
  %d = icmp eq i64 %i1, %n
  br i1 %d, label %exit, label %loop
exit:
  ret void
}}
"""


@functools.cache
def compiled(name: str, dtype: str) -> tuple[Compiled, object]:
    ir = mathlib.module_math_ir({(name, dtype)}) + kernel_ir(name, dtype)
    comp = compile_ir(ir, want_asm=True)
    nptr = 1 + mathlib.math_routine_arity(name)
    fn = comp.function("k", *([ctypes.c_void_p] * nptr), ctypes.c_int64)
    return comp, fn


def run(name: str, dtype: str, *arrays: np.ndarray) -> np.ndarray:
    _, fn = compiled(name, dtype)
    ins = [np.ascontiguousarray(a, dtype=DTYPES[dtype]) for a in arrays]
    out = np.empty_like(ins[0])
    fn(*(a.ctypes.data for a in ins), out.ctypes.data, out.size)
    return out


# ------------------------------------------------------------------------------------------------
# references (long double)
# ------------------------------------------------------------------------------------------------


def _sigmoid_ld(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _softplus_ld(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, LD(0)) + np.log1p(np.exp(-np.abs(x)))


# a routine backing a primitive row is checked against the row's numpy function
REFERENCE = {
    **{
        p.scalar.routine.name: p.numpy_impl
        for p in PRIMS.values()
        if p.scalar is not None and p.scalar.routine is not None
    },
    "sigmoid": _sigmoid_ld,
    "softplus": _softplus_ld,
}


def reference(name: str, *arrays: np.ndarray) -> np.ndarray:
    return ulp.reference(REFERENCE[name], *arrays)


# ------------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------------


def full_range(dtype: str, n: int, rng: np.random.Generator, positive: bool = False) -> np.ndarray:
    """Random sign, exponent field uniform (log-uniform magnitudes incl. subnormals), mantissa."""
    if dtype == "double":
        e = rng.integers(0, 2047, n, dtype=np.uint64)
        m = rng.integers(0, 1 << 52, n, dtype=np.uint64)
        bits = (e << np.uint64(52)) | m
        if not positive:
            bits |= rng.integers(0, 2, n, dtype=np.uint64) << np.uint64(63)
        return bits.view(np.float64)
    e = rng.integers(0, 255, n, dtype=np.uint32)
    m = rng.integers(0, 1 << 23, n, dtype=np.uint32)
    bits = (e << np.uint32(23)) | m
    if not positive:
        bits |= rng.integers(0, 2, n, dtype=np.uint32) << np.uint32(31)
    return bits.view(np.float32)


def _logu(rng: np.random.Generator, lo: float, hi: float, n: int, signed: bool = True):
    v = 10.0 ** rng.uniform(lo, hi, n)
    return v * rng.choice([-1.0, 1.0], n) if signed else v


def region(name: str, dtype: str, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Function-specific inputs (returns one array, or two for pow)."""
    f32 = dtype == "float"
    k = n // 4
    u = rng.uniform
    ov, un = (88.8, -103.9) if f32 else (709.8, -745.2)
    if name == "exp":
        parts = [u(un, ov, 2 * k), u(-1, 1, k), _logu(rng, -20, 0, k)]
    elif name == "expm1":
        parts = [u(-40, ov, 2 * k), u(-1, 1, k), _logu(rng, -20, 0, k)]
    elif name in ("log", "log1p"):
        one = 0.0 if name == "log1p" else 1.0
        parts = [
            one + u(-0.3, 0.3, k),
            one + _logu(rng, -16, -1, k),
            u(0, 3, k),
            -1 + _logu(rng, -16, 0, k, signed=False) if name == "log1p" else u(0, 1e-300, k),
        ]
    elif name in ("sin", "cos", "tan"):
        mult = rng.integers(-(10**6), 10**6, k) * (np.pi / 2)
        parts = [u(-10, 10, k), u(-1e6, 1e6, k), mult + u(-1e-9, 1e-9, k), _logu(rng, 5, 25, k)]
    elif name == "atan":  # the reduction boundaries 7/16, 11/16, 1 and large arguments
        parts = [u(-3, 3, k), rng.choice([7 / 16, 11 / 16, 1.0], k) + u(-1e-3, 1e-3, k)]
        parts += [_logu(rng, -20, 300 if not f32 else 38, 2 * k)]
    elif name == "tanh":
        parts = [u(-20, 20, 2 * k), _logu(rng, -10, 1.3, 2 * k)]
    elif name in ("sigmoid", "softplus"):
        parts = [u(un - 5, 40, 2 * k), u(-40, 40, k), _logu(rng, -20, 0, k)]
    elif name == "pow":
        return pow_region(dtype, n, rng)
    elif name == "atan2":
        return atan2_region(dtype, n, rng)
    else:
        raise KeyError(name)
    return [np.concatenate(parts).astype(DTYPES[dtype])]


def pow_region(dtype: str, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    f32 = dtype == "float"
    k = n // 4
    lo_t, hi_t = (-103.0, 88.7) if f32 else (-745.0, 709.7)
    # x over the whole positive range, y chosen so that x**y spans the whole result range
    x1 = np.abs(full_range(dtype, k, rng, positive=True)).astype(np.float64)
    x1 = x1[(x1 != 1) & (x1 > 0) & np.isfinite(x1)]
    y1 = rng.uniform(lo_t, hi_t, x1.size) / np.log(x1)
    # x near 1 with large exponents
    x2 = 1 + _logu(rng, -12 if not f32 else -6, -1, k)
    y2 = rng.uniform(lo_t, hi_t, k) / np.log(x2)
    # negative bases with integer exponents
    x3 = -(10.0 ** rng.uniform(-3, 3, k))
    y3 = rng.integers(-60, 60, k).astype(np.float64)
    # plain moderate values
    x4 = 10.0 ** rng.uniform(-5, 5, k)
    y4 = rng.uniform(-30, 30, k)
    dt = DTYPES[dtype]
    return [
        np.concatenate([x1, x2, x3, x4]).astype(dt),
        np.concatenate([y1, y2, y3, y4]).astype(dt),
    ]


def atan2_region(dtype: str, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """(y, x): every angle at radii over the whole range, angles next to the octant and
    reduction boundaries (multiples of pi/4, |y/x| = 7/16 and 11/16), and tiny ratios."""
    k = n // 4
    top = 35 if dtype == "float" else 305
    r = 10.0 ** rng.uniform(-top, top, 3 * k)
    edges = np.arange(-8, 9) * (np.pi / 4)
    special = np.concatenate([edges, np.arctan([7 / 16, 11 / 16]), -np.arctan([7 / 16, 11 / 16])])
    theta = np.concatenate(
        [
            rng.uniform(-np.pi, np.pi, k),
            rng.choice(edges, k) + _logu(rng, -16, -1, k),
            rng.choice(special, k) + rng.uniform(-1e-6, 1e-6, k),
        ]
    )
    x = full_range(dtype, k, rng).astype(np.float64)
    x = np.where(np.isfinite(x), x, 1.0)
    y = x * _logu(rng, -300 if dtype == "double" else -30, -2, k)
    dt = DTYPES[dtype]
    with np.errstate(all="ignore"):
        ys = np.concatenate([r * np.sin(theta), y]).astype(dt)
        xs = np.concatenate([r * np.cos(theta), x]).astype(dt)
    return [ys, xs]


def edge_values(dtype: str) -> np.ndarray:
    fi = np.finfo(DTYPES[dtype])
    vals = [
        0.0,
        np.inf,
        np.nan,
        fi.smallest_subnormal,
        fi.smallest_subnormal * 3,
        fi.smallest_normal,
        fi.smallest_normal * 0.75,
        fi.max,
        1.0,
        2.0,
        0.5,
        1e-310 if dtype == "double" else 1e-40,
        1e-20,
        1e-8,
        0.25,
        np.pi / 4,
        np.pi / 2,
        np.pi,
        3 * np.pi / 2,
        10.0,
        19.0,
        20.0,
        22.0,
        30.0,
        36.0,
        37.0,
        38.0,
        45.0,
        100.0,
        1e10,
        1e22,
        1e300 if dtype == "double" else 1e30,
        2.0**30,
        2.0**30 * (1 - 2**-20),
        # exp/expm1 overflow and underflow thresholds
        709.782712893384,
        709.7827128933841,
        709.78271289338397,
        745.1332191019411,
        745.1332191019412,
        744.44007192138121,
        708.39641853226408,
        88.72283935546875,
        88.72284,
        103.97208,
        103.27893,
        87.33654,
    ]
    v = np.array(vals, dtype=np.float64)
    v = np.concatenate([v, -v, np.nextafter(v, np.inf), np.nextafter(v, -np.inf)])
    with np.errstate(all="ignore"):
        return v.astype(DTYPES[dtype])


def binary_edges(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of special and boundary values (signed zeros, infinities, NaN, subnormals,
    the largest finite, integers odd and even, values next to 1)."""
    fi = np.finfo(DTYPES[dtype])
    odd = 9007199254740991.0 if dtype == "double" else 16777215.0
    xs = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 10.0]
    xs += [fi.smallest_subnormal, -fi.smallest_subnormal, fi.max, -fi.max, 1 + fi.eps, 1 - fi.eps]
    ys = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.5, -0.5, 1.5]
    ys += [odd, -odd, 2 * odd + 2, 1e30, -1e30, 1023.0, 1024.0, -1074.0, -1075.0, 1e-300, 1e-30]
    gx, gy = np.meshgrid(np.array(xs), np.array(ys))
    dt = DTYPES[dtype]
    with np.errstate(all="ignore"):
        return gx.ravel().astype(dt), gy.ravel().astype(dt)


# ------------------------------------------------------------------------------------------------
# tests
# ------------------------------------------------------------------------------------------------

CASES = [(n, d) for n in mathlib.MATH_FUNCTIONS for d in ("double", "float")]


def _report(name: str, err: np.ndarray, inputs: list[np.ndarray], got, ref) -> str:
    i = int(np.argmax(err))
    args = ", ".join(repr(a[i].item()) for a in inputs)
    return f"{name}({args}) = {got[i]!r}, ref {ref[i]!r}, err {err[i]:.3g} ulp"


@pytest.mark.parametrize(("name", "dtype"), CASES)
def test_accuracy(name: str, dtype: str) -> None:
    rng = np.random.default_rng(1234 + len(name) + len(dtype))
    if mathlib.math_routine_arity(name) == 2:
        xr, yr = region(name, dtype, N_RANDOM, rng)
        xf = full_range(dtype, N_RANDOM, rng)
        if name == "pow":  # moderate exponents: random ones over/underflow almost always
            yf = rng.uniform(-3, 3, N_RANDOM).astype(DTYPES[dtype])
        else:
            yf = full_range(dtype, N_RANDOM, rng)
        inputs = [np.concatenate([xr, xf]), np.concatenate([yr, yf])]
    else:
        parts = [full_range(dtype, N_RANDOM, rng), *region(name, dtype, N_RANDOM, rng)]
        inputs = [np.concatenate(parts)]
    got = run(name, dtype, *inputs)
    ref = reference(name, *inputs)
    err = ulp.ulp_error(got, ref)
    bound = mathlib.MAX_ULP[dtype][name]
    assert err.max() <= bound, _report(name, err, inputs, got, ref)


@pytest.mark.parametrize(("name", "dtype"), CASES)
def test_special_values(name: str, dtype: str) -> None:
    if mathlib.math_routine_arity(name) == 2:
        inputs = list(binary_edges(dtype))
    else:
        inputs = [edge_values(dtype)]
    got = run(name, dtype, *inputs)
    ref = reference(name, *inputs)
    ref_r = ref.astype(DTYPES[dtype])
    # exact class agreement: NaN positions, infinities with sign, zeros with sign
    assert np.array_equal(np.isnan(got), np.isnan(ref_r)), _report(
        name, (np.isnan(got) != np.isnan(ref_r)).astype(float), inputs, got, ref
    )
    err = ulp.ulp_error(got, ref)
    bound = mathlib.MAX_ULP[dtype][name]
    assert err.max() <= bound, _report(name, err, inputs, got, ref)


_LIBM = r"(exp|expm1|log|log1p|sin|cos|tan|tanh|pow|sincos|exp2|__\w+)(f|l)?"


@pytest.mark.parametrize(("name", "dtype"), CASES)
def test_vectorized_no_libm(name: str, dtype: str) -> None:
    comp, _ = compiled(name, dtype)
    asm = comp.asm
    packed = re.findall(r"\bv\w+p[sd]\b[^\n]*%[yz]mm", asm)
    assert len(packed) >= 10, f"no packed vector arithmetic for {name}/{dtype}"
    calls = re.findall(r"\b(?:call|jmp)\w*\s+\*?([\w@.]+)", asm)
    bad = [c for c in calls if re.fullmatch(_LIBM + r"(@\w+)?", c) or "ZGV" in c]
    assert not bad, f"libm calls in {name}/{dtype}: {bad}"
    assert not re.search(r"\bcall", asm), f"unexpected call in {name}/{dtype}"


def test_module_emits_each_definition_once() -> None:
    text = mathlib.module_math_ir(
        {("tanh", "float"), ("tanh", "double"), ("softplus", "double"), ("sigmoid", "float")}
    )
    defs = re.findall(r"^define internal \w+ @(\w+)", text, flags=re.M)
    assert len(defs) == len(set(defs))
    assert set(defs) == {
        "tg_tanh_f32",
        "tg_tanh_f64",
        "tg_expm1_f64",
        "tg_softplus_f64",
        "tg_exp_f64",
        "tg_log1p_f64",
        "tg_sigmoid_f32",
        "tg_sigmoid_f64",
    }
    assert mathlib.math_function_name("pow", "float") == "tg_pow_f32"
    assert ("expm1", "double") in mathlib.math_dependencies("tanh")


def test_signed_zero_results() -> None:
    z = np.array([0.0, -0.0])
    for name in ("expm1", "log1p", "sin", "tan", "tanh"):
        for dtype in ("double", "float"):
            got = run(name, dtype, z.astype(DTYPES[dtype]))
            assert list(np.signbit(got)) == [False, True], (name, dtype)
