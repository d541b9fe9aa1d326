"""Runs ``python -m bench.child`` with a timeout and turns its output into a Result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from bench.child import MARKER
from bench.runner import Result, log

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def child_env(overrides: Mapping[str, str | None]) -> dict[str, str]:
    """This process's environment with ``overrides`` applied (None removes a variable); the
    project root goes first on PYTHONPATH so the child imports this checkout."""
    env = dict(os.environ)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    paths = [str(PROJECT_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_child(
    args: list[str],
    *,
    workload: str,
    case: str,
    impl: str,
    timeout_s: float,
    env: Mapping[str, str | None] | None = None,
) -> Result:
    """Result of ``python -m bench.child ARGS``; a child that runs past ``timeout_s`` is killed
    with its whole process group (compilers it started included)."""
    command = [sys.executable, "-m", "bench.child", *args]
    proc = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=child_env(env or {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    is_peer = impl != "tracegrad"
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        log(f"[bench]   {impl}: timeout after {timeout_s:g} s")
        return Result(
            workload,
            case,
            impl,
            "timeout",
            is_peer=is_peer,
            reason=f"no result after {timeout_s:g} s",
        )
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            data.update(workload=workload, case=case, impl=impl)
            result = Result(**data)
            shown = result.status if result.status != "ok" else f"{result.median_s or 0:.3g} s"
            log(f"[bench]   {impl}: {shown} {result.reason}".rstrip())
            return result
    tail = (stderr.strip().splitlines() or ["no output"])[-1][:160]
    log(f"[bench]   {impl}: child exited {proc.returncode}: {tail}")
    return Result(
        workload,
        case,
        impl,
        "FAILED",
        is_peer=is_peer,
        reason=f"child process exited {proc.returncode}: {tail}",
    )
