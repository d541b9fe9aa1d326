"""Running the pipeline: ``optimize``, and ``explain`` for the IR after each pass and, given
the backend's planner, the kernels the backend forms from the result."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from tracegrad.ir import forksafe
from tracegrad.ir.passes.pipeline import DEFAULT_PIPELINE, Stage
from tracegrad.ir.rewrite import RECORDER, session
from tracegrad.ir.value import Function

# function -> the backend's plan of it, one line per step (tracegrad.llvm.plan.kernels.describe)
Planner = Callable[[Function], Sequence[str]]


@dataclass(frozen=True)
class StageReport:
    name: str
    function: Function
    counts: Counter[str]
    ops: int

    def line(self) -> str:
        fired = "  ".join(f"{k} x{n}" for k, n in sorted(self.counts.items()))
        return f"{self.name:<16} {self.ops} ops  {fired}".rstrip()


@dataclass(frozen=True)
class Explanation:
    """What ``optimize`` did: the input and, per pass run, the IR and the rule-fire counts;
    ``plan`` is the backend's plan of the result, one line per step (empty unless ``explain``
    was given the backend's planner)."""

    initial: Function
    stages: list[StageReport] = field(default_factory=list)
    plan: tuple[str, ...] = ()

    @property
    def final(self) -> Function:
        return self.stages[-1].function if self.stages else self.initial

    def counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for stage in self.stages:
            total.update(stage.counts)
        return total

    def summary(self) -> str:
        lines = [stage.line() for stage in self.stages]
        if self.plan:
            lines.append(f"backend plan     {len(self.plan)} steps")
        return "\n".join(lines)

    def __str__(self) -> str:
        parts = [f"=== input: {self.initial.count_ops()} ops ===\n{self.initial}"]
        for stage in self.stages:
            parts.append(f"=== after {stage.line()} ===\n{stage.function}")
        if self.plan:
            parts.append(f"=== backend plan: {len(self.plan)} steps ===")
            parts.extend(self.plan)
        return "\n".join(parts)


_GC_LOCK = forksafe.reset_in_child(threading.Lock())
_gc_pauses = [0, False]  # optimize calls running, whether the collector was on before them


@contextlib.contextmanager
def _pipeline_context() -> Iterator[None]:
    """A rewrite session, with the cyclic garbage collector paused: the passes allocate
    millions of tuples and dicts but no cycles worth collecting, and on a 10^4-op graph the
    collector's scans of every live Value cost as much as the passes themselves."""
    with _GC_LOCK:
        if _gc_pauses[0] == 0:
            _gc_pauses[1] = gc.isenabled()
            gc.disable()
        _gc_pauses[0] += 1
    try:
        with session():
            yield
    finally:
        with _GC_LOCK:
            _gc_pauses[0] -= 1
            if _gc_pauses[0] == 0 and _gc_pauses[1]:
                gc.enable()


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def _run_stage(stage: Stage, function: Function, verify: bool) -> StageReport:
    token = RECORDER.set(Counter())
    try:
        out = stage.run(function)
        counts = RECORDER.get() or Counter()
    finally:
        RECORDER.reset(token)
    if verify:
        _verify(out, stage.name)
    return StageReport(stage.name, out, counts, out.count_ops())


def _verify(function: Function, after: str) -> None:
    try:  # imported lazily: the verifier is optional for the pipeline
        from tracegrad.ir.verifier import verify
    except ImportError:
        return
    from tracegrad.ir.errors import VerifyError

    try:
        verify(function)
    except VerifyError as error:
        raise VerifyError(f"after pass {after}: {error}") from None


def explain(
    function: Function,
    opt_level: int = 2,
    *,
    verify: bool = False,
    pipeline: tuple[Stage, ...] = DEFAULT_PIPELINE,
    planner: Planner | None = None,
) -> Explanation:
    """Run the pipeline and keep each pass's IR and rule counts (see ``Explanation``).

    The IR forms no kernels: the backend does, once. Pass its planner (the IR layer cannot
    import a backend), e.g. ``planner=tracegrad.llvm.plan.kernels.describe``, to see them.
    """
    stages = []
    current = function
    with _pipeline_context():
        for stage in pipeline:
            if stage.min_level <= opt_level:
                report = _run_stage(stage, current, verify)
                stages.append(report)
                current = report.function
    plan = () if planner is None else tuple(planner(current))
    return Explanation(function, stages, plan)


def optimize(
    function: Function,
    opt_level: int = 2,
    *,
    verify: bool | None = None,
    pipeline: tuple[Stage, ...] = DEFAULT_PIPELINE,
) -> Function:
    """``function`` through every pass of ``pipeline`` enabled at ``opt_level``."""
    if verify is None:
        verify = _env_flag("TRACEGRAD_VERIFY_PASSES")
    if _env_flag("TRACEGRAD_DUMP_PASSES"):
        explanation = explain(function, opt_level, verify=verify, pipeline=pipeline)
        print(explanation, file=sys.stderr)
        return explanation.final
    with _pipeline_context():  # the rewrite passes share which rules do not fire where
        for stage in pipeline:
            if stage.min_level <= opt_level:
                function = stage.run(function)
                if verify:
                    _verify(function, stage.name)
    return function
