"""Runs one case (a workload at one size and dtype) for every implementation.

An implementation's ``build`` returns a zero-argument callable that computes the result on
inputs prepared in advance. The runner builds it, makes the first call (its extra cost over
the steady state is the compile time), checks the result against the float64 reference and
only then times it. Nothing an implementation raises stops the suite.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.check import mismatch, result_dtype
from bench.peers import UnavailableError
from bench.timing import TimingPolicy, measure, timed_call

Metrics = Callable[[float], dict[str, float]]


@dataclass
class Impl:
    name: str
    build: Callable[[], Callable[[], Any]]
    is_tracegrad: bool = False
    note: str = ""
    is_peer: bool = True  # False for reference rows such as a plain Python call


@dataclass
class Case:
    workload: str
    label: str
    reference: Callable[[], Any]
    impls: list[Impl]
    rtol: float
    dtype: np.dtype | None = None
    metrics: Metrics | None = None
    metric_names: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.workload}: {self.label}"


@dataclass
class Result:
    workload: str
    case: str
    impl: str
    status: str  # "ok", "FAILED", "skipped" or "timeout"
    is_peer: bool = True
    reason: str = ""
    note: str = ""
    median_s: float | None = None
    low_s: float | None = None
    high_s: float | None = None
    samples_s: list[float] = field(default_factory=list)
    calls_per_sample: int = 0
    first_call_s: float | None = None
    compile_s: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    message = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return message if len(message) <= 120 else message[:117] + "..."


def is_skip(exc: BaseException, impl: Impl) -> bool:
    """Missing packages and unbuilt API are skips; anything else is a failure."""
    if isinstance(exc, (UnavailableError, ImportError, NotImplementedError)):
        return True
    return impl.is_tracegrad and isinstance(exc, AttributeError)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_impl(case: Case, impl: Impl, reference: Any, policy: TimingPolicy) -> Result:
    result = Result(
        case.workload,
        case.label,
        impl.name,
        "ok",
        is_peer=impl.is_peer and not impl.is_tracegrad,
        note=impl.note,
    )
    try:
        build_s, fn = timed_call(impl.build)
        first_s, out = timed_call(fn)
    except Exception as exc:
        result.status = "skipped" if is_skip(exc, impl) else "FAILED"
        result.reason = str(exc) if isinstance(exc, UnavailableError) else describe(exc)
        return result
    problem = mismatch(out, reference, case.rtol)
    if problem is not None:
        result.status, result.reason = "FAILED", f"wrong result: {problem}"
        return result
    got_dtype = result_dtype(out)
    if case.dtype is not None and got_dtype is not None and got_dtype != case.dtype:
        result.note = (result.note + "; " if result.note else "") + f"returns {got_dtype}"
    try:
        timing = measure(fn, policy)
    except Exception as exc:
        result.status, result.reason = "FAILED", f"while timing: {describe(exc)}"
        return result
    result.samples_s = timing.samples
    result.calls_per_sample = timing.calls_per_sample
    result.median_s, result.low_s, result.high_s = timing.median, timing.low, timing.high
    result.first_call_s = build_s + first_s
    result.compile_s = max(0.0, result.first_call_s - timing.median)
    if case.metrics is not None:
        result.metrics = case.metrics(timing.median)
    return result


def run_case(case: Case, policy: TimingPolicy) -> list[Result]:
    log(f"[bench] {case.key}")
    reference = case.reference()
    results = []
    for impl in case.impls:
        result = run_impl(case, impl, reference, policy)
        shown = result.status if result.status != "ok" else f"{result.median_s * 1e3:.4g} ms"
        log(f"[bench]   {impl.name}: {shown} {result.reason}".rstrip())
        results.append(result)
    return results
