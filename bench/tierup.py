"""Tier-up cost on a 1,000-step unrolled gradient (issue #13 item 3).

``python -m bench.tierup`` prints the wall time of calls 1-4 of ``jit(grad(f))`` on a
1,000-element float64 array, the median call before tier-up, when the tier-up started and
when its code came into use (see :mod:`tracegrad.llvm.tierup`), and the median call after
it; with an empty disk cache (a fresh temporary ``TRACEGRAD_CACHE_DIR``), so every compile
is a real LLVM compile. ``--steps 200`` makes a quicker run.
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
    """Calls 1-4, the median call before tier-up, then calls until the tiered code is in
    (at most ``max_wait_s``) and the median call after it."""
    global STEPS
    STEPS = steps
    import numpy as np

    import tracegrad
    from tracegrad.llvm import tierup

    g = tracegrad.jit(tracegrad.grad(f))
    x = np.linspace(-1.0, 1.0, n)
    first = [_timed(g, x) for _ in range(4)]
    steady_before = statistics.median(_timed(g, x) for _ in range(samples))
    switched: list[int] = []
    exe = g.lower(x).executable
    calls, started = 4 + samples, None
    exe.on_tier_up(lambda hot: switched.append(calls))
    deadline = time.perf_counter() + max_wait_s
    while not switched and time.perf_counter() < deadline:
        g(x)
        calls += 1
        if started is None and tierup.pending():
            started = calls
    steady_after = statistics.median(_timed(g, x) for _ in range(samples)) if switched else None
    return {
        "calls": first,
        "steady_before": steady_before,
        "started": started,
        "switched": switched[0] if switched else None,
        "steady_after": steady_after,
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
    print(f"steady before tier-up: {r['steady_before'] * 1e3:10.2f} ms (median of {args.samples})")
    if r["switched"] is None:
        print(f"no tier-up within {args.max_wait} s (over the bound)")
    else:
        print(f"tier-up started after call {r['started']}, in use from call {r['switched']}")
        print(f"steady after tier-up:  {r['steady_after'] * 1e3:10.2f} ms")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
