"""Composite functions built from primitives; their gradients come for free from the
primitives' VJP rules, and the optimizer's stabilization rules keep them NaN-free."""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.numpy._core import traced


@traced(elementwise=True)
def sigmoid(x: Any) -> Any:
    """The logistic function 1 / (1 + exp(-x)).

    >>> import tracegrad.numpy as tnp
    >>> float(tnp.sigmoid(0.0))
    0.5
    """
    value = b.to_value(x)
    one = 1.0 if value.dtype.is_float else 1
    return b.div(one, b.add(one, b.exp(b.neg(value))))


@traced(elementwise=True)
def softplus(x: Any) -> Any:
    """log(1 + exp(x)), written stably: max(x, 0) + log1p(exp(-|x|))."""
    value = b.to_value(x)
    if not value.dtype.is_float:
        value = b.cast(value, DType.FLOAT64)
    magnitude = b.unary(Op.ABS, value)
    return b.add(b.maximum(value, 0.0), b.unary(Op.LOG1P, b.exp(b.neg(magnitude))))


@traced(elementwise=True)
def relu(x: Any) -> Any:
    """max(x, 0)."""
    return b.maximum(x, 0)


@traced(elementwise=True)
def clip(a: Any, a_min: Any = None, a_max: Any = None) -> Any:
    """Limit values to [a_min, a_max] (numpy.clip)."""
    value = b.to_value(a)
    if a_min is not None:
        value = b.maximum(value, a_min)
    if a_max is not None:
        value = b.minimum(value, a_max)
    return value


def _max_shift(value: Any, axis: Any) -> Any:
    """max over axis with keepdims, replaced by 0 where it is not finite, so shifting by it
    never makes inf - inf = NaN (logsumexp of all -inf stays -inf)."""
    shift = bs.reduce(Op.REDUCE_MAX, value, axis, keepdims=True)
    finite = b.lt(b.unary(Op.ABS, shift), float("inf"))
    return b.where(finite, shift, 0.0)


