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
