"""VJP rules of the rows in ``elementwise`` (whose rows take their rule from :data:`VJPS` at
registration). Each rule is ``vjp(ct, out, attrs) -> one cotangent (or None) per operand``.
"""

from __future__ import annotations

from typing import Any

from tracegrad.ir.ops import Op
from tracegrad.ir.prims.table import lazy_build

# ---- VJP rules: vjp(ct, out, attrs) -> one cotangent (or None) per operand ------------------
# Rules build ordinary IR (so gradients can be printed, optimized and differentiated again).
# ``build`` imports this table, so it is imported lazily. Gradient conventions (documented in
# docs/autodiff.md): abs'(0) = 0, maximum/minimum ties give 0.5 to each side, sqrt'(0) = inf,
# d/dx x**0 = 0 and d/dy x**y = 0 at x = 0, and masks are selects, never products with a mask.


_b = lazy_build


def vjp_neg(ct: Any, out: Any, attrs: dict) -> tuple:
    return (_b().neg(ct),)


def vjp_exp(ct: Any, out: Any, attrs: dict) -> tuple:
    return (_b().mul(ct, out),)


def vjp_log(ct: Any, out: Any, attrs: dict) -> tuple:
    return (_b().div(ct, out.operands[0]),)


def vjp_log1p(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    return (b.div(ct, b.add(out.operands[0], 1.0)),)


def vjp_expm1(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    return (b.mul(ct, b.add(out, 1.0)),)


def vjp_sin(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    return (b.mul(ct, b.unary(Op.COS, out.operands[0])),)


def vjp_cos(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    return (b.neg(b.mul(ct, b.unary(Op.SIN, out.operands[0]))),)


def vjp_tan(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    return (b.mul(ct, b.add(b.mul(out, out), 1.0)),)


def vjp_tanh(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    return (b.mul(ct, b.sub(1.0, b.mul(out, out))),)


def vjp_sqrt(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()  # sqrt'(0) = +inf, as calculus says; where-masks keep it out of gradients
    return (b.div(ct, b.mul(out, 2.0)),)


def vjp_abs(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()  # sign(0) = 0: abs'(0) = 0, which agrees with a central difference
    return (b.mul(ct, b.unary(Op.SIGN, out.operands[0])),)


def vjp_cast(ct: Any, out: Any, attrs: dict) -> tuple:
    x = out.operands[0]
    return (_b().cast(ct, x.dtype) if x.dtype.is_float else None,)


def vjp_add(ct: Any, out: Any, attrs: dict) -> tuple:
    return (ct, ct)


def vjp_sub(ct: Any, out: Any, attrs: dict) -> tuple:
    return (ct, _b().neg(ct))


def vjp_mul(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    x, y = out.operands
    return (b.mul(ct, y), b.mul(ct, x))


def vjp_div(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    _, y = out.operands
    return (b.div(ct, y), b.neg(b.div(b.mul(ct, out), y)))


def vjp_mod(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()  # x mod y = x - floor(x / y) * y (numpy's sign convention)
    x, y = out.operands
    return (ct, b.neg(b.mul(ct, b.unary(Op.FLOOR, b.div(x, y)))))


def vjp_pow(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    x, y = out.operands
    x_zero = b.eq(x, 0.0)
    # d/dx = y * x**(y-1), but exactly 0 at x == y == 0 (x**0 is constant; 0 * inf there).
    # Only that point is selected, so d/dy of this rule stays right at y == 0 for x != 0.
    dx = b.mul(ct, b.mul(y, b.pow(x, b.sub(y, 1.0))))
    dx = b.where(b.binary(Op.LOGICAL_AND, x_zero, b.eq(y, 0.0)), 0.0, dx)
    # d/dy = log(x) * x**y, taken as 0 at x == 0 (JAX's convention; avoids 0 * -inf)
    dy = b.where(x_zero, 0.0, b.mul(ct, b.mul(b.log(x), out)))
    return (dx, dy)


def vjp_atan(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    x = out.operands[0]
    return (b.div(ct, b.add(b.mul(x, x), 1.0)),)


def vjp_atan2(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()  # atan2(y, x): d/dy = x / (x^2 + y^2), d/dx = -y / (x^2 + y^2)
    y, x = out.operands
    r2 = b.add(b.mul(x, x), b.mul(y, y))
    return (b.div(b.mul(ct, x), r2), b.neg(b.div(b.mul(ct, y), r2)))


def vjp_copysign(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()  # d/dx = +-1 by the two sign bits (never 0, also at x = 0); d/dy = 0
    x, y = out.operands
    flips = b.mul(b.binary(Op.COPYSIGN, 1.0, x), b.binary(Op.COPYSIGN, 1.0, y))
    return (b.mul(ct, flips), None)


def vjp_fmod(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()  # fmod(x, y) = x - trunc(x / y) * y
    x, y = out.operands
    return (ct, b.neg(b.mul(ct, b.unary(Op.TRUNC, b.div(x, y)))))


def _chooser_vjp(strict: Op) -> Any:
    """maximum/minimum: the winner gets ct, ties give ct/2 to each side (JAX's choice)."""

    def rule(ct: Any, out: Any, attrs: dict) -> tuple:
        b = _b()
        x, y = out.operands
        half = b.where(b.eq(x, y), b.mul(ct, 0.5), 0.0)
        return (
            b.where(b.binary(strict, x, y), ct, half),
            b.where(b.binary(strict, y, x), ct, half),
        )

    return rule


def vjp_where(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()  # selects, never ct * mask: the untaken branch gets an exact 0 even if it is inf
    cond = out.operands[0]
    return (None, b.where(cond, ct, 0.0), b.where(cond, 0.0, ct))


vjp_maximum = _chooser_vjp(Op.GT)
vjp_minimum = _chooser_vjp(Op.LT)
