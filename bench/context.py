"""Settings of one run and the results shared between workloads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.runner import Case, Result, run_case
from bench.timing import FULL, QUICK, TimingPolicy


@dataclass(frozen=True)
class Settings:
    quick: bool = False
    tiny: bool = False
    timeout_s: float = 300.0

    @property
    def policy(self) -> TimingPolicy:
        return QUICK if self.quick or self.tiny else FULL


@dataclass
class Context:
    settings: Settings
    cache: dict[str, Any] = field(default_factory=dict)
    _case_results: dict[str, list[Result]] = field(default_factory=dict)
    _other_results: list[Result] = field(default_factory=list)

    def run(self, case: Case) -> list[Result]:
        """Results of ``case``; a case already run in this process (by another workload) is
        not run again, so e.g. the gradient-cost table reuses the logistic measurements."""
        if case.key not in self._case_results:
            self._case_results[case.key] = run_case(case, self.settings.policy)
        return self._case_results[case.key]

    def record(self, results: list[Result]) -> None:
        """Keep results measured outside ``run`` (subprocesses, paired runs) for the JSON."""
        self._other_results.extend(results)

    @property
    def all_results(self) -> list[Result]:
        cases = [r for results in self._case_results.values() for r in results]
        return cases + self._other_results
