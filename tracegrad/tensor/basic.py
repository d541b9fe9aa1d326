"""The math of the Theano-style namespace: mostly ``tracegrad.numpy`` under Theano's names, plus
the few functions whose numpy versions need a concrete shape (``mean`` over symbolic dims).

>>> import tracegrad.tensor as T
>>> x = T.dvector('x')
>>> T.mean(x).ndim
0
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from tracegrad import numpy as tnp
from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import UnsupportedError
from tracegrad.tensor.spellings import row_spellings
from tracegrad.tensor.variables import FLOATX, DimScalar, dims_of, reshape_dims, symbolic, value_of
from tracegrad.tracing.tracer import Tracer

# elementwise: one function per primitive row under Theano's name (T.exp, T.sgn, T.pow,
# T.eq, T.arctan2, ...), derived from the rows by tracegrad.tensor.spellings
ROW_FUNCTIONS: dict[str, Any] = {
    name: getattr(tnp, numpy_name) for name, numpy_name in row_spellings().items()
}
globals().update(ROW_FUNCTIONS)
abs = tnp.abs  # noqa: A001  (Theano's abs_ too)
sigmoid, softplus, relu, clip = tnp.sigmoid, tnp.softplus, tnp.relu, tnp.clip
where = switch = tnp.where
# reductions and structure
sum, prod, max, min = tnp.sum, tnp.prod, tnp.max, tnp.min  # noqa: A001
argmax, argmin, cumsum = tnp.argmax, tnp.argmin, tnp.cumsum
dot, tensordot, outer = tnp.dot, tnp.tensordot, tnp.outer
transpose, concatenate, stack = tnp.transpose, tnp.concatenate, tnp.stack
zeros_like, ones_like = tnp.zeros_like, tnp.ones_like
softmax, log_softmax, logsumexp = tnp.softmax, tnp.log_softmax, tnp.logsumexp


def reshape(x: Any, newshape: Any, ndim: int | None = None) -> Any:
    """``x`` with a new shape; the lengths may be symbolic (``(x.shape[0], -1)``)."""
    if not isinstance(newshape, list | tuple):
        newshape = (newshape,)
    if ndim is not None and ndim != len(newshape):
        raise ValueError(f"reshape: ndim={ndim} but the new shape has {len(newshape)} entries")
    return tnp.reshape(x, reshape_dims(value_of(x), newshape))


def _filled(shape: Any, fill: int, dtype: Any) -> Any:
    shape = tuple(shape) if isinstance(shape, list | tuple) else (shape,)
    kind = DType.from_numpy(np.dtype(dtype if dtype is not None else FLOATX))
    return symbolic(b.full(dims_of(shape), fill, kind))


def zeros(shape: Any, dtype: Any = None) -> Any:
    """Zeros of a shape whose lengths may be symbolic (``T.zeros((x.shape[0],))``)."""
    return _filled(shape, 0, dtype)


def ones(shape: Any, dtype: Any = None) -> Any:
    """Ones of a shape whose lengths may be symbolic."""
    return _filled(shape, 1, dtype)


def arange(start: Any, stop: Any = None, step: Any = None, dtype: Any = None) -> Any:
    """numpy's ``arange``; ``T.arange(x.shape[0])`` (a symbolic length) gives 0, 1, ..., n-1.

    >>> import numpy as np, tracegrad.tensor as T
    >>> x = T.dvector('x')
    >>> (x * T.arange(x.shape[0])).eval({x: np.ones(4)})
    array([0., 1., 2., 3.])
    """
    bounds = (start, stop, step)
    if not any(isinstance(a, Tracer) for a in bounds):
        return tnp.arange(start, stop, step, dtype=dtype)
    length = start if stop is None else stop
    first = 0 if stop is None else start
    if not isinstance(length, DimScalar) or not _is_int(first, 0) or not _is_int(step, 1, None):
        raise UnsupportedError(
            "T.arange with symbolic bounds supports arange(n) and arange(0, n, 1) where n is a "
            "symbolic length (x.shape[k]); other symbolic bounds need the control-flow work"
        )
    counts = symbolic(bs.cumsum(b.full((length.dim,), 1, DType.INT64))) - 1
    return counts if dtype is None else cast(counts, dtype)


def _is_int(x: Any, *allowed: Any) -> bool:
    return not isinstance(x, Tracer) and any(x is a or x == a for a in allowed)


def sqr(x: Any) -> Any:
    """x * x (Theano's ``sqr``)."""
    return x * x


def fill(model: Any, value: Any) -> Any:
    """An array shaped like ``model`` filled with ``value`` (Theano's ``fill``)."""
    return tnp.full_like(model, value)


def cast(x: Any, dtype: Any) -> Any:
    """``x`` converted to ``dtype`` (``'float32'``, ``'int64'``...)."""
    return tnp.astype(x, dtype)


def flatten(x: Any) -> Any:
    return tnp.reshape(x, (-1,))


mean = tnp.mean  # over symbolic dims the count is computed at run time (x.mean() too)


def var(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """The (biased) variance: mean((x - mean(x))**2)."""
    centered = x - mean(x, axis=axis, keepdims=True)
    return mean(centered * centered, axis=axis, keepdims=keepdims)


def std(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return tnp.sqrt(var(x, axis=axis, keepdims=keepdims))


def binary_crossentropy(output: Any, target: Any) -> Any:
    """-(target * log(output) + (1 - target) * log(1 - output)), elementwise."""
    return -(target * tnp.log(output) + (1.0 - target) * tnp.log1p(-output))


def categorical_crossentropy(coding_dist: Any, true_dist: Any) -> Any:
    """-sum(true_dist * log(coding_dist), axis=-1): one cross-entropy per row of predicted
    probabilities, against rows of target probabilities (one-hot rows for class labels).

    >>> import numpy as np, tracegrad.tensor as T
    >>> from tracegrad import function
    >>> p, t = T.dmatrices('p', 't')
    >>> f = function([p, t], T.nnet.categorical_crossentropy(p, t))
    >>> f(np.array([[0.5, 0.5], [0.9, 0.1]]), np.array([[1.0, 0.0], [0.0, 1.0]])).round(4)
    array([0.6931, 2.3026])
    """
    dtype = true_dist.dtype if hasattr(true_dist, "dtype") else np.asarray(true_dist).dtype
    if np.dtype(dtype).kind != "f":
        raise UnsupportedError(
            "categorical_crossentropy with integer class labels is not supported yet: pass "
            "one-hot rows (T.eq(labels[:, None], classes[None, :]) with a known class count)"
        )
    return -tnp.sum(true_dist * tnp.log(coding_dist), axis=-1)


def as_tensor_variable(x: Any, name: str | None = None, ndim: int | None = None) -> Any:
    """A symbolic constant holding ``x`` (a symbolic ``x`` is returned as is), Theano's
    ``T.as_tensor_variable``.

    >>> import numpy as np, tracegrad.tensor as T
    >>> c = T.as_tensor_variable(np.asarray(0, 'float64'))
    >>> c.ndim, c.eval()
    (0, array(0.))
    """
    from tracegrad.ir import build as b
    from tracegrad.tensor.variables import Expression
    from tracegrad.tracing.tracer import Tracer

    out = x if isinstance(x, Tracer) else Expression(b.to_value(np.asarray(x)), None)  # type: ignore[arg-type]
    if ndim is not None and out.ndim != ndim:
        raise ValueError(f"as_tensor_variable: {out.ndim} dims, not {ndim}")
    return out


nnet = types.SimpleNamespace(
    sigmoid=sigmoid, softplus=softplus, relu=relu, softmax=softmax, log_softmax=log_softmax,
    binary_crossentropy=binary_crossentropy, categorical_crossentropy=categorical_crossentropy,
)  # fmt: skip

__all__ = [
    "abs", "arange", "argmax", "argmin", "as_tensor_variable", "binary_crossentropy", "cast",
    "categorical_crossentropy", "clip", "concatenate", "cumsum", "dot", "fill", "flatten",
    "log_softmax", "logsumexp", "max", "mean", "min", "nnet", "ones", "ones_like", "outer",
    "prod", "relu", "reshape", "sigmoid", "softmax", "softplus", "sqr", "stack", "std", "sum",
    "switch", "tensordot", "transpose", "var", "where", "zeros", "zeros_like",
    *sorted(ROW_FUNCTIONS),
]  # fmt: skip
