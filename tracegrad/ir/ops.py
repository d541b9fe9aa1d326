"""The closed set of primitive operations. Each has exactly one row in the primitive table
(``tracegrad.ir.prims``); ``tests/test_prim_table.py`` fails when a row is missing or incomplete.
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
    SQRT = "sqrt"
    ABS = "abs"
    SIGN = "sign"
    FLOOR = "floor"
    LOGICAL_NOT = "logical_not"
    CAST = "cast"
    # binary elementwise
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    FLOORDIV = "floordiv"
    MOD = "mod"
    POW = "pow"
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


UNARY_ELEMENTWISE = frozenset(
    {
        Op.NEG, Op.EXP, Op.LOG, Op.LOG1P, Op.EXPM1, Op.SIN, Op.COS, Op.TAN, Op.TANH, Op.SQRT,
        Op.ABS, Op.SIGN, Op.FLOOR, Op.LOGICAL_NOT, Op.CAST,
    }
)  # fmt: skip
BINARY_ELEMENTWISE = frozenset(
    {
        Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.FLOORDIV, Op.MOD, Op.POW, Op.MAXIMUM, Op.MINIMUM,
        Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE, Op.LOGICAL_AND, Op.LOGICAL_OR,
    }
)  # fmt: skip
ELEMENTWISE = UNARY_ELEMENTWISE | BINARY_ELEMENTWISE | {Op.WHERE}
REDUCTIONS = frozenset({Op.REDUCE_SUM, Op.REDUCE_MAX, Op.REDUCE_MIN, Op.REDUCE_PROD})
COMPARISONS = frozenset({Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE})
