"""numpy's rearranging functions under jit and grad (issue #15, structure list): values equal
to numpy's bit for bit (they only move elements), gradients against finite differences."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import tracegrad
from tracegrad.testing import check_grads

A = np.arange(12.0).reshape(3, 4) * 0.37 - 1.1

CASES: dict[str, Callable] = {
    "flip": lambda a: np.flip(a), "flip_axis": lambda a: np.flip(a, 1), "fliplr": np.fliplr,
    "flipud": np.flipud, "rot90": lambda a: np.rot90(a), "rot90_k2": lambda a: np.rot90(a, 2),
    "rot90_k3": lambda a: np.rot90(a, 3, axes=(1, 0)), "roll": lambda a: np.roll(a, 5),
    "roll_axis": lambda a: np.roll(a, -1, axis=1),
    "roll_tuple": lambda a: np.roll(a, (1, 2), axis=(0, 1)),
    "diff": lambda a: np.diff(a), "diff_n2_axis0": lambda a: np.diff(a, 2, axis=0),
    "diff_prepend_append": lambda a: np.diff(a, prepend=0.5, append=A[:, :1]),
    "repeat": lambda a: np.repeat(a, 2), "repeat_counts": lambda a: np.repeat(a, [1, 0, 2], axis=0),
    "tile": lambda a: np.tile(a, 2), "tile_grow": lambda a: np.tile(a, (2, 1, 2)),
    "split": lambda a: tuple(np.split(a, 2, axis=1)),
    "array_split": lambda a: tuple(np.array_split(a, 3, axis=1)),
    "hsplit_points": lambda a: tuple(np.hsplit(a, [1, 3])),
    "vsplit": lambda a: tuple(np.vsplit(a, 3)),
    "dsplit": lambda a: tuple(np.dsplit(a[..., None] * np.ones(2), 2)),
    "atleast_2d": lambda a: np.atleast_2d(a[0]), "atleast_3d": lambda a: np.atleast_3d(a),
    "atleast_3d_vector": lambda a: np.atleast_3d(a[0]),
    "column_stack": lambda a: np.column_stack([a[0], a[1]]),
    "row_stack": lambda a: np.vstack([a[0], a]), "dstack": lambda a: np.dstack([a, a * 2]),
    "meshgrid_xy": lambda a: tuple(np.meshgrid(a[0], a[1, :3])),
    "meshgrid_ij": lambda a: tuple(np.meshgrid(a[0], a[1, :3], a[2, :2], indexing="ij")),
    "kron": lambda a: np.kron(a, a[:2, :2]), "kron_vectors": lambda a: np.kron(a[0], a[1]),
    "diagonal": lambda a: np.diagonal(a), "diagonal_up": lambda a: np.diagonal(a, 1),
    "diagonal_down": lambda a: np.diagonal(a, -1), "trace": lambda a: np.trace(a),
    "trace_offset": lambda a: np.trace(a, 2), "tril": lambda a: np.tril(a),
    "triu_1": lambda a: np.triu(a, 1), "tril_m1": lambda a: np.tril(a, -1),
    "diag_of_matrix": lambda a: np.diag(a), "diag_of_vector": lambda a: np.diag(a[0]),
    "diag_k1": lambda a: np.diag(a[0], 1), "diag_km2": lambda a: np.diag(a[0], -2),
    "diagflat": lambda a: np.diagflat(a[:2, :2]),
}  # fmt: skip


def _leaves(x: object) -> list[np.ndarray]:
    return [np.asarray(v) for v in (x if isinstance(x, tuple | list) else (x,))]


@pytest.mark.parametrize("name", list(CASES))
def test_values_equal_numpy_exactly(name: str) -> None:
    f = CASES[name]
    got, want = _leaves(tracegrad.jit(f)(A)), _leaves(f(A))
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("name", list(CASES))
def test_gradients_match_finite_differences(name: str) -> None:
    f = CASES[name]
    weights = [np.linspace(0.5, 1.5, w.size).reshape(w.shape) for w in _leaves(f(A))]

    def scalar(a: object) -> object:
        return sum(np.sum(out * w) for out, w in zip(_leaves_traced(f(a)), weights, strict=True))

    check_grads(scalar, (A,), order=1, modes=("rev",))


def _leaves_traced(x: object) -> list:
    return list(x) if isinstance(x, tuple | list) else [x]


@pytest.mark.parametrize(
    "f",
    [lambda a: np.flip(a), lambda a: np.roll(a, 3), lambda a: np.tile(a, 2),
     lambda a: np.repeat(a, 3), lambda a: np.diff(a, append=1.0), lambda a: np.atleast_2d(a)],
    ids=["flip", "roll", "tile", "repeat", "diff", "atleast_2d"],
)  # fmt: skip
@pytest.mark.parametrize("x", [np.zeros(0), np.array(2.5)], ids=["size0", "0d"])
def test_empty_and_zero_d(f: Callable, x: np.ndarray) -> None:
    try:
        want = f(x)
    except (ValueError, np.exceptions.AxisError) as error:  # numpy refuses: so must we
        with pytest.raises(
            type(error) if type(error) is not np.exceptions.AxisError else Exception
        ):
            tracegrad.jit(f)(x)
        return
    got = tracegrad.jit(f)(x)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_split_that_does_not_divide_raises_as_numpy() -> None:
    with pytest.raises(ValueError, match="equal division"):
        tracegrad.jit(lambda a: np.split(a, 3, axis=1))(A)


@pytest.mark.parametrize(
    ("f", "name"),
    [(lambda x: np.unique(x), "unique"), (lambda x: np.nonzero(x), "nonzero"),
     (lambda x: np.flatnonzero(x), "flatnonzero"), (lambda x: np.argwhere(x), "argwhere"),
     (lambda x: np.extract(x > 0, x), "extract"), (lambda x: np.compress(x > 0, x), "compress")],
)  # fmt: skip
def test_value_dependent_shapes_name_the_alternative_and_the_line(f: Callable, name: str) -> None:
    x = np.array([0.0, 2.0, 0.0, 1.0])
    with pytest.raises(
        tracegrad.ConcretizationError, match=f"numpy.{name} cannot be traced"
    ) as info:
        tracegrad.jit(f)(x)
    assert "np." in str(info.value) and "test_numpy_rearrange.py" in str(info.value)
    f(x)  # concrete arrays: numpy's own answer


@pytest.mark.parametrize(
    "f",
    [lambda x: np.add.outer(x, x[0]), lambda x: np.multiply.outer(x[0], x[1]),
     lambda x: np.subtract.outer(x[1], x[0]), lambda x: np.maximum.outer(x[0], x[2]),
     lambda x: np.add.accumulate(x, axis=1), lambda x: np.add.accumulate(x),
     lambda x: np.logical_and.reduce(x > 0, axis=1), lambda x: np.logical_or.reduce(x > 1)],
    ids=["add.outer", "multiply.outer", "subtract.outer", "maximum.outer", "add.accumulate1",
         "add.accumulate", "logical_and.reduce", "logical_or.reduce"],
)  # fmt: skip
def test_ufunc_methods(f: Callable) -> None:
    got, want = tracegrad.jit(f)(A), f(A)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    if got.dtype.kind == "f":
        check_grads(lambda a: np.sum(f(a) * 0.7), (A,), order=1, modes=("rev",))


@pytest.mark.filterwarnings("ignore::tracegrad.InPlaceArgumentWarning")  # add.at into an argument
def test_add_at_accumulates_repeated_indices_like_numpy() -> None:
    def f(x: np.ndarray, v: np.ndarray) -> np.ndarray:
        y = x * 1.0
        np.add.at(y, [0, 2, 0], v)
        np.subtract.at(y, (1,), 5.0)
        np.add.at(y, (slice(1, 3),), 0.5)
        return y

    x, v = np.arange(4.0), np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(tracegrad.jit(f)(x, v), f(x, v))
    check_grads(lambda x, v: np.sum(f(x, v) ** 2), (x, v), order=1, modes=("rev",))
    m = np.zeros((3, 2))
    g = tracegrad.jit(lambda m: (np.add.at(m, ([0, 0, 2], [1, 1, 0]), 1.0), m)[1])(m)
    want = m.copy()
    np.add.at(want, ([0, 0, 2], [1, 1, 0]), 1.0)
    np.testing.assert_array_equal(g, want)


def test_sequences_mixing_traced_values_and_constants_build_arrays() -> None:
    """#15: nested lists of traced scalars and constants, where numpy dispatches to us
    (np.concatenate's list items, tracegrad.numpy functions); numpy's dtypes: a Python float
    in a list is float64, not weak."""
    import tracegrad.numpy as tnp

    x = np.arange(1.0, 4.0, dtype=np.float32)
    got = tracegrad.jit(lambda x: np.concatenate([x, [x[0] * 2, 1.0]]))(x)
    want = np.concatenate([x, [x[0] * 2, 1.0]])
    assert got.dtype == want.dtype == np.float64
    np.testing.assert_array_equal(got, want)
    total = tracegrad.jit(lambda x: tnp.sum([[x[0], 2.0], [x[1] * 2, x[2]]]))(x)
    assert float(total) == 1.0 + 2.0 + 4.0 + 3.0
    g = tracegrad.grad(lambda x: tnp.sum(tnp.asarray([x[0] * x[1], x[2]]) ** 2))(
        np.arange(1.0, 4.0)
    )
    np.testing.assert_allclose(g, [2 * 2.0 * 2.0, 2 * 2.0 * 1.0, 2 * 3.0])
    with pytest.raises(tracegrad.DTypeError, match="ragged"):
        tracegrad.jit(lambda x: tnp.sum([x[0], [1.0, 2.0]]))(x)


@pytest.mark.parametrize(
    "fn", [np.vstack, np.hstack, np.stack, np.column_stack, np.dstack, np.concatenate]
)
def test_joining_functions_iterate_a_single_array_as_numpy_does(fn) -> None:
    # numpy iterates an array argument along its first axis (autograd's tests call
    # np.vstack(x) with a traced 2-d x)
    x = np.arange(6.0).reshape(2, 3)
    got = tracegrad.jit(lambda a: fn(a))(x)
    np.testing.assert_array_equal(got, fn(x))
    g = tracegrad.grad(lambda a: (fn(a) ** 2).sum())(x)
    np.testing.assert_allclose(g, 2 * x)


def test_joining_with_a_dtype() -> None:
    x = np.arange(6.0).reshape(2, 3)
    out = tracegrad.jit(lambda a: np.vstack([a, a], dtype=np.float32))(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.vstack([x, x], dtype=np.float32))


@pytest.mark.parametrize(
    "fn, shape",
    [
        (np.vstack, (2,)), (np.hstack, (2,)), (np.column_stack, (2,)),
        (np.fabs, (3,)), (lambda a: np.rollaxis(a, 2, 0), (2, 3, 4)),
        (lambda a: np.rollaxis(a, 0, 2), (2, 3, 4)), (lambda a: np.rollaxis(a, 1, 3), (2, 3, 4)),
        (lambda a: np.append(a, 4.0), (3,)), (lambda a: np.append(a, a, axis=0), (2, 2)),
    ],
)  # fmt: skip
def test_more_structure_values_and_gradients(fn, shape) -> None:
    # 1-d arrays joined as numpy joins their 0-d items; rollaxis, append, fabs (autograd's tests)
    x = np.random.default_rng(2).normal(size=shape)
    got, expected = tracegrad.jit(fn)(x), fn(x)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype
    check_grads(fn, (x,), order=2, modes=("rev", "fwd"))
