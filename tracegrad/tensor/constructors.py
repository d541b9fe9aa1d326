"""The variable constructors of the Theano-style namespace: ``T.scalar``...``T.tensor4`` with
``dtype=``, the typed families (``d`` float64, ``f`` float32, ``i`` int32, ``l`` int64, ``b``
int8, ``w`` int16), their plurals (``T.dmatrices('a', 'b')``) and
``T.TensorType(dtype, broadcastable)``.

>>> import tracegrad.tensor as T
>>> a, b = T.dmatrices('a', 'b')
>>> a.ndim, b.dtype, T.iscalar('n').dtype
(2, dtype('float64'), dtype('int32'))
"""

from __future__ import annotations

from typing import Any

from tracegrad.tensor.variables import FLOATX, TensorType, Variable


def _maker(ndim: int, pattern: tuple[bool, ...] | None = None) -> Any:
    flags = pattern if pattern is not None else (False,) * ndim

    def make(name: str | None = None, dtype: Any = None) -> Variable:
        return TensorType(dtype if dtype is not None else FLOATX, flags)(name)

    return make


# generic constructors take a dtype (default float64, Theano's floatX)
scalar, vector, matrix, tensor3, tensor4 = (_maker(n) for n in range(5))
row, col = _maker(2, (True, False)), _maker(2, (False, True))


def _family(dtype: str) -> tuple[TensorType, ...]:
    """scalar, vector, matrix, tensor3, tensor4, row, col types of one dtype (Theano's
    ``T.dscalar`` is a type: calling it makes a variable)."""
    ranks = [(False,) * n for n in range(5)]
    return tuple(TensorType(dtype, b) for b in (*ranks, (True, False), (False, True)))


dscalar, dvector, dmatrix, dtensor3, dtensor4, drow, dcol = _family("float64")
fscalar, fvector, fmatrix, ftensor3, ftensor4, frow, fcol = _family("float32")
iscalar, ivector, imatrix, itensor3, itensor4, irow, icol = _family("int32")
lscalar, lvector, lmatrix, ltensor3, ltensor4, lrow, lcol = _family("int64")
bscalar, bvector, bmatrix, btensor3, btensor4, brow, bcol = _family("int8")
wscalar, wvector, wmatrix, wtensor3, wtensor4, wrow, wcol = _family("int16")


def _plural(make: Any) -> Any:
    def many(*names: str | int) -> tuple[Variable, ...]:
        """Several variables at once: ``T.dmatrices('a', 'b')`` (or a count: ``(3)``)."""
        if len(names) == 1 and isinstance(names[0], int):
            return tuple(make() for _ in range(names[0]))
        return tuple(make(str(n)) for n in names)

    return many


scalars, vectors, matrices = _plural(scalar), _plural(vector), _plural(matrix)
dscalars, dvectors, dmatrices = _plural(dscalar), _plural(dvector), _plural(dmatrix)
fscalars, fvectors, fmatrices = _plural(fscalar), _plural(fvector), _plural(fmatrix)
iscalars, ivectors, imatrices = _plural(iscalar), _plural(ivector), _plural(imatrix)
lscalars, lvectors, lmatrices = _plural(lscalar), _plural(lvector), _plural(lmatrix)
bscalars, bvectors, bmatrices = _plural(bscalar), _plural(bvector), _plural(bmatrix)
wscalars, wvectors, wmatrices = _plural(wscalar), _plural(wvector), _plural(wmatrix)


__all__ = [
    "bcol", "bmatrices", "bmatrix", "brow", "bscalar", "bscalars", "btensor3", "btensor4",
    "bvector", "bvectors", "col", "dcol", "dmatrices", "dmatrix", "drow", "dscalar", "dscalars",
    "dtensor3", "dtensor4", "dvector", "dvectors", "fcol", "fmatrices", "fmatrix", "frow",
    "fscalar", "fscalars", "ftensor3", "ftensor4", "fvector", "fvectors", "icol", "imatrices",
    "imatrix", "irow", "iscalar", "iscalars", "itensor3", "itensor4", "ivector", "ivectors", "lcol",
    "lmatrices", "lmatrix", "lrow", "lscalar", "lscalars", "ltensor3", "ltensor4", "lvector",
    "lvectors", "matrices", "matrix", "row", "scalar", "scalars", "tensor3", "tensor4", "vector",
    "vectors", "wcol", "wmatrices", "wmatrix", "wrow", "wscalar", "wscalars", "wtensor3",
    "wtensor4", "wvector", "wvectors",
]  # fmt: skip
