"""tracegrad.tensor's elementwise functions come from the primitive rows (issue 13 item 1):
every row with numpy names has its Theano spelling in ``tracegrad.tensor``, the names that
existed before keep their functions, and ``pp`` prints them as before."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad.numpy as tnp
import tracegrad.tensor as T  # noqa: N812 (Theano's spelling)
from tracegrad import function, pp
from tracegrad.ir.prims import PRIMS, Lowering
from tracegrad.tensor.spellings import theano_name

ROWS = [p for p in PRIMS.values() if p.lowering is Lowering.ELEMENTWISE and p.numpy_names]


@pytest.mark.parametrize("prim", ROWS, ids=lambda p: p.op.value)
def test_every_row_has_its_theano_spelling(prim) -> None:
    name = theano_name(prim)
    assert name is not None, f"row {prim.op.value}: no Theano name"
    assert getattr(T, name, None) is getattr(tnp, prim.numpy_names[0]), (
        f"row {prim.op.value}: T.{name} is missing from tracegrad.tensor"
    )
    assert name in T.__all__, f"row {prim.op.value}: T.{name} is not exported"


# the hand-kept list tracegrad/tensor/basic.py had before: name -> tracegrad.numpy function
BEFORE = {
    "exp": "exp", "log": "log", "log1p": "log1p", "expm1": "expm1", "sqrt": "sqrt",
    "tanh": "tanh", "sin": "sin", "cos": "cos", "tan": "tan", "sgn": "sign", "floor": "floor",
    "abs": "abs", "abs_": "abs", "neg": "negative", "maximum": "maximum", "minimum": "minimum",
    "pow": "power", "sigmoid": "sigmoid", "softplus": "softplus", "relu": "relu", "clip": "clip",
    "eq": "equal", "neq": "not_equal", "lt": "less", "le": "less_equal", "gt": "greater",
    "ge": "greater_equal", "where": "where", "switch": "where",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_the_names_before_keep_their_functions(name: str) -> None:
    assert getattr(T, name) is getattr(tnp, BEFORE[name])
    assert name in T.__all__


def test_a_row_added_since_is_a_theano_function() -> None:
    x, y = T.dvectors("x", "y")
    f = function([x, y], [T.arctan2(x, y), T.arctan(x), T.mod(x, y), T.true_div(x, y)])
    a, c = np.array([1.0, -2.0, 0.5]), np.array([-1.5, 3.0, 2.0])
    want = [np.arctan2(a, c), np.arctan(a), np.mod(a, c), a / c]
    for got, w in zip(f(a, c), want, strict=True):  # the math routines: within 1 ulp
        np.testing.assert_allclose(got, w, rtol=3e-16, atol=0)


def test_pp_prints_the_row_functions_as_before() -> None:
    x, y = T.dscalars("x", "y")
    assert pp(T.add(T.mul(x, y), T.pow(x, 2.0))) == "((x * y) + (x ** 2.0))"
    assert pp(T.eq(x, y)) == "(x == y)"
    assert pp(x * y + x**2.0) == "((x * y) + (x ** 2.0))"
