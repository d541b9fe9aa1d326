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

>>> import numpy as np
>>> matmul(np.eye(2), np.ones((2, 3))).shape
(2, 3)
"""

from __future__ import annotations

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
    import ctypes
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
    import ctypes

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


def triangular_solve(a: np.ndarray, b: np.ndarray, lower: bool) -> np.ndarray | None:
    """``x`` with ``tril(a) @ x = b`` (or ``triu``) for stacks of matrices through BLAS
    ``trsm`` (O(n^2 k), where numpy's general solve factorizes in O(n^3)); numpy's LinAlgError
    for a zero on the diagonal, as ``numpy.linalg.solve`` gives; None when numpy's BLAS is not
    a bundled ILP64 OpenBLAS (the caller uses the numpy reference)."""
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
    uplo = CBLAS_LOWER if lower else CBLAS_UPPER
    flat_a, flat_x = a.reshape(-1, n, n), x.reshape(-1, n, k)
    for i in range(flat_a.shape[0]):
        trsm(CBLAS_ROW_MAJOR, CBLAS_LEFT, uplo, CBLAS_NO_TRANS, CBLAS_NON_UNIT, n, k, 1.0,
             flat_a[i].ctypes.data, n, flat_x[i].ctypes.data, k)  # fmt: skip
    return x
