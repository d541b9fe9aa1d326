"""The ``linalg`` bench workload (issue #15 item 4) computes the right thing: every available
implementation's value and gradient match the numpy hand-written reference at a small size.
No timing is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # bench/ is not an installed package: use the checkout's
    sys.path.insert(0, str(ROOT))

from bench.runner import run_case  # noqa: E402
from bench.timing import TimingPolicy  # noqa: E402
from bench.workloads import WORKLOADS  # noqa: E402
from bench.workloads import linalg as workload  # noqa: E402

FAST = TimingPolicy(min_samples=2, max_samples=2, budget_s=0.0, target_sample_s=1e-4)


@pytest.mark.parametrize("form", list(workload.FORMS))
def test_linalg_workload_results_match_the_reference(form: str) -> None:
    assert WORKLOADS["linalg"] is workload
    results = {r.impl: r for r in run_case(workload.case(form, 12), FAST)}
    assert results["numpy"].status == "ok"
    tracegrad_rows = [r for name, r in results.items() if name.startswith("tracegrad")]
    assert [r.status for r in tracegrad_rows] == ["ok"], [r.reason for r in tracegrad_rows]
    assert all(r.status in ("ok", "skipped") for r in results.values())


def test_hand_derivative_is_the_gradient() -> None:
    s, r = workload.make_input(6)
    value, (ds, dr) = workload.hand_value_and_grad(s, r)
    expected = -0.5 * (r @ np.linalg.solve(s, r) + np.linalg.slogdet(s)[1] + 6 * workload.LOG_2PI)
    assert np.isclose(value, expected)
    h = 1e-6
    bump = np.zeros_like(s)
    bump[1, 2] = h
    fd = (
        workload.hand_value_and_grad(s + bump, r)[0] - workload.hand_value_and_grad(s - bump, r)[0]
    ) / (2 * h)
    assert np.isclose(ds[1, 2], fd, rtol=1e-6)
    assert np.allclose(dr, -np.linalg.solve(s, r))
