"""The variable constructors of the Theano-style namespace: ``T.scalar``...``T.tensor4`` with
``dtype=``, the typed families (``d`` float64, ``f`` float32, ``i`` int32, ``l`` int64, ``b``
int8), their plurals (``T.dmatrices('a', 'b')``) and ``T.TensorType(dtype, broadcastable)``.

>>> import tracegrad.tensor as T
>>> a, b = T.dmatrices('a', 'b')
>>> a.ndim, b.dtype, T.iscalar('n').dtype
(2, dtype('float64'), dtype('int32'))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import DTypeError
from tracegrad.tensor.variables import Variable, tensor

# the ``b`` family needs int8; it works as soon as the IR has that dtype
_HAS_INT8 = any(d.numpy == np.dtype("int8") for d in DType)


def _maker(ndim: int, default: str | None, pattern: tuple[bool, ...] | None = None) -> Any:
    flags = pattern if pattern is not None else (False,) * ndim

    def make(name: str | None = None, dtype: Any = None) -> Variable:
        if default == "int8" and dtype is None and not _HAS_INT8:
            raise DTypeError(
                "the b family (T.bscalar, T.bvector...) makes int8 variables, and tracegrad "
                "has no int8 dtype yet; use the i (int32) or l (int64) family"
            )
        return tensor(dtype if dtype is not None else default, flags, name)

    return make


scalar = _maker(0, None)
vector = _maker(1, None)
matrix = _maker(2, None)
tensor3 = _maker(3, None)
tensor4 = _maker(4, None)
row = _maker(2, None, (True, False))
col = _maker(2, None, (False, True))

dscalar, dvector, dmatrix, dtensor3 = (_maker(n, "float64") for n in range(4))
fscalar, fvector, fmatrix, ftensor3 = (_maker(n, "float32") for n in range(4))
iscalar, ivector, imatrix, itensor3 = (_maker(n, "int32") for n in range(4))
lscalar, lvector, lmatrix, ltensor3 = (_maker(n, "int64") for n in range(4))
bscalar, bvector, bmatrix, btensor3 = (_maker(n, "int8") for n in range(4))
dtensor4, ftensor4, itensor4, ltensor4, btensor4 = (
    _maker(4, d) for d in ("float64", "float32", "int32", "int64", "int8")
)
drow, dcol = _maker(2, "float64", (True, False)), _maker(2, "float64", (False, True))
frow, fcol = _maker(2, "float32", (True, False)), _maker(2, "float32", (False, True))


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


class TensorType:
    """Theano's ``TensorType(dtype, broadcastable)``: call it with a name for a variable.

    >>> import tracegrad.tensor as T
    >>> T.TensorType('float64', (False, True))('x').shape[1]
    1
    """

    def __init__(self, dtype: Any, broadcastable: Sequence[bool]) -> None:
        self.dtype = str(np.dtype(dtype))
        self.broadcastable = tuple(bool(b) for b in broadcastable)

    @property
    def ndim(self) -> int:
        return len(self.broadcastable)

    def __call__(self, name: str | None = None) -> Variable:
        return tensor(self.dtype, self.broadcastable, name)

    def __repr__(self) -> str:
        return f"TensorType({self.dtype}, {self.broadcastable})"


__all__ = [
    "TensorType", "bmatrices", "bmatrix", "bscalar", "bscalars", "btensor3", "btensor4",
    "bvector", "bvectors", "col", "dcol", "dmatrices", "dmatrix", "drow", "dscalar", "dscalars",
    "dtensor3", "dtensor4", "dvector", "dvectors", "fcol", "fmatrices", "fmatrix", "frow",
    "fscalar", "fscalars", "ftensor3", "ftensor4", "fvector", "fvectors", "imatrices", "imatrix",
    "iscalar", "iscalars", "itensor3", "itensor4", "ivector", "ivectors", "lmatrices", "lmatrix",
    "lscalar", "lscalars", "ltensor3", "ltensor4", "lvector", "lvectors", "matrices", "matrix",
    "row", "scalar", "scalars", "tensor3", "tensor4", "vector", "vectors",
]  # fmt: skip
