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
