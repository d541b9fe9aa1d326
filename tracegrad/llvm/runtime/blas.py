"""Matrix products through an optimized BLAS.

MATMUL nodes call ``numpy.matmul`` from the plan: for float32/float64 numpy dispatches to the
OpenBLAS it bundles (scipy-openblas, multi-threaded, AVX-512 kernels on this CPU), batched
operands loop over the batch in C. This is the simplest robust choice: no symbol lookup in a
private shared library, identical results to the reference interpreter (which also uses
numpy.matmul), and the elementwise work around the product is still compiled and fused into
the kernels before and after it. Operands come from the plan as C-contiguous arrays, which
is the layout BLAS wants anyway.

Native code needs more than numpy's Python API: native loops call ``cblas_?gemm`` and the plan
solves triangular systems with ``cblas_?trsm``, both from numpy's bundled ILP64 OpenBLAS (found
once with ctypes; without it those paths keep numpy's functions).

numpy exposes no LU factorization either, so ``solve``, ``inv`` and ``slogdet`` each factorize
their matrix again. :class:`LU` holds one ``?getrf`` factorization from the same library's
LAPACKE, from which the plan (``tracegrad.llvm.plan.lapack``) serves every solve, transposed
solve, inverse and log-determinant on that matrix. It is numpy's own: ``numpy.linalg`` copies
the matrix to column-major order and calls ``?gesv``/``?getrf`` of this library, so a solve
through :meth:`LU.solving` and ``slogdet`` give numpy's bits. Only the ILP64 ``_work`` entries
are used (the plain ones scan the input for NaN and refuse it, where numpy propagates NaN).

>>> import numpy as np
>>> matmul(np.eye(2), np.ones((2, 3))).shape
(2, 3)
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` as a fresh C-contiguous array (BLAS gemm for float dtypes)."""
    return np.matmul(a, b)


# ---- gemm for native code (tracegrad.llvm.plan.loops) -------------------------------------------

# ILP64 CBLAS entries (64-bit ints) of the OpenBLAS numpy bundles (wheels: numpy.libs/); only
# these names are used, so an LP64 library is never called with 64-bit ints
_GEMM_SYMBOLS = {"float64": ("scipy_cblas_dgemm64_", "cblas_dgemm64_"),
                 "float32": ("scipy_cblas_sgemm64_", "cblas_sgemm64_")}  # fmt: skip
CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS = 101, 111, 112
_found: dict[str, int | None] = {}


def gemm_address(dtype: str) -> int | None:
    """The address of numpy's ILP64 ``cblas_?gemm`` for ``dtype`` ("float64"/"float32"), or
    None when numpy's BLAS is not a bundled ILP64 OpenBLAS (then loops keep numpy's matmul)."""
    if dtype not in _found:
        _found[dtype] = _find_gemm(dtype)
    return _found[dtype]


def _find_gemm(dtype: str) -> int | None:
    return _find_symbol(_GEMM_SYMBOLS.get(dtype, ()))


def _find_symbol(names: tuple[str, ...]) -> int | None:
    """The address of the first of ``names`` in numpy's bundled OpenBLAS, or None."""
    import glob
    import os

    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs, "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in names:
            entry = getattr(lib, name, None)
            if entry is not None:
                return ctypes.cast(entry, ctypes.c_void_p).value
    return None


# ---- triangular solves for the plan (TRIANGULAR_SOLVE rows) ------------------------------------

_TRSM_SYMBOLS = {"float64": ("scipy_cblas_dtrsm64_", "cblas_dtrsm64_"),
                 "float32": ("scipy_cblas_strsm64_", "cblas_strsm64_")}  # fmt: skip
CBLAS_LEFT, CBLAS_UPPER, CBLAS_LOWER, CBLAS_NON_UNIT = 141, 121, 122, 131
_trsm: dict[str, Any] = {}


def _trsm_function(dtype: str) -> Any:
    """numpy's ILP64 ``cblas_?trsm`` as a ctypes function, or None."""
    if dtype not in _trsm:
        address = _find_symbol(_TRSM_SYMBOLS.get(dtype, ()))
        if address is None:
            _trsm[dtype] = None
        else:
            real = ctypes.c_double if dtype == "float64" else ctypes.c_float
            i32, i64, ptr = ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p
            signature = ctypes.CFUNCTYPE(
                None, i32, i32, i32, i32, i32, i64, i64, real, ptr, i64, ptr, i64
            )
            _trsm[dtype] = signature(address)
    return _trsm[dtype]


