"""Wall-clock timing: warm-up, calls batched to about 2 ms per sample, median of the samples."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TimingPolicy:
    """How hard to try: the sample count is at least ``min_samples``, then more samples are
    taken while the run stays within ``budget_s`` seconds, up to ``max_samples``. The call that
    sizes the batches is a warm-up too, after the first (compiling) call made by the runner."""

    min_samples: int = 5
    max_samples: int = 30
    budget_s: float = 2.0
    target_sample_s: float = 2e-3
    warmup_calls: int = 1


QUICK = TimingPolicy(min_samples=5, max_samples=10, budget_s=0.25, warmup_calls=0)
FULL = TimingPolicy(min_samples=9, max_samples=40, budget_s=2.0)


@dataclass
class Timing:
    """Seconds per call: every sample is the mean over ``calls_per_sample`` back-to-back calls."""

    samples: list[float] = field(default_factory=list)
    calls_per_sample: int = 1

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def low(self) -> float:
        return min(self.samples)

    @property
    def high(self) -> float:
        return max(self.samples)


def timed_call(fn: Callable[[], object]) -> tuple[float, object]:
    """One call and its duration in seconds."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def measure(fn: Callable[[], object], policy: TimingPolicy) -> Timing:
    """Steady-state time per call of ``fn`` (whose first, compiling call has already been made).

    The garbage collector is paused inside each sample, as ``timeit`` does.
    """
    for _ in range(policy.warmup_calls):
        fn()
    single, _ = timed_call(fn)
    calls = max(1, round(policy.target_sample_s / max(single, 1e-9)))
    timing = Timing(calls_per_sample=calls)
    started = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    try:
        while len(timing.samples) < policy.min_samples or (
            len(timing.samples) < policy.max_samples
            and time.perf_counter() - started < policy.budget_s
        ):
            gc.disable()
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            elapsed = time.perf_counter() - t0
            if gc_was_enabled:
                gc.enable()
            timing.samples.append(elapsed / calls)
    finally:
        if gc_was_enabled:
            gc.enable()
    return timing
