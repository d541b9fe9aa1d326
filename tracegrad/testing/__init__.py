"""tracegrad.testing: the test harness tracegrad runs on itself, public for users.

- ``check_grads(f, args, order=2, modes=("rev", "fwd"))``: derivatives against central finite
  differences (the dot-product test).
- ``assert_matches_numpy(f, *args)``: ``jit(f)`` against eager numpy.
- ``check_program(program, inputs)``: every oracle on one random program.
- ``assert_ulp_close(got, fn, *inputs, max_ulp=)``: transcendental results against a correctly
  rounded (long double) reference, since numpy's own ``exp``/``log``/... differ per CPU.
- hypothesis strategies (need the ``test`` extra): ``arrays``, ``shapes``,
  ``broadcastable_shapes``, ``layouts`` with ``relayout``, ``programs``, ``program_inputs``.

See docs/testing.md.

>>> import numpy as np
>>> from tracegrad.testing import check_grads
>>> check_grads(lambda x: np.sum(np.sin(x) ** 2), (np.array([0.3, -1.2]),))
"""

from __future__ import annotations

from typing import Any

from tracegrad.testing.gradcheck import check_grads
from tracegrad.testing.oracles import assert_close, assert_matches_numpy, check_program
from tracegrad.testing.ulp import assert_ulp_close

_STRATEGIES = {
    "arrays": "strategies", "shapes": "strategies", "broadcastable_shapes": "strategies",
    "layouts": "strategies", "relayout": "strategies", "LAYOUTS": "strategies",
    "programs": "programs", "program_inputs": "programs", "Program": "programs",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    """Strategies import hypothesis, which only the ``test`` extra installs: load on use."""
    module = _STRATEGIES.get(name)
    if module is None:
        raise AttributeError(f"module 'tracegrad.testing' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"tracegrad.testing.{module}"), name)


__all__ = [
    "assert_close",
    "assert_ulp_close",
    "assert_matches_numpy",
    "check_grads",
    "check_program",
    *_STRATEGIES,
]
