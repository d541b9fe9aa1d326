"""Scalar LLVM IR for each elementwise primitive, with numpy's exact semantics.

Choices that differ from the obvious LLVM instruction, all to match numpy bit for bit:

* maximum/minimum: numpy computes ``(a > b || isnan(a)) ? a : b`` (``<`` for minimum): NaN
  propagates from either side and on ties (``-0.0`` vs ``0.0``) the *second* operand wins.
  ``llvm.maximum`` orders -0 below +0 and would return +0 for ``maximum(0.0, -0.0)``, where
  numpy returns -0.0; so the select form is emitted (it still vectorizes to compare+blend).
* integer ``//`` and ``%``: the divisor is replaced by 1 where it is 0 or where the
  quotient overflows (``INT_MIN // -1``), so ``sdiv`` never traps; numpy's results (0 for
  division by zero, ``INT_MIN`` for the overflow) are then selected.
* float ``//`` and ``%``: numpy's ``npy_divmod`` written branch-free (``frem`` is C fmod).
* casts: :mod:`tracegrad.llvm.codegen.casts` (numpy's wrap, x86 float -> int semantics).
* unsigned dtypes share LLVM's integer types and use ``udiv``/``urem``/``icmp ult``/
  ``umax``/``zext``/``uitofp``; unsigned abs is the identity, division by zero gives 0.
* float16 is computed as numpy computes it: each operand extended to float, the float
  instruction or routine, the float result rounded to half once (exact for + - * / sqrt
  and the comparisons; transcendentals are within the float routine's bound plus half an
  ulp of float16).
* no fast-math flags anywhere (they break NaN, inf and signed zeros); no ``contract``.
* exp, log, log1p, expm1, sin, cos, tan, tanh, pow...: branch-free inline polynomials from
  :mod:`tracegrad.llvm.mathlib.library` (LLVM's intrinsics become scalar libm calls).

Which emitter an op uses, and which math routine, is its primitive row's ``scalar`` spec
(``tracegrad.ir.prims``): the handler table below is derived from the rows.
"""

from __future__ import annotations

from collections.abc import Callable

from tracegrad.ir.dtypes import DType
from tracegrad.ir.ops import Op
from tracegrad.ir.prims import PRIMS, Emitter
from tracegrad.ir.value import Value
from tracegrad.llvm.codegen.builder import REG_TYPE, KernelBuilder, float_literal
from tracegrad.llvm.codegen.casts import cast, int_min

_FCMP = {Op.EQ: "oeq", Op.NE: "une", Op.LT: "olt", Op.LE: "ole", Op.GT: "ogt", Op.GE: "oge"}
_ICMP = {Op.EQ: "eq", Op.NE: "ne", Op.LT: "slt", Op.LE: "sle", Op.GT: "sgt", Op.GE: "sge"}
_UCMP = {Op.EQ: "eq", Op.NE: "ne", Op.LT: "ult", Op.LE: "ule", Op.GT: "ugt", Op.GE: "uge"}
# emitters that handle float16 themselves (no arithmetic on the values)
_HALF_NATIVE = frozenset({Emitter.CAST, Emitter.WHERE, Emitter.NOT, Emitter.LOGICAL})


def supported(v: Value) -> bool:
    """Whether :func:`emit` can lower ``v`` (integer pow stays with numpy: it raises for
    negative exponents, which a kernel cannot do)."""
    prim = PRIMS.get(v.op)
    if prim is None or not prim.is_elementwise or prim.scalar is None:
        return False
    if prim.scalar.routine is not None and not v.dtype.is_float:
        return False  # math routines are float-only (integer pow)
    return True


def math_symbol(name: str, dtype: DType) -> str:
    from tracegrad.llvm.mathlib.library import math_function_name

    return math_function_name(name, REG_TYPE[dtype])


def emit(b: KernelBuilder, v: Value, args: list[str], uses: set[tuple[str, str]]) -> str:
    """Emit ``v`` applied to the register values ``args``; returns the result's SSA name.

    ``uses`` collects the mathlib functions needed as ``(name, 'float'|'double')``.
    """
    dtype = v.operands[-1].dtype  # operand dtype (WHERE: the branches)
    spec = PRIMS[v.op].scalar if v.op in PRIMS else None
    handler = EMITTERS.get(spec.emitter) if spec is not None else None
    if handler is None:
        raise NotImplementedError(f"no LLVM lowering for {v.op.value}")
    if dtype is DType.FLOAT16 and spec.emitter not in _HALF_NATIVE:  # type: ignore[union-attr]
        return _half_in_single(b, v, handler, args, uses)
    return handler(b, v, dtype, args, uses)


