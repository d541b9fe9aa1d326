"""VJP rules of the rows in ``structural`` (reductions, movement, indexing, contraction).

Kept beside ``structural.py`` (whose rows take their rule from :data:`VJPS` at registration)
so that file stays small. Each rule is ``vjp(ct, out, attrs) -> one cotangent (or None) per
operand`` and builds ordinary IR. ``build`` imports the table, hence the lazy imports. Rules
whose result is a pure re-indexing of ``ct`` (sum, reshape, transpose, slice, pad,
concatenate) also accept a bool ``ct``: the transform pushes where-masks through them (see
tracegrad.autodiff.reverse).
"""

from __future__ import annotations

from typing import Any

from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.prims.table import NONDIFF, lazy_build
from tracegrad.ir.types import Dim

_b = lazy_build


def _bs() -> Any:
    from tracegrad.ir import build_shape

    return build_shape


def _kept(shape: tuple, axes: tuple[int, ...]) -> tuple:
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _expand(v: Any, shape: tuple, axes: tuple[int, ...]) -> Any:
    """Undo a reduction over ``axes``: reshape to keepdims form, broadcast to ``shape``."""
    return _b().broadcast_to(_bs().reshape(v, _kept(shape, axes)), shape)


# ---- reductions ---------------------------------------------------------------------------


def _vjp_reduce_sum(ct: Any, out: Any, attrs: dict) -> tuple:
    return (_expand(ct, out.operands[0].shape, attrs["axes"]),)


def _vjp_chooser(ct: Any, out: Any, attrs: dict) -> tuple:
    """reduce_max/min: ties share the cotangent equally (mask / count, like JAX and TF)."""
    b = _b()
    (x,) = out.operands
    axes = attrs["axes"]
    hit = b.eq(x, _expand(out, x.shape, axes))
    count = _bs().sum(b.cast(hit, x.dtype), axes, keepdims=True)
    share = b.div(_expand(ct, x.shape, axes), b.broadcast_to(count, x.shape))
    return (b.where(hit, share, 0.0),)


def _vjp_reduce_prod(ct: Any, out: Any, attrs: dict) -> tuple:
    """d prod / d x_i = product of the others, computed without dividing by zero: with no zero
    it is prod / x_i; with one zero only that position gets the product of the rest."""
    b, bs = _b(), _bs()
    (x,) = out.operands
    axes = attrs["axes"]
    is_zero = b.eq(x, 0.0)
    nonzero = b.where(is_zero, 1.0, x)
    rest = _expand(bs.reduce(Op.REDUCE_PROD, nonzero, axes), x.shape, axes)
    zeros = _expand(bs.sum(b.cast(is_zero, DType.INT64), axes), x.shape, axes)
    at_zero = b.where(b.eq(zeros, 1), rest, 0.0)
    elsewhere = b.where(b.eq(zeros, 0), b.div(rest, nonzero), 0.0)
    return (b.mul(_expand(ct, x.shape, axes), b.where(is_zero, at_zero, elsewhere)),)


def _flip(v: Any, axis: int) -> Any:
    n = v.shape[axis]
    slices = tuple((n - 1, -1, -1) if i == axis else (0, d, 1) for i, d in enumerate(v.shape))
    return _b().apply(Op.SLICE, [v], slices=slices)


def _vjp_cumsum(ct: Any, out: Any, attrs: dict) -> tuple:
    """The transpose of a cumulative sum is the reversed cumulative sum."""
    b, bs = _b(), _bs()
    axis = attrs["axis"]
    if isinstance(ct.shape[axis], Dim):  # no flip of a symbolic dim: total - cumsum + ct
        total = b.broadcast_to(bs.sum(ct, axis, keepdims=True), ct.shape)
        return (b.add(b.sub(total, bs.cumsum(ct, axis)), ct),)
    return (_flip(bs.cumsum(_flip(ct, axis), axis), axis),)


# ---- movement -----------------------------------------------------------------------------


def _vjp_broadcast(ct: Any, out: Any, attrs: dict) -> tuple:
    """Broadcasting copies; its transpose sums over the new and the stretched dims."""
    (x,) = out.operands
    lead = out.ndim - x.ndim
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(x.shape) if d == 1 and out.shape[lead + i] != 1
    )
    summed = _b().apply(Op.REDUCE_SUM, [ct], axes=axes) if axes else ct
    return (_bs().reshape(summed, x.shape),)


def _vjp_reshape(ct: Any, out: Any, attrs: dict) -> tuple:
    return (_bs().reshape(ct, out.operands[0].shape),)


def _vjp_transpose(ct: Any, out: Any, attrs: dict) -> tuple:
    perm = attrs["perm"]
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return (_bs().transpose(ct, inverse),)


def _pad_axis(v: Any, axis: int, lo: int, hi: int) -> Any:
    pads = tuple((lo, hi) if i == axis else (0, 0) for i in range(v.ndim))
    return v if lo == hi == 0 else _b().apply(Op.PAD, [v], pads=pads, value=0.0)


