"""Run autograd's numpy gradient tests against tracegrad through the stand-in ``autograd``.

``python -m tools.autograd_standin <autograd-checkout> [--files a.py,b.py] [--top 10]``

``<autograd-checkout>`` is a source checkout or a (bare) git directory, whose HEAD is read.
The test files (and autograd's ``tests/conftest.py``, ``tests/numpy_utils.py``) are copied
into a temporary directory; each file runs in its own pytest subprocess with ``shim/`` (the
stand-in ``autograd``) first on ``PYTHONPATH``, the temp directory as ``TMPDIR`` and compile
cache, and the plugin recording outcomes (tests that a crash or ``--timeout`` cut short count
as failures, never as passes). A first, survey pass (``AUTOGRAD_STANDIN_SURVEY=1``: nothing
is checked) marks the tests that hand complex numbers to autograd's API, so the counts are
printed with and without them. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import tracegrad
from tools.autograd_standin.report import Result, print_report

FILES = (
    "test_numpy.py",
    "test_systematic.py",
    "test_scalar_ops.py",
    "test_binary_ops.py",
    "test_jacobian.py",
)
HELPERS = ("conftest.py", "numpy_utils.py")
TOOLS_ROOT = Path(__file__).resolve().parents[2]  # the directory holding the tools package
PYTEST_OPTIONS = ("-q", "-p", "no:cacheprovider", "-p", "tools.autograd_standin.plugin")
SHIM = Path(__file__).resolve().parent / "shim"


def _read_test_file(checkout: Path, name: str) -> bytes:
    """``tests/<name>`` from a checkout, or from HEAD when ``checkout`` is a bare git directory."""
    path = checkout / "tests" / name
    if path.is_file():
        return path.read_bytes()
    if (checkout / "HEAD").is_file():
        show = ["git", f"--git-dir={checkout}", "show", f"HEAD:tests/{name}"]
        done = subprocess.run(show, capture_output=True)
        if done.returncode == 0:
            return done.stdout
    raise SystemExit(f"tests/{name} not found in {checkout} (an autograd checkout or git dir)")


def _copy_tests(checkout: Path, files: list[str], into: Path) -> None:
    for name in [*HELPERS, *files]:
        (into / name).write_bytes(_read_test_file(checkout, name))
    (into / "pytest.ini").write_text("[pytest]\n")  # no project config leaks into the run


def _environment(work: Path, results: Path, survey: bool) -> dict[str, str]:
    env = dict(os.environ)
    path = [str(SHIM), str(TOOLS_ROOT)] + [p for p in [env.get("PYTHONPATH", "")] if p]
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["AUTOGRAD_STANDIN_RESULTS"] = str(results)
    env["AUTOGRAD_STANDIN_SURVEY"] = "1" if survey else "0"
    env["TMPDIR"] = str(work / "tmp")
    env["TRACEGRAD_CACHE_DIR"] = str(work / "cache")
    return env


def _run_file(work: Path, name: str, survey: bool, timeout: float) -> list[dict]:
    results = work / f"{name}.{'survey' if survey else 'run'}.jsonl"
    tests = work / "tests"
    command = [sys.executable, "-m", "pytest", *PYTEST_OPTIONS, "-c", str(tests / "pytest.ini")]
    command += ["--rootdir", str(tests), str(tests / name)]
    env = _environment(work, results, survey)
    try:
        done = subprocess.run(command, env=env, cwd=tests, capture_output=True, timeout=timeout)
        why = (done.stdout + done.stderr).decode(errors="replace").strip().splitlines()[-1:]
    except subprocess.TimeoutExpired:
        why = [f"timeout: the file ran longer than {timeout:g} s"]
    lines = results.read_text().splitlines() if results.exists() else []
    records = [json.loads(line) for line in lines]
    collected = [t for r in records for t in r.get("collected", [])]
    reported = {r["test"] for r in records if "test" in r}
    cut = [{"test": t, "outcome": "crash", "reason": " ".join(why)} for t in collected]
    records = [r for r in records if "test" in r] + [r for r in cut if r["test"] not in reported]
    if not records:
        records = [{"test": name, "outcome": "crash", "reason": " ".join(why)}]
    return records


def run(checkout: Path, files: list[str], timeout: float = 3600.0) -> list[Result]:
    """Run each file twice (survey, then check) and merge the outcomes per test."""
    with tempfile.TemporaryDirectory(prefix="autograd-standin-") as tmp:
        work = Path(tmp)
        (work / "tests").mkdir()
        (work / "tmp").mkdir()
        _copy_tests(checkout, files, work / "tests")
        merged: list[Result] = []
        for name in files:
            print(f"running {name} ...", flush=True)
            complex_tests = {
                r["test"] for r in _run_file(work, name, True, timeout) if r.get("complex")
            }
            for r in _run_file(work, name, False, timeout):
                merged.append(
                    Result(
                        name,
                        r["test"],
                        r["outcome"],
                        r["reason"],
                        r["test"] in complex_tests or bool(r.get("complex")),
                        r["outcome"] != "passed" and bool(r.get("complex")),
                    )
                )
        return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.autograd_standin",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkout", type=Path, help="path of an autograd source checkout")
    parser.add_argument("--files", default=",".join(FILES), help="comma-separated test files")
    parser.add_argument("--top", type=int, default=10, help="how many failure reasons to list")
    parser.add_argument("--save", type=Path, help="also write every test's outcome here (JSON)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per file and pass")
    args = parser.parse_args(argv)
    print(f"tracegrad: {Path(tracegrad.__file__).parent}")
    results = run(args.checkout, args.files.split(","), args.timeout)
    if args.save:
        args.save.write_text(json.dumps([dataclasses.asdict(r) for r in results], indent=1))
    print_report(results, args.top)
    return 0
