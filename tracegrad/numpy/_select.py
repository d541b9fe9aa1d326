"""Choosing and assembling: ``select``, ``piecewise`` (array conditions, functions or
constants), and the index-expression concatenators ``r_`` and ``c_``.

``piecewise`` evaluates each function on all of ``x`` and keeps its values where its condition
holds (numpy calls it on ``x[cond]`` only, a value-dependent shape that traced code cannot
have): the values are numpy's, and a function must accept the whole array.

>>> import numpy as np, tracegrad, tracegrad.numpy as tnp
>>> f = lambda x: np.piecewise(x, [x < 0, x >= 0], [lambda v: -v, lambda v: v**2])
>>> tracegrad.jit(f)(np.array([-2.0, 3.0]))
array([2., 9.])
>>> tracegrad.jit(lambda x: tnp.c_[x, 2 * x])(np.array([1.0, 2.0]))
array([[1., 2.],
       [2., 4.]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.value import Value
from tracegrad.numpy._core import traced
from tracegrad.numpy.notes import note
from tracegrad.tracing.tracer import Tracer

__all__ = ["c_", "piecewise", "r_", "select"]


def _operand(x: Any) -> Any:
    """As numpy's select takes a choice: Python scalars stay weak, the rest become arrays."""
    return x if isinstance(x, Tracer) or type(x) in (int, float, bool) else np.asarray(x)


def select(condlist: Any, choicelist: Any, default: Any = 0) -> Any:
    """numpy.select: the first choice whose condition holds, else ``default``.

    >>> import numpy as np, tracegrad
    >>> x = np.array([-1.0, 0.5, 3.0])
    >>> tracegrad.jit(lambda a: np.select([a < 0, a > 1], [-a, a**2], 7.0))(x)
    array([1., 7., 9.])
    """
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    if len(condlist) == 0:
        raise ValueError("select with an empty condition list is not possible")
    return _select(list(condlist), [_operand(c) for c in choicelist], _operand(default))


@traced
def _select(condlist: list, choicelist: list, default: Any) -> Any:
    dtype = b.result_dtype(*choicelist, default)
    choices = [b.to_value(c) for c in choicelist + [default]]
    conds = [b.to_value(c) for c in condlist]
    for i, c in enumerate(conds):
        if not c.dtype.is_bool:
            raise TypeError(f"invalid entry {i} in condlist: should be boolean ndarray")
    result = b.cast(choices[-1], dtype)
    for cond, choice in reversed(list(zip(conds, choices[:-1], strict=True))):
        result = b.where(cond, b.cast(choice, dtype), result)  # earlier conditions win
    return result


def piecewise(x: Any, condlist: Any, funclist: Any, *args: Any, **kw: Any) -> Any:
    """numpy.piecewise: ``funclist[i]`` (a function of ``x``, or a constant) where
    ``condlist[i]`` holds, a later condition overriding an earlier one; one extra function is
    the default where no condition holds; elsewhere 0. The result has ``x``'s dtype."""
    xv = x if isinstance(x, Tracer) else np.asarray(x)
    if isinstance(condlist, (bool, Tracer)) or np.isscalar(condlist):
        condlist = [condlist]
    elif not isinstance(condlist[0], (list, np.ndarray, Tracer)) and np.ndim(xv) != 0:
        condlist = [condlist]
    conds = list(condlist)
    if len(funclist) not in (len(conds), len(conds) + 1):
        raise ValueError(
            f"with {len(conds)} condition(s), either {len(conds)} or {len(conds) + 1} "
            "functions are expected"
        )
    values = [func(xv, *args, **kw) if callable(func) else func for func in funclist]
    return _piecewise(xv, conds, values)


