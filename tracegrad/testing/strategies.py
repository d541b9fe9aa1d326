"""Hypothesis strategies for testing code that uses tracegrad (and tracegrad itself).

>>> from hypothesis import given
>>> from tracegrad.testing.strategies import arrays
>>> @given(arrays("float64", (3,), domain="positive"))
... def test_log_is_finite(x):
...     assert (x > 0).all()
>>> test_log_is_finite()
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

Domain = Literal["finite", "positive", "unit", "any", "special"]

SPECIAL_VALUES = (0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e-310, 1e308, -1e308)


def _elements(dtype: np.dtype, domain: Domain, low: float, high: float) -> st.SearchStrategy:
    if dtype == np.bool_:
        return st.booleans()
    if dtype.kind == "i":
        return st.integers(int(low), int(high))
    width = 32 if dtype == np.float32 else 64
    if domain == "positive":
        return st.floats(1e-3, high, width=width)
    if domain == "unit":
        return st.floats(0.0, 1.0, width=width)
    if domain == "any":
        return st.floats(width=width, allow_nan=True, allow_infinity=True)
    finite = st.floats(low, high, width=width, allow_subnormal=False)
    if domain == "special":
        return st.one_of(finite, st.sampled_from(SPECIAL_VALUES).map(dtype.type))
    return finite


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 4) -> Any:
    """Array shapes, 0-d and size-0 dims included by default."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def broadcastable_shapes(num_shapes: int = 2, max_dims: int = 3, max_side: int = 4) -> Any:
    """Tuples of shapes that broadcast together (numpy's rules)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=0, max_dims=max_dims, min_side=0, max_side=max_side
    ).map(lambda bs: bs.input_shapes)


def arrays(
    dtype: Any = "float64",
    shape: Any = None,
    domain: Domain = "finite",
    low: float = -8.0,
    high: float = 8.0,
) -> Any:
    """Arrays of a dtype and shape (a shape strategy by default) with values in a domain:
    "finite" ([low, high]), "positive", "unit" ([0, 1]), "special" (finite plus NaN, +-inf,
    -0.0 and subnormals), "any" (every float)."""
    np_dtype = np.dtype(dtype)
    shape = shapes() if shape is None else shape
    return hnp.arrays(np_dtype, shape, elements=_elements(np_dtype, domain, low, high))


LAYOUTS = (
    "C", "F", "transposed", "strided", "reversed", "broadcast", "readonly", "bigendian",
    "unaligned",
)  # fmt: skip


def relayout(x: np.ndarray, layout: str) -> np.ndarray:
    """The same values as ``x`` in another memory layout (see ``LAYOUTS``)."""
    if layout == "C":
        return np.ascontiguousarray(x)
    if layout == "F":
        return np.asfortranarray(x)
    if layout == "transposed":
        return np.ascontiguousarray(x.T).T
    if layout == "strided":
        big = np.empty(tuple(2 * d for d in x.shape) or (), x.dtype)
        view = big[tuple(slice(None, None, 2) for _ in x.shape)]
        view[...] = x
        return view
    if layout == "reversed":
        flipped = np.ascontiguousarray(x[tuple(slice(None, None, -1) for _ in x.shape)])
        return flipped[tuple(slice(None, None, -1) for _ in x.shape)]
    if layout == "broadcast":
        return _broadcast_view(x)
    if layout == "readonly":
        y = np.array(x, copy=True)
        y.setflags(write=False)
        return y
    if layout == "bigendian":
        return x.astype(x.dtype.newbyteorder(">"))
    if layout == "unaligned":
        raw = np.zeros(x.nbytes + 1, np.uint8)
        view = raw[1:].view(x.dtype).reshape(x.shape)
        view[...] = x
        return view
    raise ValueError(f"unknown layout {layout!r}")


def _broadcast_view(x: np.ndarray) -> np.ndarray:
    """A zero-stride view when every row of ``x`` along axis 0 is equal, else ``x`` itself."""
    if x.ndim and x.shape[0] > 1 and (x == x[:1]).all():
        return np.broadcast_to(x[:1], x.shape)
    return x


def layouts() -> Any:
    """A strategy of layout names; use with ``relayout(x, layout)``."""
    return st.sampled_from(LAYOUTS)
