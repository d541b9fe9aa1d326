"""One shape binder (tracegrad.ir.shapes): the same mismatch gives the same ShapeError through
every way into compiled code: the interpreter, the LLVM plan, and tracegrad.function."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad
import tracegrad.tensor as T  # noqa: N812  (Theano's spelling)
from tracegrad.backend import get_backend
from tracegrad.ir import build as b
from tracegrad.ir.dtypes import DType
from tracegrad.ir.shapes import ShapeBinder
from tracegrad.ir.types import Dim, TensorType
from tracegrad.ir.value import Function, param

N = Dim("n")


def _symbolic_add() -> Function:
    x = param(0, TensorType(DType.FLOAT64, (N,)), "x")
    y = param(1, TensorType(DType.FLOAT64, (N,)), "y")
    return Function("add", (x, y), (b.add(x, y),))


def _message(run: object, *args: np.ndarray) -> str:
    with pytest.raises(tracegrad.ShapeError) as info:
        run(*args)  # type: ignore[operator]
    return str(info.value)


@pytest.mark.parametrize("backend", ["interpret", "llvm"])
def test_backends_say_the_same(backend: str) -> None:
    executable = get_backend(backend).compile(_symbolic_add())
    message = _message(lambda *a: executable(list(a)), np.ones(3), np.ones(4))
    expected = _message(
        lambda *a: ShapeBinder(_symbolic_add().params).bind([x.shape for x in a]),
        np.ones(3),
        np.ones(4),
    )
    assert message == expected
    assert "input 'x' has shape (3,) and input 'y' has shape (4,)" in message


def test_theano_function_says_the_same() -> None:
    x, y = T.dvector("x"), T.dvector("y")
    f = tracegrad.function([x, y], x + y)
    message = _message(f, np.ones(3), np.ones(4))
    assert "input 'x' has shape (3,) and input 'y' has shape (4,)" in message
    assert "symbolic dims never broadcast" in message


@pytest.mark.parametrize("backend", ["interpret", "llvm"])
def test_rank_and_fixed_extent(backend: str) -> None:
    x = param(0, TensorType(DType.FLOAT64, (2, N)), "x")
    executable = get_backend(backend).compile(Function("neg", (x,), (b.neg(x),)))
    rank = _message(lambda a: executable([a]), np.ones(3))
    assert rank == "input 'x' has shape (3,) but the function needs 2 dimensions (type f64[2,n])"
    fixed = _message(lambda a: executable([a]), np.ones((3, 4)))
    assert fixed == (
        "input 'x' has shape (3, 4) but the function needs length 2 in dimension 0 (type f64[2,n])"
    )
    assert executable([np.ones((2, 5))])[0].shape == (2, 5)


def test_enclosing_extents_are_respected() -> None:
    binder = ShapeBinder(_symbolic_add().params)
    assert binder.bind([(3,), (3,)], {N: 3}) == {N: 3}
    with pytest.raises(tracegrad.ShapeError, match="which is 4 in the enclosing call"):
        binder.bind([(3,), (3,)], {N: 4})