@traced
def _piecewise(x: Any, conds: list, values: list) -> Any:
    xv = b.to_value(x)
    masks = [b.cast(b.to_value(c), DType.BOOL) for c in conds]
    if len(values) == len(masks) + 1:  # the default: where no condition holds
        anything = masks[0]
        for m in masks[1:]:
            anything = b.binary(Op.LOGICAL_OR, anything, m)
        masks.append(b.unary(Op.LOGICAL_NOT, anything))
    result = b.zeros_like(xv)
    for mask, value in zip(masks, values, strict=True):
        result = b.where(mask, b.cast(b.to_value(value), xv.dtype), result)
    return result


class _Concatenator:
    """numpy's ``r_``/``c_`` (``AxisConcatenator``) over traced values: slices become ranges,
    scalars and arrays are raised to ``ndmin`` dims and joined along ``axis``; a leading
    string ``"axis"`` or ``"axis,ndmin[,trans1d]"`` overrides them. No matrix mode."""

    def __init__(self, axis: int, ndmin: int, trans1d: int) -> None:
        self.axis, self.ndmin, self.trans1d = axis, ndmin, trans1d

    def __getitem__(self, key: Any) -> Any:
        key = key if isinstance(key, tuple) else (key,)
        axis, ndmin, trans1d = self.axis, self.ndmin, self.trans1d
        items = []
        for k, item in enumerate(key):
            if isinstance(item, str):
                if k != 0:
                    raise ValueError("special directives must be the first entry.")
                axis, ndmin, trans1d = _directive(item, axis, ndmin, trans1d)
            elif isinstance(item, slice):
                items.append(np.r_[item])  # numpy's range or linspace
            else:
                items.append(item)
        return _concatenate_items(items, axis, ndmin, trans1d)

    def __len__(self) -> int:
        return 0


@traced
def _concatenate_items(items: list, axis: int, ndmin: int, trans1d: int) -> Any:
    # numpy's result_type operands: the arrays' dtypes and the Python scalars (weak)
    kinds = [i if type(i) in (int, float, bool) else b.to_value(i).dtype.numpy for i in items]
    dtype = DType.from_numpy(np.result_type(*kinds))
    raised = [_raised(b.to_value(i, dtype), ndmin, trans1d) for i in items]
    return bs.concatenate([b.cast(v, dtype) for v in raised], axis)


def _directive(item: str, axis: int, ndmin: int, trans1d: int) -> tuple[int, int, int]:
    if item in ("r", "c"):
        raise UnsupportedError("r_/c_ matrix directives ('r', 'c'): numpy.matrix is not traced")
    try:
        vec = [int(v) for v in item.split(",")]
    except ValueError as error:
        raise ValueError(f"unknown special directive {item!r}") from error
    return vec[0], vec[1] if len(vec) > 1 else ndmin, vec[2] if len(vec) > 2 else trans1d


def _raised(v: Value, ndmin: int, trans1d: int) -> Value:
    """numpy's ``array(item, ndmin=ndmin)`` then its trans1d transpose."""
    item_ndim = v.ndim
    if item_ndim >= ndmin:
        return v
    v = bs.reshape(v, (1,) * (ndmin - item_ndim) + tuple(v.shape))
    if trans1d != -1:
        k2, k1 = ndmin - item_ndim, trans1d
        k1 = k1 + k2 + 1 if k1 < 0 else k1
        axes = list(range(ndmin))
        v = bs.transpose(v, axes[:k1] + axes[k2:] + axes[k1:k2])
    return v


r_ = _Concatenator(0, 1, -1)
c_ = _Concatenator(-1, 2, 0)

note("piecewise", deviation="each function is called on all of x (numpy: on x[cond]), so it "
     "must accept the whole array; its values elsewhere are discarded")  # fmt: skip
note("r_", "c_", arguments="the matrix directives 'r' and 'c'",
     deviation="numpy's np.r_ / np.c_ reach these while a function is traced "
     "(tracegrad.numpy.lists); a reference to them kept elsewhere than a global or closure "
     "variable does not: use tracegrad.numpy.r_ / c_ there")  # fmt: skip
