"""Where a finite-difference check means something.

Central differences compare ``(f(x + h v) - f(x - h v)) / 2h`` with the derivative at ``x``;
that agreement is promised only where every operation of the program is differentiable with
a bounded derivative on the whole segment ``[x - h v, x + h v]``. Raw-mode fuzz programs
(``python -m tracegrad.testing --raw``) run on NaN, infinities and points such as
``pow(x, x / x)`` at ``x < 0``, where a partial derivative does not exist although the value
does: there the chain rule, and so every autodiff system, returns NaN while central
differences return a number. ``outside_differentiable_domain`` finds such points, so the
oracle skips them (and says so) instead of reporting them as mismatches.

>>> import numpy as np
>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> from tracegrad.ir.value import Function, param
>>> x = param(0, TensorType(DType.FLOAT64, (2,)), "x")
>>> f = Function("f", (x,), (b.log(x),))
>>> outside_differentiable_domain(f, [np.array([1.0, 2.0])]) is None
True
>>> outside_differentiable_domain(f, [np.array([1.0, 1e-9])])
'log near or below 0'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tracegrad.ir.interpreter import evaluate
from tracegrad.ir.ops import Op
from tracegrad.ir.value import Function, Value

# Central differences move an intermediate by about h |J v| ~ 1e-5 * a few. Across a kink
# (abs, maximum, a comparison) they are exact on each side, so a kink only needs to be out of
# that reach; near a pole (log, sqrt, 1/x) the O(h^2 f''') error grows like 1/x^3 and
# exceeds the check's rtol 1e-5 well before the pole itself.
KINK_MARGIN = 1e-4
POLE_MARGIN = 0.05
LARGEST = 1e150  # an intermediate this large may overflow on the perturbed points

Check = Callable[[list[np.ndarray]], bool]  # operand arrays -> "the op is smooth here"


def _above(k: int) -> Check:
    return lambda a: bool(np.all(a[k] > POLE_MARGIN))


def _away_from_zero(k: int, margin: float) -> Check:
    return lambda a: bool(np.all(np.abs(a[k]) > margin))


def _clear(gap: np.ndarray) -> bool:
    # an exact tie is usually the same function twice (x + x vs 2 * x, a broadcast row):
    # no kink is crossed; a near tie of two different functions is
    return bool(np.all((gap == 0.0) | (np.abs(gap) > KINK_MARGIN)))


def _apart(a: list[np.ndarray]) -> bool:
    return _clear(a[0] - a[1])


def _off_integers(k: int) -> Check:
    return lambda a: bool(np.all(np.abs(a[k] - np.round(a[k])) > KINK_MARGIN))


def _off_half_integers(a: list[np.ndarray]) -> bool:
    return bool(np.all(np.abs(np.abs(a[0] - np.floor(a[0])) - 0.5) > KINK_MARGIN))


def _signs_clear(a: list[np.ndarray]) -> bool:
    # |x| has its kink at x = 0, the sign of y jumps at y = 0
    return _away_from_zero(0, KINK_MARGIN)(a) and _away_from_zero(1, KINK_MARGIN)(a)


def _quotient_off_integers(a: list[np.ndarray]) -> bool:
    with np.errstate(all="ignore"):
        return _off_integers(0)([a[0] / a[1]]) and _away_from_zero(1, POLE_MARGIN)(a)


def _atan2_smooth(a: list[np.ndarray]) -> bool:
    # arctan2(y, x) jumps by 2 pi across y = 0 where x < 0; its gradient has a pole at 0
    y, x = a
    off_cut = (np.abs(y) > KINK_MARGIN) | (x > 0)
    return bool(np.all(off_cut & (np.hypot(y, x) > POLE_MARGIN)))


def _no_near_ties(a: list[np.ndarray]) -> bool:
    flat = np.sort(np.asarray(a[0], dtype=np.float64).reshape(-1))
    return _clear(np.diff(flat))


# op -> (what fails, the check); an op not listed is smooth wherever its values are finite
SMOOTH_WHERE: dict[Op, tuple[str, Check]] = {
    Op.LOG: ("log near or below 0", _above(0)),
    Op.SQRT: ("sqrt near or below 0", _above(0)),
    Op.DIV: ("a division near 0", _away_from_zero(1, POLE_MARGIN)),
    Op.ABS: ("abs near its kink", _away_from_zero(0, KINK_MARGIN)),
    Op.SIGN: ("sign near its jump", _away_from_zero(0, KINK_MARGIN)),
    Op.TAN: ("tan near a pole", lambda a: bool(np.all(np.abs(np.cos(a[0])) > POLE_MARGIN))),
    Op.FLOOR: ("floor near a jump", _off_integers(0)),
    Op.TRUNC: ("trunc near a jump", _off_integers(0)),
    Op.RINT: ("rint near a jump", _off_half_integers),
    Op.COPYSIGN: ("copysign near a sign change", _signs_clear),
    Op.FMOD: ("fmod near a jump", _quotient_off_integers),
    Op.MOD: ("mod near a jump", _quotient_off_integers),
    Op.ATAN2: ("arctan2 near its branch cut or the origin", _atan2_smooth),
    # d/dy x**y = x**y log x needs x > 0 (a constant exponent needs no d/dy: see below)
    Op.POW: ("pow with a base near or below 0", _above(0)),
    Op.MAXIMUM: ("maximum near a tie", _apart),
    Op.MINIMUM: ("minimum near a tie", _apart),
    **{op: ("a comparison near equality", _apart) for op in (Op.LT, Op.LE, Op.GT, Op.GE)},
    **{op: ("a reduction near a tie", _no_near_ties) for op in (Op.REDUCE_MAX, Op.REDUCE_MIN)},
}


def outside_differentiable_domain(function: Function, inputs: Sequence[np.ndarray]) -> str | None:
    """None if ``function`` is smooth around ``inputs`` (every intermediate finite and below
    ``LARGEST``, every op out of the reach of its kinks and poles), else the reason."""
    values = [v for v in function.order if v.op is not Op.PARAM]
    if not values:
        return None
    with np.errstate(all="ignore"):
        arrays = evaluate(Function("intermediates", function.params, tuple(values)), inputs)
        env: dict[int, np.ndarray] = {id(v): a for v, a in zip(values, arrays, strict=True)}
        env.update({id(p): np.asarray(x) for p, x in zip(function.params, inputs, strict=True)})
        for v in values:
            rule = SMOOTH_WHERE.get(v.op)
            same = len(v.operands) == 2 and v.operands[0] is v.operands[1]  # max(x, x): no kink
            constant_exponent = v.op is Op.POW and v.operands[1].op is Op.CONST
            if rule and not same and not constant_exponent and not _holds(rule[1], v, env):
                return rule[0]
            out = env[id(v)]
            if out.dtype.kind == "f" and not np.all(np.abs(out) < LARGEST):
                return f"{v.op.value} is not finite or may overflow"
    return None


def _holds(check: Check, v: Value, env: dict[int, np.ndarray]) -> bool:
    return check([np.asarray(env[id(a)], dtype=np.float64) for a in v.operands])
