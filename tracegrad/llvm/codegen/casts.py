"""numpy's ``astype`` between every pair of dtypes as LLVM IR on register values.

* int -> int: sign- or zero-extension by the *source's* signedness, truncation when
  narrowing (numpy wraps).
* int -> float16: through float (exact below 2**24, and every larger value is inf in
  float16 either way), then one rounding.
* float -> float: one ``fpext``/``fptrunc``; double -> half rounds once, as numpy's
  ``npy_double_to_half``: to float rounding to odd, then to half (float's 24 bits exceed
  half's 11 + 2, so the result is the correctly rounded one; LLVM's direct ``fptrunc``
  would call ``__truncdfhf2``, which no library here provides).
* float -> int: x86 ``cvttsd2si`` semantics, which numpy inherits: NaN, +-inf and
  out-of-range values give INT_MIN of the conversion's width (``fptosi`` alone is poison
  there). Narrow targets convert to int32 (uint32 to int64) and truncate, as C compilers do
  for ``(npy_byte)x``; uint64 handles [2**63, 2**64) by subtracting 2**63 first. numpy only
  defines the in-range values; those are exact here.

>>> from tracegrad.llvm.codegen.builder import KernelBuilder
>>> b = KernelBuilder()
>>> cast(b, DType.UINT8, DType.INT32, "%x")
'%t1'
>>> b.lines[-1]
'  %t1 = zext i8 %x to i32'
"""

from __future__ import annotations

from tracegrad.ir.dtypes import DType
from tracegrad.llvm.codegen.builder import REG_TYPE, KernelBuilder, float_literal

__all__ = ["cast", "int_min"]


def int_min(dt: DType) -> int:
    """The smallest signed value of ``dt``'s width (INT_MIN as the register sees it)."""
    return -(1 << (dt.bits - 1))


def cast(b: KernelBuilder, src: DType, dst: DType, x: str) -> str:
    """Convert a register value with numpy's ``astype`` semantics (x86 numpy)."""
    st, dt_ = REG_TYPE[src], REG_TYPE[dst]
    if src is dst:
        return x
    if dst is DType.BOOL:
        if src.is_float:
            return b.emit(f"fcmp une {st} {x}, {float_literal(0.0)}")  # NaN -> True
        return b.emit(f"icmp ne {st} {x}, 0")
    if src is DType.BOOL:
        return b.emit(f"{'uitofp' if dst.is_float else 'zext'} i1 {x} to {dt_}")
    if src.is_int and dst.is_int:
        if dst.bits == src.bits:
            return x  # same bits (int32 <-> uint32 reinterprets, as numpy's wrap)
        op = "trunc" if dst.bits < src.bits else "zext" if src.is_unsigned else "sext"
        return b.emit(f"{op} {st} {x} to {dt_}")
    if src.is_int:
        conv = "uitofp" if src.is_unsigned else "sitofp"
        if dst is DType.FLOAT16:
            single = b.emit(f"{conv} {st} {x} to float")
            return b.emit(f"fptrunc float {single} to half")
        return b.emit(f"{conv} {st} {x} to {dt_}")
    if src is DType.FLOAT64 and dst is DType.FLOAT16:
        return _double_to_half(b, x)
    if dst.is_float:
        return b.emit(f"{'fpext' if dst.bits > src.bits else 'fptrunc'} {st} {x} to {dt_}")
    if src is not DType.FLOAT64:  # compare in double: exact, and the bounds are representable
        x = b.emit(f"fpext {st} {x} to double")
    if dst is DType.UINT64:
        return _double_to_u64(b, x)
    wide = DType.INT64 if dst in (DType.INT64, DType.UINT32) else DType.INT32
    converted = _double_to_signed(b, x, wide)
    return (
        converted
        if wide.bits == dst.bits
        else b.emit(f"trunc {REG_TYPE[wide]} {converted} to {dt_}")
    )


def _double_to_signed(b: KernelBuilder, x: str, dst: DType) -> str:
    bits = dst.bits
    lo = float_literal(-(2.0 ** (bits - 1)) - (1.0 if bits == 32 else 0.0))
    hi = float_literal(2.0 ** (bits - 1))
    # int32: valid iff -2^31-1 < x < 2^31; int64: -2^63 <= x < 2^63 (ordered: NaN fails)
    low_ok = b.emit(f"fcmp {'ogt' if bits == 32 else 'oge'} double {x}, {lo}")
    high_ok = b.emit(f"fcmp olt double {x}, {hi}")
    ok = b.emit(f"and i1 {low_ok}, {high_ok}")
    conv = b.emit(f"fptosi double {x} to i{bits}")  # poison when !ok; select discards it
    return b.emit(f"select i1 {ok}, i{bits} {conv}, i{bits} {int_min(dst)}")


def _double_to_u64(b: KernelBuilder, x: str) -> str:
    """[0, 2**63) converts directly, [2**63, 2**64) as x - 2**63 with the top bit set
    again (what compilers emit for ``(npy_ulonglong)x``)."""
    top = float_literal(2.0**63)
    low = _double_to_signed(b, x, DType.INT64)
    upper = b.emit(f"fcmp oge double {x}, {top}")
    shifted = b.emit(f"fsub double {x}, {top}")
    high = _double_to_signed(b, shifted, DType.INT64)
    high_bits = b.emit(f"xor i64 {high}, {int_min(DType.INT64)}")
    return b.emit(f"select i1 {upper}, i64 {high_bits}, i64 {low}")


def _double_to_half(b: KernelBuilder, x: str) -> str:
    """Round ``x`` to float toward zero with the last bit set when inexact (round to odd),
    then to half: one correct rounding overall."""
    near = b.emit(f"fptrunc double {x} to float")
    back = b.emit(f"fpext float {near} to double")
    inexact = b.emit(f"fcmp one double {back}, {x}")  # NaN: false, the payload stays
    abs_back = b.emit(f"call double @llvm.fabs.f64(double {back})")
    abs_x = b.emit(f"call double @llvm.fabs.f64(double {x})")
    over = b.emit(f"fcmp ogt double {abs_back}, {abs_x}")  # rounded away from zero
    bits = b.emit(f"bitcast float {near} to i32")
    toward_zero = b.emit(f"sub i32 {bits}, {b.emit(f'zext i1 {over} to i32')}")
    odd = b.emit(f"or i32 {toward_zero}, {b.emit(f'zext i1 {inexact} to i32')}")
    single = b.emit(f"bitcast i32 {odd} to float")
    return b.emit(f"fptrunc float {single} to half")
