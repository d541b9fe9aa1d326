"""``python -m bench``: run the workloads and print one markdown table per case."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench import peers
from bench.context import Context, Settings
from bench.report import Table, render, write_json, write_plot
from bench.workloads import WORKLOADS


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure tracegrad against numpy, JAX, Numba, PyTensor, autograd and the "
        "machine's limits. Tables go to stdout, progress to stderr.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer samples, smaller slow cases, short peer timeouts (< 2 min)",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="tiny sizes, for the smoke test; the numbers mean nothing",
    )
    parser.add_argument(
        "--only", metavar="NAME[,NAME]", help="comma-separated workloads: " + ", ".join(WORKLOADS)
    )
    parser.add_argument("--json", metavar="FILE", type=Path, help="save raw numbers as JSON")
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        type=Path,
        help="bar charts of time / best peer (needs matplotlib)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="limit for each subprocess run (default 10 with --quick, else 300)",
    )
    return parser.parse_args(argv)


def selected(only: str | None) -> list[str]:
    if not only:
        return list(WORKLOADS)
    names = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        raise SystemExit(
            f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}"
        )
    return names


THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "XLA_FLAGS",
)


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: above the core count, other jobs share the cores
    and the timings (multithreaded BLAS above all) degrade."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def metadata(settings: Settings) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": peers.cpu_name(),
        "cores": peers.cpu_count(),
        "python": platform.python_version(),
        "versions": peers.versions(),
        "mode": "tiny" if settings.tiny else "quick" if settings.quick else "full",
        "argv": sys.argv[1:],
        "load_average_at_start": load_average(),
        "thread_env": {k: v for k, v in os.environ.items() if k in THREAD_VARIABLES},
    }


def header(meta: dict[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    threads = "".join(f"; {k}={v}" for k, v in meta["thread_env"].items())
    load = "/".join(str(x) for x in meta["load_average_at_start"]) or "unknown"
    return (
        f"## tracegrad benchmarks ({meta['mode']})\n\n"
        f"{meta['date']}; {meta['cpu']}, {meta['cores']} cores; Python {meta['python']}; "
        f"{versions}; load average at start {load}{threads}\n\n"
        "Times are medians per call; spread is min - max over the samples; 'vs best peer'"
        " divides by the fastest correct peer (tracegrad is not a peer); compile is first"
        " call (including building) minus the median.\n"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = selected(args.only)
    quick = args.quick or args.tiny
    timeout = args.timeout if args.timeout is not None else (10.0 if quick else 300.0)
    settings = Settings(quick=args.quick, tiny=args.tiny, timeout_s=timeout)
    ctx = Context(settings)
    meta = metadata(settings)
    print(header(meta), flush=True)
    tables: list[Table] = []
    started = time.perf_counter()
    for name in names:
        for table in WORKLOADS[name].run(ctx):
            tables.append(table)
            print(render(table), flush=True)
    meta["elapsed_s"] = round(time.perf_counter() - started, 1)
    meta["load_average_at_end"] = load_average()
    end_load = "/".join(str(x) for x in meta["load_average_at_end"])
    print(f"total time {meta['elapsed_s']} s; load average at end {end_load}", flush=True)
    if args.json:
        write_json(args.json, meta, tables, ctx.all_results)
        print(f"raw numbers written to {args.json}")
    if args.plot:
        problem = write_plot(args.plot, tables)
        print(f"plot not written: {problem}" if problem else f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
