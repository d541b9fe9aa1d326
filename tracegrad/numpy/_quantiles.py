"""Where each quantile of ``n`` sorted values lies: numpy's methods (Hyndman & Fan's nine and
numpy's ``lower``/``higher``/``nearest``/``midpoint``), computed on the host in float64 with
numpy's own formulas, so the traced interpolation reproduces numpy's bits.

>>> quantile_points(4, np.array([0.5]), "linear")
[QuantilePoint(lo=1, hi=2, gamma=0.5)]
>>> quantile_points(4, np.array([0.5]), "lower")
[QuantilePoint(lo=1, hi=1, gamma=None)]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class QuantilePoint:
    """The sorted positions read (``lo``, ``hi``) and the interpolation weight (None: the
    value at ``lo`` itself, as numpy's discrete methods take it)."""

    lo: int
    hi: int
    gamma: float | None


def _hf(alpha: float, beta: float) -> Callable[[int, float], float]:
    """Hyndman & Fan's continuous family: the virtual index n*q + alpha + q*(1-alpha-beta) - 1."""
    return lambda n, q: n * q + (alpha + q * (1 - alpha - beta)) - 1


_CONTINUOUS: dict[str, Callable[[int, float], float]] = {
    "linear": lambda n, q: (n - 1) * q,
    "interpolated_inverted_cdf": _hf(0, 1),
    "hazen": _hf(0.5, 0.5),
    "weibull": _hf(0, 0),
    "median_unbiased": _hf(1 / 3.0, 1 / 3.0),
    "normal_unbiased": _hf(3 / 8.0, 3 / 8.0),
    "averaged_inverted_cdf": lambda n, q: n * q - 1,
    "midpoint": lambda n, q: 0.5 * (np.floor((n - 1) * q) + np.ceil((n - 1) * q)),
}


def _boundary(index: float, take_previous: bool) -> int:
    previous = np.floor(index)
    return max(int(previous if take_previous else previous + 1), 0)


def _discrete(n: int, q: float, method: str) -> int:
    if method == "lower":
        return int(np.floor((n - 1) * q))
    if method == "higher":
        return int(np.ceil((n - 1) * q))
    if method == "nearest":
        return int(np.around((n - 1) * q))
    if method == "inverted_cdf":
        index = n * q - 1
        return _boundary(index, index - np.floor(index) == 0)
    index = n * q - 1 - 0.5  # closest_observation: the nearest even order statistic at g=0
    return _boundary(index, index - np.floor(index) == 0 and np.floor(index) % 2 == 1)


def _continuous(n: int, q: float, method: str) -> QuantilePoint:
    virtual = float(_CONTINUOUS[method](n, q))
    if np.isnan(virtual):
        return QuantilePoint(n - 1, n - 1, np.nan)
    lo = int(np.floor(virtual))
    hi = lo + 1
    if virtual >= n - 1:  # numpy: above the last index both ends read the last value
        lo = hi = -1
    if virtual < 0:
        lo = hi = 0
    gamma = virtual - lo
    if method == "averaged_inverted_cdf":
        gamma = 0.5 if gamma == 0 else 1.0
    elif method == "midpoint":
        gamma = 0.0 if virtual % 1 == 0 else 0.5
    return QuantilePoint(lo % n, hi % n, gamma)


def quantile_points(n: int, qs: np.ndarray, method: str) -> list[QuantilePoint]:
    """One point per quantile in ``qs`` (numpy has validated ``method`` and ``qs``). Integer
    quantiles (0 or 1) with the linear method read the element, as numpy does."""
    points = []
    exact = method == "linear" and qs.dtype.kind in "biu"
    for q in qs:
        if method in _CONTINUOUS and not exact:
            points.append(_continuous(n, float(q), method))
        else:
            index = _discrete(n, float(q), method)
            points.append(QuantilePoint(index, index, None))
    return points
