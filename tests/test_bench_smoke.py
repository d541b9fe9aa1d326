"""Keeps the benchmark harness (bench/) from rotting. No timing is asserted anywhere: only that
the suite runs, checks results and reports them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # bench/ is not an installed package: use the checkout's
    sys.path.insert(0, str(ROOT))

from bench.check import mismatch  # noqa: E402
from bench.report import render, timing_table  # noqa: E402
from bench.runner import Case, Impl, run_case  # noqa: E402
from bench.timing import TimingPolicy  # noqa: E402

FAST = TimingPolicy(min_samples=2, max_samples=2, budget_s=0.0, target_sample_s=1e-4)


def test_quick_logistic_tiny_runs_and_reports_numpy(tmp_path: Path) -> None:
    env = dict(os.environ, TRACEGRAD_CACHE_DIR=str(tmp_path / "cache"))
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only",
            "logistic",
            "--tiny",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    numpy_rows = [line for line in proc.stdout.splitlines() if line.startswith("| numpy")]
    assert numpy_rows, proc.stdout
    assert all("FAILED" not in row and "skipped" not in row for row in numpy_rows), numpy_rows
    assert "| implementation | median |" in proc.stdout
    results = json.loads(out.read_text())["results"]
    numpy_results = [r for r in results if r["workload"] == "logistic" and r["impl"] == "numpy"]
    assert numpy_results and all(r["status"] == "ok" for r in numpy_results)
    assert all(r["median_s"] > 0 and len(r["samples_s"]) >= 5 for r in numpy_results)


def test_unknown_workload_is_an_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "nonsense"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode != 0
    assert "unknown workload" in proc.stderr


def test_mismatch_compares_on_the_reference_scale() -> None:
    ref = np.array([1.0, 2.0, 4.0])
    assert mismatch(ref * (1 + 1e-12), ref, rtol=1e-9) is None
    assert mismatch((ref[0], ref), (1.0, ref), rtol=1e-9) is None
    assert mismatch(ref + 1e-3, ref, rtol=1e-9) is not None
    assert mismatch(ref[:2], ref, rtol=1e-9) is not None
    assert mismatch(np.array([np.nan, 2.0, 4.0]), ref, rtol=1e-9) is not None
    assert mismatch((ref, ref), (ref,), rtol=1e-9) is not None


def test_runner_marks_wrong_results_failed_and_missing_api_skipped() -> None:
    x = np.linspace(0.0, 1.0, 16)

    def raises(exc: Exception) -> Impl:
        def build() -> object:
            raise exc

        return Impl(type(exc).__name__, build, is_tracegrad=isinstance(exc, AttributeError))

    impls = [
        Impl("right", lambda: lambda: np.exp(x)),
        Impl("wrong", lambda: lambda: np.exp(x) + 1e-3),
        Impl("crashes", lambda: lambda: 1 / 0),
        raises(NotImplementedError("not yet")),
        raises(AttributeError("module 'tracegrad' has no attribute 'grad'")),
    ]
    case = Case("test", "exp", lambda: np.exp(x), impls, rtol=1e-12)
    results = {r.impl: r for r in run_case(case, FAST)}
    assert results["right"].status == "ok" and results["right"].median_s is not None
    assert results["wrong"].status == "FAILED" and results["wrong"].median_s is None
    assert results["crashes"].status == "FAILED"
    assert results["NotImplementedError"].status == "skipped"
    assert results["AttributeError"].status == "skipped"
    text = render(timing_table("exp", list(results.values())))
    assert "| right |" in text and "FAILED: wrong result" in text and "skipped" in text
