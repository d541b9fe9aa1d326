"""Python ints outside int64 never wrap: jit gives numpy's result (it specializes on such a
value, as on a static argument), other paths raise numpy's OverflowError."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad
import tracegrad.tensor as T  # noqa: N812 (Theano's spelling)

BIG = [2**63, 2**63 + 5, 2**64 - 1, 2**64, 2**70, -(2**63) - 1]


def _scale(x: np.ndarray, k: int) -> np.ndarray:
    return x * k


@pytest.mark.parametrize("big", BIG)
def test_jit_gives_numpy_result_on_every_path(big: int) -> None:
    f = tracegrad.jit(_scale)
    x = np.array([1.0, -2.0])
    for _ in range(12):  # slow path, fast path, then the native entry once hot
        np.testing.assert_array_equal(f(x, 3), x * 3)
    for _ in range(3):
        np.testing.assert_array_equal(f(x, big), x * big)
        np.testing.assert_array_equal(f(x, k=big), x * big)
    np.testing.assert_array_equal(f(x, 3), x * 3)


def test_one_argument_fast_path_declines_a_big_int() -> None:
    f = tracegrad.jit(lambda k: np.float64(1.5) * k)
    for _ in range(12):
        assert float(f(2)) == 3.0
    assert float(f(2**64)) == 1.5 * 2**64


def test_int64_context_raises_numpys_overflow_error() -> None:
    f = tracegrad.jit(lambda x, k: x + k)
    with pytest.raises(OverflowError):
        np.ones(2, np.int64) + 2**63  # numpy's own behaviour (NEP 50)
    with pytest.raises(OverflowError):
        f(np.ones(2, np.int64), 2**63)


def test_grad_keys_big_ints_by_value_like_jit() -> None:
    """Derivatives share jit's specialization cache (tracegrad.staging), so a big int is a
    static value there too, as eager numpy sees it (exact products), never a wrapped number."""
    loss = lambda x, k: np.sum(x * k)  # noqa: E731
    x = np.ones(2)
    for k in (2**64, 2**63, -(2**70)):
        assert tracegrad.grad(loss)(x, k).tolist() == [float(k), float(k)]
        assert tracegrad.jit(tracegrad.grad(loss))(x, k).tolist() == [float(k), float(k)]


@pytest.mark.parametrize(
    ("make", "value"),
    [(T.lscalar, 2**63), (T.lscalar, np.uint64(2**64 - 1)), (T.iscalar, 2**31)],
)
def test_function_inputs_out_of_range_raise(make, value) -> None:  # type: ignore[no-untyped-def]
    k, x = make("k"), T.dvector("x")
    f = tracegrad.function([x, k], x * k)
    np.testing.assert_array_equal(f(np.ones(2), 3), [3.0, 3.0])
    with pytest.raises(OverflowError, match="out of its range"):
        f(np.ones(2), value)
