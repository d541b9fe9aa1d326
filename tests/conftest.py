"""Fixtures shared by the tests (session set-up: the repository's root conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)