def _half_in_single(
    b: KernelBuilder, v: Value, handler: Callable[..., str], args: list[str], uses: set
) -> str:
    """numpy's float16 loops: extend to float, compute, round the float result once."""
    singles = [
        b.emit(f"fpext half {a} to float") if o.dtype is DType.FLOAT16 else a
        for o, a in zip(v.operands, args, strict=True)
    ]
    out = handler(b, v, DType.FLOAT32, singles, uses)
    return b.emit(f"fptrunc float {out} to half") if v.dtype is DType.FLOAT16 else out


def _math(b: KernelBuilder, v: Value, dt: DType, args: list[str], uses: set) -> str:
    routine = PRIMS[v.op].scalar.routine  # type: ignore[union-attr]
    assert routine is not None, f"{v.op.value}: a MATH row without a routine"
    name = routine.name
    ty = REG_TYPE[dt]
    uses.add((name, ty))
    params = ", ".join(f"{ty} {a}" for a in args)
    return b.emit(f"call {ty} @{math_symbol(name, dt)}({params})", name)


def _intrinsic(b: KernelBuilder, name: str, ty: str, args: list[str]) -> str:
    suffix = {"half": "f16", "float": "f32", "double": "f64"}.get(ty, ty)
    params = ", ".join(f"{ty} {a}" for a in args)
    return b.emit(f"call {ty} @llvm.{name}.{suffix}({params})", name.split(".")[0])


