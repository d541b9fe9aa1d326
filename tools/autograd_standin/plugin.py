"""The pytest plugin the runner loads (``-p tools.autograd_standin.plugin``) into the run of
autograd's tests: one JSON line per test (and per collection error) in the file named by
``AUTOGRAD_STANDIN_RESULTS``, written as each test finishes so a crash keeps what ran."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tools.autograd_standin import mapping


def _write(record: dict[str, Any]) -> None:
    with open(os.environ["AUTOGRAD_STANDIN_RESULTS"], "a") as out:
        out.write(json.dumps(record) + "\n")


def _reason(excinfo: pytest.ExceptionInfo[BaseException] | None) -> str:
    if excinfo is None:
        return ""
    lines = str(excinfo.value).strip().splitlines()
    return f"{excinfo.type.__name__}: {lines[0] if lines else ''}"


def pytest_collection_finish(session: pytest.Session) -> None:
    _write({"collected": [item.nodeid for item in session.items]})


def pytest_runtest_setup(item: pytest.Item) -> None:
    mapping.saw_complex = False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        kind = "error" if report.when == "setup" and report.failed else report.outcome
        _write(
            {
                "test": item.nodeid,
                "outcome": kind,
                "reason": _reason(call.excinfo) if report.outcome == "failed" else "",
                "complex": mapping.saw_complex,
            }
        )


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        lines = str(report.longrepr).strip().splitlines()
        errors = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
        reason = errors[-1] if errors else (lines[-1] if lines else "")
        _write({"test": report.nodeid, "outcome": "collection error", "reason": reason})
