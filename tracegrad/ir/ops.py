"""The closed set of primitive operations. Each has exactly one row in the primitive table
(``tracegrad.ir.prims``); ``tests/test_prim_table.py`` fails when a row is missing or incomplete.
The op classes (``ELEMENTWISE``, ``REDUCTIONS``...) are derived from the rows and live in
``tracegrad.ir.prims``.
"""

from __future__ import annotations

import enum


class Op(enum.Enum):
    # members are singletons: identity hashing is valid and much cheaper than Enum's
    __hash__ = object.__hash__

    # leaves
    PARAM = "param"
    CONST = "const"
    # unary elementwise
    NEG = "neg"
    EXP = "exp"
    LOG = "log"
    LOG1P = "log1p"
    EXPM1 = "expm1"
    SIN = "sin"
    COS = "cos"
    TAN = "tan"
    TANH = "tanh"
    ATAN = "atan"
    SQRT = "sqrt"
    ABS = "abs"
    SIGN = "sign"
    FLOOR = "floor"
    TRUNC = "trunc"
    RINT = "rint"
    LOGICAL_NOT = "logical_not"
    CAST = "cast"
    # a weak Python-int param narrowed to an integer dtype: numpy's OverflowError when out
    # of range, checked when the function runs (ir/prims/structural.py)
    CHECKED_CAST = "checked_cast"
    # binary elementwise
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    FLOORDIV = "floordiv"
    MOD = "mod"
    POW = "pow"
    ATAN2 = "atan2"
    COPYSIGN = "copysign"
    FMOD = "fmod"
    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    LOGICAL_AND = "logical_and"
    LOGICAL_OR = "logical_or"
    # ternary elementwise
    WHERE = "where"
    # reductions
    REDUCE_SUM = "reduce_sum"
    REDUCE_MAX = "reduce_max"
    REDUCE_MIN = "reduce_min"
    REDUCE_PROD = "reduce_prod"
    ARGMAX = "argmax"
    ARGMIN = "argmin"
    CUMSUM = "cumsum"
    # order (ir/prims/sorting.py)
    SORT = "sort"
    ARGSORT = "argsort"
    SEARCHSORTED = "searchsorted"
    CUMPROD = "cumprod"
    # movement
    BROADCAST = "broadcast"
    RESHAPE = "reshape"
    TRANSPOSE = "transpose"
    SLICE = "slice"
    CONCATENATE = "concatenate"
    PAD = "pad"
    GATHER = "gather"
    SCATTER_ADD = "scatter_add"
    # contraction
    MATMUL = "matmul"
    # identity whose VJP is zero (autodiff's stop_gradient; the backend lowers it to nothing)
    STOP_GRADIENT = "stop_gradient"
    # higher-order: sub-Functions in attributes, one Value per output (ir/prims/control.py)
    COND = "cond"
    WHILE = "while"
    SCAN = "scan"
    # linear algebra: LAPACK through numpy, run as steps of the execution plan
    # (tracegrad/ir/prims/linalg.py; several results are packed into one array, see the rows)
    CHOLESKY = "cholesky"
    TRIANGULAR_SOLVE = "triangular_solve"
    SOLVE = "solve"
    SLOGDET = "slogdet"
    EIGH = "eigh"
    SVD = "svd"
    QR = "qr"
