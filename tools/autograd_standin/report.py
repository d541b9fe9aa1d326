"""Counting and printing the stand-in run: per file and in total, with and without the tests
that use complex numbers, and the commonest failure reasons.

>>> rows = [Result("t.py", "t.py::a", "passed", "", False),
...         Result("t.py", "t.py::b", "failed", "UnsupportedError: np.sort 2", True)]
>>> print_report(rows, top=1)
file                     tests  passed  failed  errors    pass% | no-complex: tests  passed  pass%
t.py                         2       1       1       0    50.0% |                 1       1 100.0%
TOTAL                        2       1       1       0    50.0% |                 1       1 100.0%
<BLANKLINE>
tests using complex numbers: 1; failing on real-valued checks before any complex one: 1 (b)
excusing only failures at complex inputs: 1 of 2 pass (50.0%)
<BLANKLINE>
top 1 failure reasons (all tests):
     1  UnsupportedError: np.sort #
        e.g. b
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

_NUMBER = re.compile(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?")
_TEMP_PATH = re.compile(r"/\S*autograd-standin-[^/\s]*")  # the runner's temporary directory
_REASON_CHARS = 110


@dataclass(frozen=True)
class Result:
    file: str
    test: str
    outcome: str  # passed, failed, skipped, error, collection error, crash
    reason: str  # "ExceptionType: first line of the message" for the failures
    complex: bool  # the test hands complex numbers to autograd's API
    failed_at_complex: bool = False  # it failed after reaching its complex inputs


def reason_key(reason: str) -> str:
    """A failure reason without its numbers, cut short, so alike failures group together."""
    text = _NUMBER.sub("#", _TEMP_PATH.sub("<tmp>", reason))
    text = text.split(" central differences give")[0]  # check_grads: keep order and mode
    text = text.split(" (at ")[0]  # tracegrad's errors name the source line: not the cause
    return text[:_REASON_CHARS]


def _row(label: str, rows: list[Result]) -> str:
    def counts(subset: list[Result]) -> tuple[int, int]:
        return len(subset), sum(r.outcome == "passed" for r in subset)

    n, passed = counts(rows)
    failed = sum(r.outcome == "failed" for r in rows)
    errors = n - passed - failed - sum(r.outcome == "skipped" for r in rows)
    real_n, real_passed = counts([r for r in rows if not r.complex])
    pct = lambda p, t: f"{100 * p / t:5.1f}%" if t else "    -"
    return (f"{label:<22} {n:>7} {passed:>7} {failed:>7} {errors:>7} {pct(passed, n):>8} | "
            f"{real_n:>17} {real_passed:>7} {pct(real_passed, real_n):>6}")  # fmt: skip


def _print_complex_summary(results: list[Result]) -> None:
    """Tests that use complex numbers but fail on their real-valued checks first are failures
    of their own: the second count excuses only the failures at complex inputs."""
    uses = [r for r in results if r.complex]
    early = [
        r.test.split("::")[-1] for r in uses if r.outcome != "passed" and not r.failed_at_complex
    ]
    excused = sum(r.failed_at_complex for r in results)
    n, passed = len(results) - excused, sum(r.outcome == "passed" for r in results)
    print(f"\ntests using complex numbers: {len(uses)}; failing on real-valued checks before any "
          f"complex one: {len(early)} ({', '.join(early) or '-'})")  # fmt: skip
    print(f"excusing only failures at complex inputs: {passed} of {n} pass "
          f"({100 * passed / n if n else 0:.1f}%)")  # fmt: skip


def print_report(results: list[Result], top: int) -> None:
    """Print the table and the ``top`` failure reasons (collection errors count per file)."""
    print(f"{'file':<22} {'tests':>7} {'passed':>7} {'failed':>7} {'errors':>7} {'pass%':>8} | "
          f"{'no-complex: tests':>17} {'passed':>7} {'pass%':>6}")  # fmt: skip
    for name in dict.fromkeys(r.file for r in results):
        print(_row(name, [r for r in results if r.file == name]))
    print(_row("TOTAL", results))
    _print_complex_summary(results)
    failures = [r for r in results if r.outcome not in ("passed", "skipped")]
    reasons = Counter(reason_key(r.reason) for r in failures)
    print(f"\ntop {top} failure reasons (all tests):")
    for reason, count in reasons.most_common(top):
        tests = [r.test.split("::")[-1] for r in failures if reason_key(r.reason) == reason]
        print(f"{count:>6}  {reason}\n        e.g. {', '.join(tests[:4])}")
