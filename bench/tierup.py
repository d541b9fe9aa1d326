"""Tier-up cost on a 1,000-step unrolled gradient (issue #13 item 3).

``python -m bench.tierup`` prints the wall time of calls 1-4 of ``jit(grad(f))`` on a
1,000-element float64 array, from which call the tiered-up code is in use (see
:mod:`tracegrad.llvm.plan.tierup`), and the median call after that; with an empty disk cache
(a fresh temporary ``TRACEGRAD_CACHE_DIR``), so every compile is a real LLVM compile.
``--steps 200`` makes a quicker run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any


def f(x: Any) -> Any:
    import numpy as np

    for _ in range(STEPS):
        x = x + 0.01 * np.sin(x)
    return np.sum(x)


STEPS = 1000


def measure(steps: int, n: int, samples: int, max_wait_s: float) -> dict[str, Any]:
    """Calls 1-4, then calls until the tiered code is in (at most ``max_wait_s``), and the
    median call after it."""
    global STEPS
    STEPS = steps
    import numpy as np

    import tracegrad

    g = tracegrad.jit(tracegrad.grad(f))
    x = np.linspace(-1.0, 1.0, n)
    first = [_timed(g, x)]
    calls, switched = [1], []
    g.lower(x).executable.on_tier_up(lambda hot: switched.append(calls[0]))
    for _ in range(3):
        calls[0] += 1
        first.append(_timed(g, x))
    before = []
    deadline = time.perf_counter() + max_wait_s
    while not switched and time.perf_counter() < deadline:
        calls[0] += 1
        before.append(_timed(g, x))
    after = [_timed(g, x) for _ in range(samples)] if switched else []
    return {
        "calls": first,
        "before": before,
        "switched": switched[0] if switched else None,
        "steady_after": statistics.median(after) if after else None,
    }


def _timed(g: Any, x: Any) -> float:
    t = time.perf_counter()
    g(x)
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tierup", description=__doc__)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("-n", type=int, default=1000, help="array length")
    parser.add_argument("--samples", type=int, default=9)
    parser.add_argument("--max-wait", type=float, default=60.0, help="seconds")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TRACEGRAD_CACHE_DIR"] = cache
        r = measure(args.steps, args.n, args.samples, args.max_wait)
    for i, s in enumerate(r["calls"], 1):
        print(f"call {i}: {s * 1e3:10.2f} ms")
    if r["before"]:
        print(f"calls 5-{4 + len(r['before'])} (before the switch), median: ", end="")
        print(f"{statistics.median(r['before']) * 1e3:.2f} ms")
    if r["switched"] is None:
        print(f"no tier-up within {args.max_wait} s (over the bound)")
    else:
        print(f"tiered code in use from call {r['switched'] + 1}")
        print(
            f"steady after tier-up: {r['steady_after'] * 1e3:10.2f} ms (median of {args.samples})"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
