"""Plan steps for SOLVE and SLOGDET that share one LU factorization per matrix.

numpy factorizes a matrix in every ``solve``, ``inv`` and ``slogdet``. A gradient uses the
same matrix three times (``solve(a, b)``, ``slogdet(a)``, and their VJPs ``solve(a.T, g)``,
``solve(a.T, I)``): the plan factorizes it once (the first step on it, per call) and keeps
the :class:`~tracegrad.llvm.runtime.blas.LU` in an extra slot of the plan's environment,
keyed by the matrix; the later steps solve with it (``getrs``; ``a.T`` is the transposed
solve), the inverse transposed comes from ``getri`` (written in column-major order, it is
already the row-major ``a^-T``), and ``slogdet`` reads the diagonal and the pivots.

Values: the first step factorizes exactly as numpy does (``gesv`` for a solve, ``getrf`` for
slogdet), so values are numpy's; a singular matrix raises numpy's ``LinAlgError`` in the
solves and gives ``(0, -inf)`` from slogdet. Stacks of matrices, empty matrices and a
numpy without the bundled LAPACKE keep numpy's functions (the row's reference).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir.ops import Op
from tracegrad.ir.prims import PRIMS
from tracegrad.ir.value import Value
from tracegrad.llvm.plan.kernels import LapackStep
from tracegrad.llvm.runtime.blas import LU, triangular_solve


def is_identity(v: Value) -> bool:
    """A constant identity matrix (the right-hand side of ``inv`` and of its VJP)."""
    if v.op is not Op.CONST or v.ndim != 2 or v.shape[0] != v.shape[1]:
        return False
    data = v.attr("data").array
    return bool(np.array_equal(data, np.eye(v.shape[0], dtype=data.dtype)))


class FactorRun:
    """One LapackStep: reads the matrix (and right-hand side) slots, the shared LU slot."""

    def __init__(self, step: LapackStep, slots: dict, lu_slot: int) -> None:
        v = step.value
        self.op = v.op
        self.matrix = slots[id(step.matrix)]
        self.rhs = slots[id(v.operands[1])] if v.op is Op.SOLVE else None
        self.out = slots[id(v)]
        self.lu_slot = lu_slot
        self.transposed = step.transposed
        self.inverse = step.transposed and is_identity(v.operands[1])
        self.dtype = v.dtype.numpy

    def run(self, env: list, use_threads: bool, dims: dict) -> None:
        a = env[self.matrix]
        b = None if self.rhs is None else env[self.rhs]
        if a.ndim != 2 or a.shape[-1] == 0 or (b is not None and b.size == 0):
            env[self.out] = self._reference(a, b)
            return
        lu = env[self.lu_slot]
        if lu is None and b is not None and not self.transposed:
            solved = LU.solving(a, b)  # numpy's own gesv call: its bits
            if solved is not None:
                env[self.lu_slot], x = solved
                env[self.out] = x.astype(self.dtype, copy=False)
                return
        if lu is None:
            lu = env[self.lu_slot] = LU.of(a)
            if lu is None:  # no LAPACKE in this numpy
                env[self.out] = self._reference(a, b)
                return
        env[self.out] = self._from(lu, b).astype(self.dtype, copy=False)

    def _from(self, lu: LU, b: Any) -> np.ndarray:
        if self.op is Op.SLOGDET:
            return np.array(lu.slogdet(), dtype=self.dtype)
        if self.inverse:
            return lu.inverse_transposed()
        return lu.solve(b, self.transposed)

    def _reference(self, a: np.ndarray, b: Any) -> np.ndarray:
        matrix = a.T if self.transposed else a
        args = (matrix,) if b is None else (matrix, b)
        return np.ascontiguousarray(PRIMS[self.op].numpy_impl(*args))


class TriangularSolveRun:
    """A TRIANGULAR_SOLVE through BLAS ``trsm`` (numpy has no triangular solver: its reference
    is a general LU solve, O(n^3) where trsm is O(n^2 k)); a transposed matrix is read as it
    is stored. The numpy reference when numpy's BLAS is not a bundled ILP64 OpenBLAS."""

    def __init__(self, step: LapackStep, slots: dict) -> None:
        self.a, self.b = slots[id(step.matrix)], slots[id(step.value.operands[1])]
        self.out = slots[id(step.value)]
        self.lower = bool(step.value.attr("lower"))
        self.transposed = step.transposed

    def run(self, env: list, use_threads: bool, dims: dict) -> None:
        a, b = env[self.a], env[self.b]
        x = triangular_solve(a, b, self.lower, self.transposed)
        if x is None:
            matrix = a.T if self.transposed else a
            impl = PRIMS[Op.TRIANGULAR_SOLVE].numpy_impl
            x = np.ascontiguousarray(impl(matrix, b, lower=self.lower))
        env[self.out] = x


def lapack_run(
    step: LapackStep, slots: dict, lu_slots: dict, new_slot: Any
) -> FactorRun | TriangularSolveRun:
    """The run of ``step``; ``lu_slots`` maps id(matrix) to its LU slot (``new_slot()`` makes
    one, empty in every call, for a matrix seen first)."""
    if step.value.op is Op.TRIANGULAR_SOLVE:
        return TriangularSolveRun(step, slots)
    key = id(step.matrix)
    if key not in lu_slots:
        lu_slots[key] = new_slot()
    return FactorRun(step, slots, lu_slots[key])
