"""The long-running differential fuzzer: ``python -m tracegrad.testing --minutes N``.

Draws random programs and inputs, runs ``check_program`` on each, and writes every failing
case to ``--out`` (default ``tracegrad-failures/``) as SSA text plus an ``.npz`` of its inputs,
which ``replay`` (and the regression test in tests/test_harness.py) runs again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracegrad.testing.oracles import check_program
from tracegrad.testing.programs import Program, program_inputs, programs


def save_case(out_dir: Path, program: Program, inputs: tuple, error: str) -> Path:
    """Write a failing case; returns the path of its .ssa file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(program.source.encode()).hexdigest()[:12]
    path = out_dir / f"case_{digest}.ssa"
    path.write_text(program.source)
    np.savez(path.with_suffix(".npz"), *inputs)
    path.with_suffix(".txt").write_text(error)
    return path


def load_case(path: Path) -> tuple[Program, tuple]:
    """Read a saved case back (SSA text and inputs)."""
    from tracegrad.ir.parser import parse_function

    function = parse_function(path.read_text())
    with np.load(path.with_suffix(".npz")) as data:
        inputs = tuple(data[f"arr_{i}"] for i in range(len(data.files)))
    return Program(function, safe=True), inputs


def run(
    minutes: float, out_dir: Path, safe: bool = True, batch: int = 20, derandomize: bool = False
) -> dict:
    """Fuzz for ``minutes`` (in batches of ``batch`` programs); returns counts of programs,
    inputs and failures. ``derandomize`` makes the programs drawn repeatable (for tests)."""
    stats = {"programs": 0, "failures": 0, "fd_checked": 0, "fd_skipped": 0, "seconds": 0.0}
    deadline = time.monotonic() + minutes * 60
    start = time.monotonic()

    @settings(max_examples=batch, deadline=None, database=None, derandomize=derandomize,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(st.data())
    def one(data: st.DataObject) -> None:
        program = data.draw(programs(safe=safe))
        inputs = data.draw(program_inputs(program))
        stats["programs"] += 1
        try:
            report = check_program(program, inputs)
            fd = report.get("finite_differences", "")
            stats["fd_skipped" if fd.startswith("skipped") else "fd_checked"] += bool(fd)
        except Exception:  # noqa: BLE001  (every failure is saved, then fuzzing goes on)
            stats["failures"] += 1
            save_case(out_dir, program, inputs, traceback.format_exc())

    while True:
        one()
        if time.monotonic() > deadline:
            break
    stats["seconds"] = round(time.monotonic() - start, 1)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracegrad.testing", description=__doc__)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path("tracegrad-failures"))
    parser.add_argument("--raw", action="store_true", help="raw mode: no safe wrappers")
    args = parser.parse_args(argv)
    stats = run(args.minutes, args.out, safe=not args.raw)
    print(json.dumps(stats))
    return 1 if stats["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
