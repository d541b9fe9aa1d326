"""numpy.einsum's sublist form, ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` (issue #15): values
equal to numpy's, gradients against finite differences, numpy's labels (0-25 before 26-51 in
the implicit output) and a clear error for a bad label."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad
import tracegrad.numpy as tnp
from tracegrad.testing import check_grads

R = np.random.default_rng(1).normal

CASES = {
    "transpose": (lambda a: np.einsum(a, (0, 1), (1, 0)), ((3, 4),)),
    "matmul": (lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2]), ((2, 3), (3, 4))),
    "implicit": (lambda a, b: np.einsum(a, [30, 1], b, [1, 2]), ((2, 3), (3, 4))),
    "ellipsis": (lambda a, b: np.einsum(a, [Ellipsis, 0, 1], b, [Ellipsis, 1, 2],
                                        [Ellipsis, 0, 2]), ((2, 2, 3), (3, 4))),  # fmt: skip
    "covsum": (lambda a, b: np.einsum(a, (0, 1, 2), b, (3, 1, 0), (3, 2, 0)),
               ((3, 4, 4), (4, 4, 3))),  # fmt: skip
    "three_args": (lambda a, b, c: np.einsum(a, (0, 1, 2), b, (3, 1, 0), c, (3, 3, 0),
                                             (3, 2, 0)), ((3, 4, 4), (4, 4, 3), (4, 4, 3))),
    "trace": (lambda a: np.einsum(a, [0, 0]), ((3, 3),)),
    "np_int_labels": (lambda a: np.einsum(a, np.array([1, 0])), ((2, 3),)),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_sublist_form_is_numpys(name: str) -> None:
    f, shapes = CASES[name]
    args = tuple(R(size=s) for s in shapes)
    np.testing.assert_allclose(tracegrad.jit(f)(*args), f(*args), rtol=1e-13, atol=1e-13)
    check_grads(f, args, order=2, modes=("rev", "fwd"))


def test_eager_sublist_form() -> None:
    a, b = R(size=(2, 3)), R(size=(3,))
    np.testing.assert_allclose(tnp.einsum(a, [0, 1], b, [1], [0]), a @ b, rtol=1e-14)


def test_bad_label_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not an int in"):
        tracegrad.jit(lambda a: np.einsum(a, [0, 52]))(np.ones((2, 2)))