def _slice_axis(v: Any, axis: int, start: int, stop: int) -> Any:
    slices = tuple((start, stop, 1) if i == axis else (0, d, 1) for i, d in enumerate(v.shape))
    return v if (start, stop) == (0, v.shape[axis]) else _b().apply(Op.SLICE, [v], slices=slices)


def _unslice_axis(ct: Any, axis: int, dim: int, start: int, stop: int, step: int) -> Any:
    """Scatter ``ct`` (the slice start:stop:step along ``axis``) into zeros of extent ``dim``."""
    n = len(range(start, stop, step))
    if step < 0:  # the same positions read upwards, then the cotangent reversed
        ct, start, step = _flip(ct, axis), start + (n - 1) * step, -step
    if step > 1:  # interleave step-1 zeros after each element: pad a new axis, merge it
        shape = ct.shape
        widened = _bs().reshape(ct, shape[: axis + 1] + (1,) + shape[axis + 1 :])
        widened = _pad_axis(widened, axis + 1, 0, step - 1)
        merged = _bs().reshape(widened, shape[:axis] + (n * step,) + shape[axis + 1 :])
        ct = _slice_axis(merged, axis, 0, (n - 1) * step + 1)
    length = (n - 1) * step + 1
    return _pad_axis(ct, axis, start, dim - start - length)


def _vjp_slice(ct: Any, out: Any, attrs: dict) -> tuple:
    (x,) = out.operands
    if any(d == 0 for d in out.shape if isinstance(d, int)):
        return (None,)  # an empty slice reads nothing
    for axis, (dim, (start, stop, step)) in enumerate(zip(x.shape, attrs["slices"], strict=True)):
        if isinstance(dim, Dim) or (start, stop, step) == (0, dim, 1):
            continue
        ct = _unslice_axis(ct, axis, dim, start, stop, step)
    return (ct,)


def _vjp_concatenate(ct: Any, out: Any, attrs: dict) -> tuple:
    axis = attrs["axis"]
    sizes = [o.shape[axis] for o in out.operands]
    if not all(isinstance(s, int) for s in sizes):
        raise UnsupportedError("gradient of concatenate along a symbolic dim")
    pieces, offset = [], 0
    for size in sizes:
        pieces.append(_slice_axis(ct, axis, offset, offset + size))
        offset += size
    return tuple(pieces)


def _vjp_pad(ct: Any, out: Any, attrs: dict) -> tuple:
    (x,) = out.operands
    slices = tuple(
        (lo, lo + d, 1) if isinstance(d, int) else (0, d, 1)
        for d, (lo, _) in zip(x.shape, attrs["pads"], strict=True)
    )
    if all(s == (0, d, 1) for s, d in zip(slices, ct.shape, strict=True)):
        return (ct,)
    return (_b().apply(Op.SLICE, [ct], slices=slices),)


# ---- indexing and contraction -------------------------------------------------------------


def _vjp_gather(ct: Any, out: Any, attrs: dict) -> tuple:
    b = _b()
    x, idx = out.operands
    zeros = b.zeros_like(x)
    return (b.apply(Op.SCATTER_ADD, [zeros, idx, ct], axis=attrs["axis"]), None)


def _vjp_scatter_add(ct: Any, out: Any, attrs: dict) -> tuple:
    _, idx, _ = out.operands
    return (ct, None, _b().apply(Op.GATHER, [ct, idx], axis=attrs["axis"]))


def _swap_last(v: Any) -> Any:
    perm = list(range(v.ndim))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return _bs().transpose(v, perm)


def _vjp_matmul(ct: Any, out: Any, attrs: dict) -> tuple:
    apply = _b().apply
    a, b_ = out.operands
    return (apply(Op.MATMUL, [ct, _swap_last(b_)]), apply(Op.MATMUL, [_swap_last(a), ct]))


def _vjp_stop_gradient(ct: Any, out: Any, attrs: dict) -> tuple:
    return (None,)  # no cotangent reaches the operand


VJPS: dict[Op, Any] = {
    Op.REDUCE_SUM: _vjp_reduce_sum, Op.REDUCE_MAX: _vjp_chooser, Op.REDUCE_MIN: _vjp_chooser,
    Op.REDUCE_PROD: _vjp_reduce_prod, Op.CUMSUM: _vjp_cumsum, Op.BROADCAST: _vjp_broadcast,
    Op.RESHAPE: _vjp_reshape, Op.TRANSPOSE: _vjp_transpose, Op.SLICE: _vjp_slice,
    Op.CONCATENATE: _vjp_concatenate, Op.PAD: _vjp_pad, Op.GATHER: _vjp_gather,
    Op.SCATTER_ADD: _vjp_scatter_add, Op.MATMUL: _vjp_matmul, Op.STOP_GRADIENT: _vjp_stop_gradient,
    Op.ARGMAX: NONDIFF, Op.ARGMIN: NONDIFF, Op.PARAM: NONDIFF, Op.CONST: NONDIFF,
}  # fmt: skip