def triangular_solve(
    a: np.ndarray, b: np.ndarray, lower: bool, transposed: bool = False
) -> np.ndarray | None:
    """``x`` with ``tril(a) @ x = b`` (or ``triu``) for stacks of matrices through BLAS
    ``trsm`` (O(n^2 k), where numpy's general solve factorizes in O(n^3)); ``transposed``:
    the same with ``a.T`` in place of ``a`` (trsm reads ``a`` transposed, nothing is copied).
    numpy's LinAlgError for a zero on the diagonal, as ``numpy.linalg.solve`` gives; None
    when numpy's BLAS is not a bundled ILP64 OpenBLAS (the caller uses the numpy reference)."""
    trsm = _trsm_function(a.dtype.name)
    if trsm is None:
        return None
    a = np.ascontiguousarray(a)
    x = np.array(b, dtype=a.dtype, order="C", copy=True)
    n, k = x.shape[-2], x.shape[-1]
    if n == 0 or k == 0 or x.size == 0:
        return x
    diagonal = np.diagonal(a, axis1=-2, axis2=-1)
    if np.any(diagonal == 0):
        raise np.linalg.LinAlgError("Singular matrix")
    # tril(a.T) is triu(a) transposed: a's other triangle, read transposed
    uplo = CBLAS_LOWER if lower != transposed else CBLAS_UPPER
    trans = CBLAS_TRANS if transposed else CBLAS_NO_TRANS
    flat_a, flat_x = a.reshape(-1, n, n), x.reshape(-1, n, k)
    for i in range(flat_a.shape[0]):
        trsm(CBLAS_ROW_MAJOR, CBLAS_LEFT, uplo, trans, CBLAS_NON_UNIT, n, k, 1.0,
             flat_a[i].ctypes.data, n, flat_x[i].ctypes.data, k)  # fmt: skip
    return x


# ---- LU factorizations for the plan (SOLVE and SLOGDET rows) ------------------------------------

COL_MAJOR = 102
COMPUTE = np.dtype(np.float64)  # numpy.linalg computes float32 in float64 and rounds the result
_PREFIX = {"float64": "d", "float32": "s"}


@functools.cache
def _routines(dtype: str) -> dict[str, Any] | None:
    """ctypes functions getrf, getrs, getri, gesv (the ``_work`` forms) for ``dtype``, or
    None."""
    prefix = _PREFIX.get(dtype)
    if prefix is None:
        return None
    real = ctypes.c_double if dtype == "float64" else ctypes.c_float
    i32, i64, ptr, char = ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p, ctypes.c_char
    signatures = {
        # (layout, m, n, a, lda, ipiv)
        "getrf": ctypes.CFUNCTYPE(i64, i32, i64, i64, ptr, i64, ptr),
        # (layout, trans, n, nrhs, a, lda, ipiv, b, ldb)
        "getrs": ctypes.CFUNCTYPE(i64, i32, char, i64, i64, ptr, i64, ptr, ptr, i64),
        # (layout, n, a, lda, ipiv, work, lwork)
        "getri": ctypes.CFUNCTYPE(i64, i32, i64, ptr, i64, ptr, ptr, i64),
        # (layout, n, nrhs, a, lda, ipiv, b, ldb)
        "gesv": ctypes.CFUNCTYPE(i64, i32, i64, i64, ptr, i64, ptr, ptr, i64),
    }
    found = {}
    for name, signature in signatures.items():
        symbol = f"LAPACKE_{prefix}{name}_work64_"
        address = _find_symbol((f"scipy_{symbol}", symbol))
        if address is None:
            return None
        found[name] = signature(address)
    found["real"] = real
    return found