def _neg(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    if dt.is_float:
        return b.emit(f"fneg {REG_TYPE[dt]} {a[0]}")
    return b.emit(f"sub {REG_TYPE[dt]} 0, {a[0]}")


def _abs(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    ty = REG_TYPE[dt]
    if dt.is_float:
        return _intrinsic(b, "fabs", ty, a)
    if dt.is_unsigned:
        return a[0]
    return b.emit(f"call {ty} @llvm.abs.{ty}({ty} {a[0]}, i1 false)")  # INT_MIN stays


def _sign(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    ty = REG_TYPE[dt]
    if dt.is_float:
        zero = float_literal(0.0)
        pos = b.emit(f"fcmp ogt {ty} {a[0]}, {zero}")
        neg = b.emit(f"fcmp olt {ty} {a[0]}, {zero}")
        isz = b.emit(f"fcmp oeq {ty} {a[0]}, {zero}")
        # numpy: sign(+-0) = +0, sign(nan) = nan
        z = b.emit(f"select i1 {isz}, {ty} {zero}, {ty} {a[0]}")
        m = b.emit(f"select i1 {neg}, {ty} {float_literal(-1.0)}, {ty} {z}")
        return b.emit(f"select i1 {pos}, {ty} {float_literal(1.0)}, {ty} {m}")
    if dt.is_unsigned:
        return b.emit(f"zext i1 {b.emit(f'icmp ne {ty} {a[0]}, 0')} to {ty}")
    pos = b.emit(f"icmp sgt {ty} {a[0]}, 0")
    neg = b.emit(f"icmp slt {ty} {a[0]}, 0")
    p = b.emit(f"zext i1 {pos} to {ty}")
    n = b.emit(f"zext i1 {neg} to {ty}")
    return b.emit(f"sub {ty} {p}, {n}")


def _floor(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    return _intrinsic(b, "floor", REG_TYPE[dt], a) if dt.is_float else a[0]


def _sqrt(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    return _intrinsic(b, "sqrt", REG_TYPE[dt], a)


def _not(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    return b.emit(f"xor i1 {a[0]}, true")


def _arith(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    """One instruction; the row's args are its (float, int, bool) opcodes."""
    fop, iop, bop = PRIMS[v.op].scalar.args  # type: ignore[union-attr]
    ty = REG_TYPE[dt]
    code = fop if dt.is_float else (bop if dt is DType.BOOL else iop)
    return b.emit(f"{code} {ty} {a[0]}, {a[1]}")


def _div(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    return b.emit(f"fdiv {REG_TYPE[dt]} {a[0]}, {a[1]}")


def _minmax(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    if v.dtype is DType.FLOAT16:  # numpy's half loop: ``(x >= y || isnan(x)) ? x : y``
        ty, (x, y) = REG_TYPE[dt], a
        keep = b.emit(f"fcmp {'oge' if v.op is Op.MAXIMUM else 'ole'} {ty} {x}, {y}")
        nan = b.emit(f"fcmp uno {ty} {x}, {x}")
        take = b.emit(f"or i1 {keep}, {nan}")
        return b.emit(f"select i1 {take}, {ty} {x}, {ty} {y}")
    return minmax(b, v.op is Op.MAXIMUM, dt, a[0], a[1])


def minmax(b: KernelBuilder, is_max: bool, dt: DType, x: str, y: str, lanes: int = 0) -> str:
    """numpy's ``maximum(x, y)`` / ``minimum(x, y)`` (see the module docstring); on
    ``<lanes x T>`` vectors when ``lanes`` is given."""
    ty, cty = vector_types(dt, lanes)
    if dt is DType.BOOL:
        return b.emit(f"{'or' if is_max else 'and'} {ty} {x}, {y}")
    if dt.is_int:
        suffix = f"v{lanes}{REG_TYPE[dt]}" if lanes else REG_TYPE[dt]
        name = ("umax" if is_max else "umin") if dt.is_unsigned else ("smax" if is_max else "smin")
        return b.emit(f"call {ty} @llvm.{name}.{suffix}({ty} {x}, {ty} {y})")
    better = b.emit(f"fcmp {'ogt' if is_max else 'olt'} {ty} {x}, {y}")
    nan = b.emit(f"fcmp uno {ty} {x}, {x}")
    take = b.emit(f"or {cty} {better}, {nan}")
    return b.emit(f"select {cty} {take}, {ty} {x}, {ty} {y}")


def vector_types(dt: DType, lanes: int) -> tuple[str, str]:
    """(value type, condition type) for scalars (lanes=0) or ``<lanes x T>`` vectors."""
    if not lanes:
        return REG_TYPE[dt], "i1"
    return f"<{lanes} x {REG_TYPE[dt]}>", f"<{lanes} x i1>"


def _compare(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    ty = REG_TYPE[dt]
    if dt.is_float:
        return b.emit(f"fcmp {_FCMP[v.op]} {ty} {a[0]}, {a[1]}")
    table = _UCMP if dt is DType.BOOL or dt.is_unsigned else _ICMP
    return b.emit(f"icmp {table[v.op]} {ty} {a[0]}, {a[1]}")


def _logical(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    return b.emit(f"{'and' if v.op is Op.LOGICAL_AND else 'or'} i1 {a[0]}, {a[1]}")


def _where(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    ty = REG_TYPE[dt]
    return b.emit(f"select i1 {a[0]}, {ty} {a[1]}, {ty} {a[2]}")


def _uint_divmod(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    """Unsigned // and % (and fmod, the same for unsigned): 0 for a zero divisor."""
    ty, (x, y) = REG_TYPE[dt], a
    zero = b.emit(f"icmp eq {ty} {y}, 0")
    safe = b.emit(f"select i1 {zero}, {ty} 1, {ty} {y}")
    res = b.emit(f"{'udiv' if v.op is Op.FLOORDIV else 'urem'} {ty} {x}, {safe}")
    return b.emit(f"select i1 {zero}, {ty} 0, {ty} {res}")


def _int_divmod(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    if dt.is_unsigned:
        return _uint_divmod(b, v, dt, a, uses)
    ty, (x, y) = REG_TYPE[dt], a
    zero = b.emit(f"icmp eq {ty} {y}, 0")
    is_min = b.emit(f"icmp eq {ty} {x}, {int_min(dt)}")
    minus1 = b.emit(f"icmp eq {ty} {y}, -1")
    ovf = b.emit(f"and i1 {is_min}, {minus1}")
    bad = b.emit(f"or i1 {zero}, {ovf}")
    safe = b.emit(f"select i1 {bad}, {ty} 1, {ty} {y}")
    q = b.emit(f"sdiv {ty} {x}, {safe}")
    r = b.emit(f"srem {ty} {x}, {safe}")
    rnz = b.emit(f"icmp ne {ty} {r}, 0")
    sx = b.emit(f"xor {ty} {r}, {y}")
    differ = b.emit(f"icmp slt {ty} {sx}, 0")
    adj = b.emit(f"and i1 {rnz}, {differ}")
    if v.op is Op.FLOORDIV:
        d = b.emit(f"zext i1 {adj} to {ty}")
        res = b.emit(f"sub {ty} {q}, {d}")
    else:
        ry = b.emit(f"add {ty} {r}, {y}")
        res = b.emit(f"select i1 {adj}, {ty} {ry}, {ty} {r}")
    return b.emit(f"select i1 {zero}, {ty} 0, {ty} {res}")


def _float_divmod(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    """numpy's npy_floor_divide / npy_remainder (npymath npy_divmod), branch-free."""
    ty, (x, y) = REG_TYPE[dt], a
    z, one, half = float_literal(0.0), float_literal(1.0), float_literal(0.5)
    mod = b.emit(f"frem {ty} {x}, {y}")
    quot = b.emit(f"fdiv {ty} {x}, {y}")
    yzero = b.emit(f"fcmp oeq {ty} {y}, {z}")
    xm = b.emit(f"fsub {ty} {x}, {mod}")
    div = b.emit(f"fdiv {ty} {xm}, {y}")
    modnz = b.emit(f"fcmp une {ty} {mod}, {z}")  # C's `if (mod)`: NaN is true
    yneg = b.emit(f"fcmp olt {ty} {y}, {z}")
    mneg = b.emit(f"fcmp olt {ty} {mod}, {z}")
    differ = b.emit(f"xor i1 {yneg}, {mneg}")
    adj = b.emit(f"and i1 {modnz}, {differ}")
    if v.op is Op.MOD:
        mody = b.emit(f"fadd {ty} {mod}, {y}")
        mod2 = b.emit(f"select i1 {adj}, {ty} {mody}, {ty} {mod}")
        signed0 = _intrinsic(b, "copysign", ty, [z, y])
        mod3 = b.emit(f"select i1 {modnz}, {ty} {mod2}, {ty} {signed0}")
        return b.emit(f"select i1 {yzero}, {ty} {mod}, {ty} {mod3}")
    divm1 = b.emit(f"fsub {ty} {div}, {one}")
    div2 = b.emit(f"select i1 {adj}, {ty} {divm1}, {ty} {div}")
    fl = _intrinsic(b, "floor", ty, [div2])
    frac = b.emit(f"fsub {ty} {div2}, {fl}")
    up = b.emit(f"fcmp ogt {ty} {frac}, {half}")
    fl1 = b.emit(f"fadd {ty} {fl}, {one}")
    fl2 = b.emit(f"select i1 {up}, {ty} {fl1}, {ty} {fl}")
    signed0 = _intrinsic(b, "copysign", ty, [z, quot])
    divnz = b.emit(f"fcmp une {ty} {div2}, {z}")
    res = b.emit(f"select i1 {divnz}, {ty} {fl2}, {ty} {signed0}")
    return b.emit(f"select i1 {yzero}, {ty} {quot}, {ty} {res}")


def _intrinsic_row(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    """trunc, rint, copysign: one LLVM intrinsic on floats (rint rounds in the default
    mode, halves to even, as numpy's rint); integer trunc is the identity."""
    if not dt.is_float:
        return a[0]
    return _intrinsic(b, PRIMS[v.op].scalar.args[0], REG_TYPE[dt], a)  # type: ignore[union-attr]


def _fmod(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    """C fmod (``frem``); integers: ``srem`` with the divisor 1 where it is 0 or where the
    quotient overflows (INT_MIN, -1), both of which numpy answers with 0."""
    ty, (x, y) = REG_TYPE[dt], a
    if dt.is_float:
        return b.emit(f"frem {ty} {x}, {y}")
    if dt.is_unsigned:
        return _uint_divmod(b, v, dt, a, uses)
    zero = b.emit(f"icmp eq {ty} {y}, 0")
    minus1 = b.emit(f"icmp eq {ty} {y}, -1")
    bad = b.emit(f"or i1 {zero}, {minus1}")
    safe = b.emit(f"select i1 {bad}, {ty} 1, {ty} {y}")
    return b.emit(f"srem {ty} {x}, {safe}")


def _divmod(b: KernelBuilder, v: Value, dt: DType, a: list[str], uses: set) -> str:
    return (_float_divmod if dt.is_float else _int_divmod)(b, v, dt, a, uses)


def _cast(b: KernelBuilder, v: Value, src: DType, a: list[str], uses: set) -> str:
    return cast(b, src, v.dtype, a[0])


EMITTERS: dict[Emitter, Callable[..., str]] = {
    Emitter.MATH: _math,
    Emitter.NEG: _neg,
    Emitter.ABS: _abs,
    Emitter.SIGN: _sign,
    Emitter.FLOOR: _floor,
    Emitter.SQRT: _sqrt,
    Emitter.NOT: _not,
    Emitter.CAST: _cast,
    Emitter.ARITH: _arith,
    Emitter.DIV: _div,
    Emitter.DIVMOD: _divmod,
    Emitter.MINMAX: _minmax,
    Emitter.COMPARE: _compare,
    Emitter.LOGICAL: _logical,
    Emitter.WHERE: _where,
    Emitter.INTRINSIC: _intrinsic_row,
    Emitter.FMOD: _fmod,
}
