"""Theano's derivative API on symbolic expressions: grad, jacobian, hessian, Lop, Rop.

Everything is built on the reverse-mode transform ``tracegrad.autodiff.reverse.backward`` and
returns ordinary symbolic expressions (so they print with ``pp``, compile with
``tracegrad.function`` and can be differentiated again).

- ``jacobian`` runs the backward graph for one cotangent, then *batches* it over an identity
  basis (``_graph.batch``), so all rows come out of one graph, whatever the symbolic length.
- ``Rop`` (forward mode) is derived by transposition: ``u -> <J^T u, v>`` is linear in ``u``,
  so its gradient with respect to ``u`` is ``J v`` (the "double-vjp" trick).
- Gradients with respect to an intermediate expression ``h`` treat ``h`` as an input: ``h`` is
  replaced by a fresh parameter, differentiated, and put back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.errors import TracegradError
from tracegrad.ir.ops import Op
from tracegrad.ir.rewrite import rewrite
from tracegrad.ir.rules import STABILIZE
from tracegrad.ir.types import format_shape
from tracegrad.ir.value import Function, Value, const, topological_order
from tracegrad.tensor._graph import batch, depends_on, identity_basis, substitute
from tracegrad.tensor.variables import fresh_param, symbolic, value_of

__all__ = ["DisconnectedInputError", "Lop", "Rop", "grad", "hessian", "jacobian"]


class DisconnectedInputError(TracegradError, ValueError):
    """The cost does not depend on a variable it was differentiated with respect to."""


def _as_list(x: Any) -> tuple[list[Any], bool]:
    if isinstance(x, (list, tuple)):
        return list(x), False
    return [x], True


def _name(v: Value) -> str:
    return str(v.attr("name", "")) or f"<{v.type}>"


def _backward(outputs: list[Value], cotangents: list[Value], wrt: list[Value]) -> list[Value]:
    """``backward`` with zeros for disconnected inputs and intermediate ``wrt`` supported."""
    try:
        from tracegrad.autodiff.reverse import backward  # type: ignore[import-not-found]
    except ImportError as error:
        raise NotImplementedError(
            f"reverse-mode autodiff (tracegrad.autodiff.reverse) is not available: {error}"
        ) from error
    stand_ins = {id(w): fresh_param(w.type, _name(w)) for w in wrt if w.op is not Op.PARAM}
    if stand_ins:
        outputs = substitute(outputs, stand_ins)
    targets = [stand_ins.get(id(w), w) for w in wrt]
    grads = backward(_stable(outputs), cotangents, targets)
    grads = [b.zeros_like(t) if g is None else g for g, t in zip(grads, targets, strict=True)]
    grads = [
        b.cast(g, t.dtype) if g.dtype is not t.dtype else g for g, t in zip(grads, wrt, strict=True)
    ]
    if stand_ins:  # put the intermediate expressions back
        back = {id(p): w for w in wrt if (p := stand_ins.get(id(w))) is not None}
        grads = substitute(grads, back)
    return grads


def _stable(outputs: list[Value]) -> list[Value]:
    """The expressions in their numerically stable forms, to be differentiated (as ``grad(f)``
    does: trace, optimize, then differentiate): the derivative of Theano's cross-entropy
    ``-y * log(p) - (1 - y) * log(1 - p)`` with ``p = 1 / (1 + exp(-dot(x, w) - b))`` is then
    that of ``softplus``, finite, instead of ``inf / inf``. Only the stabilizing rules run, so
    an expression with nothing to stabilize keeps the form ``pp`` prints."""
    params = tuple(v for v in topological_order(outputs) if v.op is Op.PARAM)
    stable, _ = rewrite(Function("cost", params, tuple(outputs)), STABILIZE)
    return list(stable.outputs)


def _check_wrt(cost: Sequence[Value], wrt: list[Value], disconnected: str) -> None:
    reachable = {id(v) for v in topological_order(cost)}
    for w in wrt:
        if not w.dtype.is_float:
            raise TypeError(
                f"cannot differentiate with respect to {_name(w)} of integer dtype "
                f"{w.dtype.value}; cast it to a float first"
            )
        if id(w) not in reachable:
            message = (
                "the gradient was asked with respect to a variable that is not part of the "
                f"computational graph of the cost: {_name(w)} (pass "
                "disconnected_inputs='ignore' to get zeros)"
            )
            if disconnected == "raise":
                raise DisconnectedInputError(message)
            if disconnected == "warn":
                import warnings

                warnings.warn(message, stacklevel=3)


def _float_check(value: Value, what: str) -> None:
    if not value.dtype.is_float:
        raise TypeError(f"{what} has integer dtype {value.dtype.value}; it is not differentiable")


def grad(cost: Any, wrt: Any, disconnected_inputs: str = "raise") -> Any:
    """The symbolic gradient of a scalar ``cost`` with respect to ``wrt`` (a variable, or a list
    giving a list in the same order).

    >>> import tracegrad.tensor as T
    >>> x = T.dscalar('x')
    >>> T.grad(x ** 2, x).ndim
    0
    """
    c = value_of(cost, "cost")
    if c.ndim != 0:
        raise TypeError(
            f"T.grad: cost must be a scalar (0-d), got an expression of shape "
            f"{format_shape(c.shape)}; reduce it first (T.sum) or use T.jacobian"
        )
    _float_check(c, "the cost")
    items, single = _as_list(wrt)
    wrts = [value_of(w, "wrt") for w in items]
    _check_wrt([c], wrts, disconnected_inputs)
    grads = _backward([c], [const(1.0, c.dtype)], wrts)
    result = [symbolic(g) for g in grads]
    return result[0] if single else result


def jacobian(expression: Any, wrt: Any, disconnected_inputs: str = "raise") -> Any:
    """d expression / d wrt with shape ``expression.shape + wrt.shape`` (one graph for all rows).

    >>> import tracegrad.tensor as T
    >>> x = T.dvector('x')
    >>> T.jacobian(x ** 2, x).ndim
    2
    """
    y = value_of(expression, "expression")
    _float_check(y, "the expression")
    if y.ndim == 0:
        return grad(expression, wrt, disconnected_inputs)
    items, single = _as_list(wrt)
    wrts = [value_of(w, "wrt") for w in items]
    _check_wrt([y], wrts, disconnected_inputs)
    u = fresh_param(y.type, "cotangent")
    grads = _backward([y], [u], wrts)
    basis = identity_basis(y.shape, y.dtype)
    rows = batch(grads, {id(u): basis}, y.shape)
    result = [symbolic(r) for r in rows]
    return result[0] if single else result


def hessian(cost: Any, wrt: Any, disconnected_inputs: str = "raise") -> Any:
    """The Hessian of a scalar ``cost``: the Jacobian of its gradient (per ``wrt``)."""
    items, single = _as_list(wrt)
    result = [
        jacobian(grad(cost, w, disconnected_inputs), w, disconnected_inputs="ignore") for w in items
    ]
    return result[0] if single else result


def _points(f: list[Value], points: Any, what: str) -> list[Value]:
    items, _ = _as_list(points)
    if len(items) != len(f):
        raise ValueError(f"{what}: {len(f)} expressions but {len(items)} eval_points")
    values = []
    for target, point in zip(f, items, strict=True):
        v = value_of(point, "eval_points")
        if v.ndim != target.ndim:
            raise TypeError(
                f"{what}: an eval point of shape {format_shape(v.shape)} for an expression "
                f"of shape {format_shape(target.shape)} (ranks differ)"
            )
        values.append(b.cast(v, target.dtype))
    return values


def Lop(f: Any, wrt: Any, eval_points: Any) -> Any:  # noqa: N802  (Theano's name)
    """The L-operator (vector-Jacobian product): ``eval_points^T . d f / d wrt``.

    ``f`` and ``eval_points`` are matching expressions or lists; the result has one entry per
    ``wrt`` (a single expression when ``wrt`` is one).
    """
    fs = [value_of(x, "f") for x in _as_list(f)[0]]
    items, single = _as_list(wrt)
    wrts = [value_of(w, "wrt") for w in items]
    _check_wrt(fs, wrts, "ignore")
    grads = _backward(fs, _points(fs, eval_points, "Lop"), wrts)
    result = [symbolic(g) for g in grads]
    return result[0] if single else result


def Rop(f: Any, wrt: Any, eval_points: Any) -> Any:  # noqa: N802  (Theano's name)
    """The R-operator (Jacobian-vector product): ``d f / d wrt . eval_points``, forward mode
    derived by transposing the reverse mode (see the module docstring)."""
    items, single = _as_list(f)
    fs = [value_of(x, "f") for x in items]
    wrt_items, _ = _as_list(wrt)
    wrts = [value_of(w, "wrt") for w in wrt_items]
    vs = _points(wrts, eval_points, "Rop")
    _check_wrt(fs, wrts, "ignore")
    us = [fresh_param(y.type, "cotangent") for y in fs]
    pullbacks = _backward(fs, us, wrts)
    total: Value | None = None
    for g, v in zip(pullbacks, vs, strict=True):
        term = bs.sum(b.mul(g, v))
        total = term if total is None else b.add(total, term)
    assert total is not None
    jvps = _backward([total], [const(1.0, total.dtype)], us)
    # J v no longer depends on u (it was linear in u); drop any leftover zero-valued use
    leftovers = {id(u): b.zeros_like(u) for u in us if depends_on(jvps, u)}
    if leftovers:
        jvps = substitute(jvps, leftovers)
    result = [symbolic(j) for j in jvps]
    return result[0] if single else result