@dataclass
class LU:
    """``dgetrf`` of one square matrix: the factors in column-major order (``factors.T`` as
    a C array), the 1-based pivots, and LAPACK's ``info`` (> 0: ``U[info-1, info-1]`` is 0,
    the matrix is singular). Always in float64, as numpy.linalg computes (float32 input is
    computed in float64; the caller rounds the results)."""

    factors: np.ndarray  # F-ordered (n, n)
    pivots: np.ndarray  # int64 (n,)
    info: int
    routines: dict

    @classmethod
    def of(cls, a: np.ndarray) -> LU | None:
        """Factorize the square matrix ``a`` (any layout), or None without LAPACKE.

        >>> a = np.array([[2.0, 1.0], [4.0, 3.0]])
        >>> lu = LU.of(a)
        >>> lu is None or bool((lu.solve(np.eye(2), transposed=False) == np.linalg.inv(a)).all())
        True
        """
        routines = _routines(COMPUTE.name)
        if routines is None:
            return None
        n = a.shape[-1]
        factors = np.array(a, dtype=COMPUTE, order="F", copy=True)
        pivots = np.empty(n, np.int64)
        info = routines["getrf"](COL_MAJOR, n, n, factors.ctypes.data, n, pivots.ctypes.data)
        if info < 0:
            raise RuntimeError(f"getrf: argument {-info} was illegal")  # a bug here
        return cls(factors, pivots, int(info), routines)

    @classmethod
    def solving(cls, a: np.ndarray, b: np.ndarray) -> tuple[LU, np.ndarray] | None:
        """``?gesv``: the factorization of ``a`` and ``a^-1 b`` (C-contiguous) in one call, as
        ``numpy.linalg.solve`` makes them (so the same bits, also where OpenBLAS threads the
        solve differently from a separate getrs); None without LAPACKE. Singular: numpy's
        LinAlgError."""
        routines = _routines(COMPUTE.name)
        if routines is None:
            return None
        n, k = b.shape
        factors = np.array(a, dtype=COMPUTE, order="F", copy=True)
        pivots = np.empty(n, np.int64)
        x = np.array(b, dtype=COMPUTE, order="F", copy=True)
        info = routines["gesv"](
            COL_MAJOR, n, k, factors.ctypes.data, n, pivots.ctypes.data, x.ctypes.data, n
        )
        if info < 0:
            raise RuntimeError(f"gesv: argument {-info} was illegal")
        lu = cls(factors, pivots, int(info), routines)
        lu._raise_if_singular()
        return lu, np.ascontiguousarray(x)

    @property
    def singular(self) -> bool:
        return self.info > 0

    def solve(self, b: np.ndarray, transposed: bool) -> np.ndarray:
        """``a^-1 b`` (or ``a^-T b``) for a matrix ``b`` of n rows, as a C-contiguous array;
        numpy's ``LinAlgError`` for a singular ``a``, as ``numpy.linalg.solve`` raises."""
        self._raise_if_singular()
        x = np.array(b, dtype=self.factors.dtype, order="F", copy=True)
        n, k = x.shape
        info = self.routines["getrs"](
            COL_MAJOR, b"T" if transposed else b"N", n, k, self.factors.ctypes.data, n,
            self.pivots.ctypes.data, x.ctypes.data, n,
        )  # fmt: skip
        if info != 0:
            raise RuntimeError(f"getrs: info {info}")
        return np.ascontiguousarray(x)

    def inverse_transposed(self) -> np.ndarray:
        """``a^-T`` as a C-contiguous array: ``?getri`` writes ``a^-1`` in column-major order,
        which is ``a^-T`` read in row-major order (no copy). Singular: numpy's error."""
        self._raise_if_singular()
        inverse = np.array(self.factors, order="F", copy=True)
        n = inverse.shape[0]
        work = np.empty(max(1, 64 * n), inverse.dtype)
        info = self.routines["getri"](
            COL_MAJOR, n, inverse.ctypes.data, n, self.pivots.ctypes.data, work.ctypes.data,
            work.size,
        )  # fmt: skip
        if info != 0:
            raise np.linalg.LinAlgError("Singular matrix")
        return inverse.T  # C-contiguous view of the F-ordered inverse

    def slogdet(self) -> tuple[Any, Any]:
        """(sign, log|det|) as numpy computes them from the same factors: the sign from the
        pivots and the diagonal, the logs summed in order from 0. The logs are numpy's own
        (``slogdet`` of the diagonal as a stack of 1 x 1 matrices calls the C library's log,
        as numpy's slogdet does; ``numpy.log`` may differ in the last bit)."""
        dtype = self.factors.dtype
        if self.singular:
            return dtype.type(0.0), dtype.type(-np.inf)
        diagonal = np.diagonal(self.factors)
        swaps = np.count_nonzero(self.pivots != np.arange(1, len(self.pivots) + 1))
        negative = np.count_nonzero(diagonal < 0)
        sign = dtype.type(-1.0 if (swaps + negative) % 2 else 1.0)
        if diagonal.size == 0:
            return sign, dtype.type(0.0)
        logs = np.linalg.slogdet(diagonal.reshape(-1, 1, 1))[1]
        return sign, np.cumsum(logs)[-1]

    def _raise_if_singular(self) -> None:
        if self.singular:
            raise np.linalg.LinAlgError("Singular matrix")