@traced
def logsumexp(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """log(sum(exp(a))) computed with the max shift; all -inf gives -inf."""
    value = b.to_value(a)
    shift = _max_shift(value, axis)
    total = bs.sum(b.exp(b.sub(value, shift)), axis, keepdims=True)
    # the select keeps log'(0) = inf out of the gradient: all -inf gives a zero gradient
    out = b.add(b.where(b.eq(total, 0.0), -np.inf, b.log(total)), shift)
    return out if keepdims else bs.squeeze(out, bs.normalize_axes(axis, value.ndim))


@traced
def softmax(a: Any, axis: Any = -1) -> Any:
    """exp(a) / sum(exp(a)) along axis, shifted by the max."""
    value = b.to_value(a)
    shifted = b.exp(b.sub(value, _max_shift(value, axis)))
    return b.div(shifted, bs.sum(shifted, axis, keepdims=True))


@traced
def log_softmax(a: Any, axis: Any = -1) -> Any:
    """a - logsumexp(a) along axis."""
    value = b.to_value(a)
    shifted = b.sub(value, _max_shift(value, axis))
    return b.sub(shifted, b.log(bs.sum(b.exp(shifted), axis, keepdims=True)))


@traced
def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:  # noqa: A002
    """Vector 2-norm (or Frobenius) by default; ord 1 and inf for vectors."""
    value = b.to_value(x)
    if ord in (None, 2, "fro"):
        total = bs.sum(b.mul(value, value), axis, keepdims)
        # the select keeps sqrt'(0) = inf out of the gradient: norm'(0) = 0 (a subgradient)
        return b.where(b.eq(total, 0), 0.0, b.sqrt(total))
    if ord == 1:
        return bs.sum(b.unary(Op.ABS, value), axis, keepdims)
    if ord == np.inf:
        return bs.reduce(Op.REDUCE_MAX, b.unary(Op.ABS, value), axis, keepdims)
    raise UnsupportedError(f"norm with ord={ord!r}")


@traced
def tensordot(a: Any, b_: Any, axes: Any = 2) -> Any:
    """numpy.tensordot as transpose + reshape + matmul."""
    x, y = b.to_value(a), b.to_value(b_)
    if isinstance(axes, int):
        axes_x, axes_y = list(range(x.ndim - axes, x.ndim)), list(range(axes))
    else:
        axes_x = [axes[0]] if isinstance(axes[0], int) else list(axes[0])
        axes_y = [axes[1]] if isinstance(axes[1], int) else list(axes[1])
    axes_x = [i % x.ndim for i in axes_x]
    axes_y = [i % y.ndim for i in axes_y]
    free_x = [i for i in range(x.ndim) if i not in axes_x]
    free_y = [i for i in range(y.ndim) if i not in axes_y]
    k = int(np.prod([x.shape[i] for i in axes_x]))
    xm = bs.reshape(bs.transpose(x, free_x + axes_x), (-1, k) if free_x else (1, k))
    ym = bs.reshape(bs.transpose(y, axes_y + free_y), (k, -1) if free_y else (k, 1))
    out = bs.matmul(xm, ym)
    return bs.reshape(out, tuple(x.shape[i] for i in free_x) + tuple(y.shape[i] for i in free_y))


def einsum(*operands: Any) -> Any:
    """einsum with explicit or implicit output, ellipsis (``"...ij,...jk->...ik"``) and
    repeated indices in one operand (diagonals: ``"ii->i"``, ``"ii"``): diagonals are
    gathers, products are formed by broadcasting, contractions by sums (matmul when it is a
    plain matrix product). numpy's sublist form, ``einsum(a, [0, 1], b, [1, 2], [0, 2])``
    (ints for letters, ``Ellipsis`` for ``...``), is the same subscripts spelled otherwise.

    >>> import numpy as np, tracegrad.numpy as tnp
    >>> float(tnp.einsum("ii", np.arange(9.0).reshape(3, 3))), tnp.einsum("ii->i", np.eye(2))
    (12.0, array([1., 1.]))
    >>> tnp.einsum(np.eye(2), [0, 1], np.ones(2), [1], [0])
    array([1., 1.])
    """
    if operands and not isinstance(operands[0], str):
        operands = _from_sublists(operands)
    return _einsum(*operands)


def _from_sublists(args: tuple) -> tuple:
    """numpy's ``(op, sublist, op, sublist, ..., [output])`` as ``(subscripts, *ops)``: label
    ``k`` is ``A``-``Z`` for 0-25 and ``a``-``z`` for 26-51, as numpy spells it (so the
    implicit output's alphabetical order is numpy's)."""
    pairs, output = (args[:-1], args[-1]) if len(args) % 2 else (args, None)
    specs = [_sublist(s) for s in pairs[1::2]]
    subscripts = ",".join(specs) + ("" if output is None else "->" + _sublist(output))
    return (subscripts, *pairs[0::2])


def _sublist(labels: Any) -> str:
    out = []
    for label in labels:
        if label is Ellipsis:
            out.append("...")
        elif isinstance(label, (int, np.integer)) and 0 <= label < 52:
            out.append((string.ascii_uppercase + string.ascii_lowercase)[label])
        else:
            raise ValueError(f"einsum: subscript {label!r} is not an int in [0, 52) or Ellipsis")
    return "".join(out)


@traced
def _einsum(subscripts: str, *operands: Any) -> Any:
    values = [b.to_value(o) for o in operands]
    inputs, output = _parse_einsum(subscripts, [v.ndim for v in values])
    for i, (spec, v) in enumerate(zip(inputs, values, strict=True)):
        inputs[i], values[i] = _diagonals(spec, v)
    letters = sorted(set("".join(inputs)), key=lambda c: (c not in output, output.find(c), c))
    if len(values) == 2 and _is_matmul(inputs, output):
        return bs.matmul(values[0], values[1])
    product = None
    for spec, v in zip(inputs, values, strict=True):
        aligned = _align(v, spec, letters)
        product = aligned if product is None else b.mul(product, aligned)
    summed = tuple(i for i, c in enumerate(letters) if c not in output)
    result = bs.sum(product, summed) if summed else product
    kept = [c for c in letters if c in output]
    return bs.transpose(result, [kept.index(c) for c in output])


def _diagonals(spec: str, v: Any) -> tuple[str, Any]:
    """Take the diagonal for each letter repeated in ``spec`` (it moves to the end)."""
    from tracegrad.numpy._rearrange import diagonal

    while len(set(spec)) != len(spec):
        c = next(c for c in spec if spec.count(c) > 1)
        p, q = spec.index(c), spec.index(c, spec.index(c) + 1)
        if v.shape[p] != v.shape[q]:
            raise ValueError(f"einsum: repeated index {c!r} over dims {v.shape[p]}, {v.shape[q]}")
        v = diagonal.builder(v, 0, p, q)
        spec = spec[:p] + spec[p + 1 : q] + spec[q + 1 :] + c
    return spec, v


def _parse_einsum(subscripts: str, ndims: list[int]) -> tuple[list[str], str]:
    spec = subscripts.replace(" ", "")
    lhs, output = spec.split("->") if "->" in spec else (spec, None)
    inputs = lhs.split(",")
    count = len(ndims)
    if len(inputs) != count or not all(set(s) <= set(string.ascii_letters + ".") for s in inputs):
        raise ValueError(f"einsum subscripts {subscripts!r} do not match {count} operands")
    if "." in spec:
        inputs, output = _expand_ellipsis(inputs, output, ndims)
    for i, (s, n) in enumerate(zip(inputs, ndims, strict=True)):
        if len(s) != n:  # numpy's message
            many = "many" if len(s) > n else "few"
            raise ValueError(
                f"einstein sum subscripts string contains too {many} subscripts for operand {i}"
            )
    if output is None:  # implicit: the letters seen once, in alphabetical order
        letters = "".join(inputs)
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return inputs, output


def _expand_ellipsis(inputs: list[str], output: str | None, ndims: list[int]):
    """Name the dims an ellipsis stands for with unused letters, right-aligned across the
    operands (they broadcast); implicit output: those dims first, then the single letters."""
    free = [c for c in string.ascii_letters if c not in "".join(inputs) + (output or "")]
    widths = [
        n - len(s.replace("...", "")) if "..." in s else 0
        for s, n in zip(inputs, ndims, strict=True)
    ]
    if any(w < 0 for w in widths) or any(s.count(".") not in (0, 3) for s in inputs):
        raise ValueError("einsum: an ellipsis does not match the operand's dims")
    broadcast = "".join(free[: max(widths)])
    expanded = [
        s.replace("...", broadcast[len(broadcast) - w :] if w else "")
        for s, w in zip(inputs, widths, strict=True)
    ]
    if output is None:
        letters = "".join(s.replace("...", "") for s in inputs)
        singles = sorted(c for c in set(letters) if letters.count(c) == 1)
        return expanded, broadcast + "".join(singles)
    return expanded, output.replace("...", broadcast)


def _is_matmul(inputs: list[str], output: str) -> bool:
    if not all(len(s) == 2 for s in inputs):
        return False
    (a, c), (c2, d) = inputs
    return c == c2 and output == a + d and len({a, c, d}) == 3


def _align(v: Any, spec: str, letters: list[str]) -> Any:
    order = sorted(range(len(spec)), key=lambda i: letters.index(spec[i]))
    moved = bs.transpose(v, order)
    present = [spec[i] for i in order]
    shape = tuple(moved.shape[present.index(c)] if c in present else 1 for c in letters)
    return bs.reshape(moved, shape)
