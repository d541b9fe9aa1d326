"""tracegrad.testing.assert_close: equal arrays pass whatever they hold; each kind of
difference (NaN position, infinity sign, value, dtype) fails."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tracegrad.testing import assert_close

FLOATS = hnp.arrays(
    st.sampled_from([np.float32, np.float64]),
    hnp.array_shapes(min_dims=0, max_dims=2, max_side=5),
    elements=st.floats(allow_nan=True, allow_infinity=True, width=32),
)


@given(FLOATS)
def test_identical_arrays_pass(a: np.ndarray) -> None:
    assert_close(a.copy(), a, "identical")


def test_nan_and_inf_together() -> None:
    """Regression: NaN != NaN made the infinity check fail on identical arrays."""
    a = np.array([np.nan, np.inf, -np.inf, 1.0])
    assert_close(a.copy(), a, "identical")


@pytest.mark.parametrize(
    "got",
    [
        [np.nan, -np.inf, -np.inf, 1.0],  # sign of an infinity
        [1.0, np.inf, -np.inf, 1.0],  # NaN position
        [np.nan, np.inf, -np.inf, 1.5],  # a finite value
        [np.nan, np.inf, -np.inf, np.inf],  # an infinity where a finite value is
    ],
)
def test_differences_fail(got: list[float]) -> None:
    want = np.array([np.nan, np.inf, -np.inf, 1.0])
    with pytest.raises(AssertionError):
        assert_close(np.array(got), want, "different")


# NAN_RULE (issue #12 item 10): a NaN's sign and payload from arithmetic are unspecified,
# as in numpy; sign-bit operations and data movement are exact.
_NEG_NAN = np.float64(-np.nan)
_PAYLOAD_NAN = np.frombuffer(np.uint64(0x7FF8000000000123).tobytes(), np.float64)[0]


def test_nan_bits_are_compared_only_where_promised() -> None:
    from tracegrad.testing.oracles import assert_bitwise

    a = np.array([np.nan, 1.0, -0.0])
    b = np.array([_NEG_NAN, 1.0, -0.0])
    assert_bitwise(a, b, "O3 vs O0", nan_bits=False)  # what O3's commuted add may give
    with pytest.raises(AssertionError):
        assert_bitwise(a, b, "exact")
    with pytest.raises(AssertionError):  # zeros' signs are promised, nan_bits or not
        assert_bitwise(np.array([0.0]), np.array([-0.0]), "zero", nan_bits=False)
    with pytest.raises(AssertionError):  # and where NaNs are
        assert_bitwise(np.array([np.nan, 1.0]), np.array([1.0, np.nan]), "pos", nan_bits=False)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: -x,
        lambda x: np.abs(x),
        lambda x: -np.abs(x),
        lambda x: x.reshape(3, 4).T,
        lambda x: np.where(x > 0.0, 0.0, x),
        lambda x: x[::-2],
        lambda x: np.concatenate([x, x[:3]]),
        lambda x: np.broadcast_to(x, (2, 12)),
    ],
    ids=["negative", "abs", "minus-abs", "transpose", "where", "slice", "concat", "broadcast"],
)
def test_sign_ops_and_data_movement_keep_nan_bits_as_numpy(fn) -> None:
    import tracegrad
    from tracegrad.testing.oracles import assert_bitwise

    x = np.array([np.nan, _NEG_NAN, _PAYLOAD_NAN, -0.0, 1.0, -2.0] * 2)
    got = tracegrad.jit(fn)(x)
    assert_bitwise(np.asarray(got), fn(x), "jit vs numpy, NaN bits included")
