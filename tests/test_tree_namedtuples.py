"""Named tuples are pytree nodes (as in JAX): numpy's result tuples (EighResult, SlogdetResult,
SVDResult, QRResult) come back from jit as numpy returns them, and a named tuple argument is
traced field by field."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

import tracegrad
from tracegrad import tree


class Params(NamedTuple):
    w: np.ndarray
    b: float


def test_numpys_result_tuples_come_back_as_numpy_returns_them() -> None:
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    for fn in (np.linalg.eigh, np.linalg.slogdet, np.linalg.qr, np.linalg.svd):
        got, expected = tracegrad.jit(fn)(a), fn(a)
        assert type(got).__name__ == type(expected).__name__ and got._fields == expected._fields
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-15)
    sign, logdet = tracegrad.jit(np.linalg.slogdet)(a)
    assert float(sign) == 1.0 and abs(float(logdet) - np.log(5.0)) < 1e-14


def test_named_tuple_arguments_and_gradients() -> None:
    def loss(p: Params, x: np.ndarray) -> object:
        return np.sum((x @ p.w + p.b) ** 2)

    p, x = Params(np.array([1.0, -2.0]), 0.5), np.array([[1.0, 2.0], [3.0, 4.0]])
    g = tracegrad.grad(loss)(p, x)
    assert type(g) is Params
    residual = x @ p.w + p.b
    np.testing.assert_allclose(g.w, 2.0 * x.T @ residual, rtol=1e-15)
    np.testing.assert_allclose(g.b, 2.0 * residual.sum(), rtol=1e-15)
    assert float(tracegrad.jit(loss)(p, x)) == float(loss(p, x))


def test_flatten_round_trip() -> None:
    leaves, treedef = tree.flatten({"p": Params(np.zeros(2), 1.0)})
    assert len(leaves) == 2 and type(tree.unflatten(treedef, leaves)["p"]) is Params
