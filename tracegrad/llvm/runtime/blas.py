"""Matrix products through an optimized BLAS.

MATMUL nodes call ``numpy.matmul`` from the plan: for float32/float64 numpy dispatches to the
OpenBLAS it bundles (scipy-openblas, multi-threaded, AVX-512 kernels on this CPU), batched
operands loop over the batch in C. This is the simplest robust choice: no symbol lookup in a
private shared library, identical results to the reference interpreter (which also uses
numpy.matmul), and the elementwise work around the product is still compiled and fused into
the kernels before and after it. Operands come from the plan as C-contiguous arrays, which
is the layout BLAS wants anyway.

>>> import numpy as np
>>> matmul(np.eye(2), np.ones((2, 3))).shape
(2, 3)
"""

from __future__ import annotations

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
    import ctypes
    import glob
    import os

    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libs, "*openblas*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _GEMM_SYMBOLS.get(dtype, ()):
            entry = getattr(lib, name, None)
            if entry is not None:
                return ctypes.cast(entry, ctypes.c_void_p).value
    return None
