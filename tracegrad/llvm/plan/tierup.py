"""Tier-up policy: when a plan's METH_FASTCALL wrappers are worth compiling, and where; and
the work itself (:func:`compile_wrappers`).

A PlanExecutable first calls its kernels through ctypes (5 us a kernel, more with many
arguments). Tiering up gives each kernel a METH_FASTCALL wrapper (about 45 ns a call
instead). A wrapper costs about 10 ms of LLVM time at O1 (8-11 ms measured; one module of
167 per-kernel wrappers took 1.9 s: autograd's hmm_em example spent 70 s so at its third
call). Wrappers depend only on the kernel's argument specs, not on its code, so one is
compiled per distinct spec (:func:`wrapper_key`) and each builtin carries its kernel's
address: the 167 kernels of a 1,000-step unrolled gradient need a handful, and wrappers
seen before (in this process, or on disk) are cache hits.

The bound: tier-up work (estimated before it starts) never exceeds ``fraction`` of what
the function has already cost, measured: tracing, optimizing and compiling it, plus the
time its calls have taken so far (a function that keeps running earns its tier-up, as in
the classic rent-or-buy rule). 25 % keeps the worst case within the run-to-run noise of a
first call (10-30 % on a shared machine) while a function that is called often enough
still gets its fast path. ``floor_s`` lets the cheapest tier-up (one or two wrappers,
about what the docs used to promise for it: 8-16 ms) through whatever the function cost:
below it the work is smaller than tracing any function is. The estimate counts distinct
wrappers and ignores caches (an over-estimate when they hit).

Where: work at most ``inline_below_s`` runs on the calling thread (a small kernel's call
is then fast from its third call on, as before); larger allowed work runs on a
background thread (llvmlite releases the GIL while LLVM works; the LLVM calls still hold
:data:`tracegrad.llvm.machine.target.LLVM_LOCK`), and calls keep using the ctypes path until the
new code is ready, then switch to it in one assignment. Nothing waits for it.
"""

from __future__ import annotations

import enum
import hashlib
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tracegrad.ir import forksafe
from tracegrad.llvm.callpath import wrapper as callpath
from tracegrad.llvm.codegen import KernelText
from tracegrad.llvm.machine import engine
from tracegrad.llvm.plan.module import GIL_RELEASE_WORK, arg_specs

__all__ = [
    "DEFAULT_POLICY",
    "Mode",
    "TierUpPolicy",
    "compile_wrappers",
    "pending",
    "run_guarded",
    "run_in_background",
    "wrapper_key",
]


class Mode(enum.Enum):
    """What to do with the tier-up work now."""

    WAIT = "wait"  # not yet: too early, or over the bound (asked again later)
    INLINE = "inline"  # small: on the calling thread
    BACKGROUND = "background"  # allowed but not small: on a background thread


@dataclass(frozen=True)
class TierUpPolicy:
    """When to tier up (see the module docstring); all times in seconds."""

    after_calls: int = 3  # most traced functions run once or twice: never tier those up
    fraction: float = 0.25
    floor_s: float = 0.025
    inline_below_s: float = 0.025
    wrapper_s: float = 0.010  # LLVM time of one wrapper at O1 (measured, see above)

    def estimate(self, n_wrappers: int) -> float:
        """Estimated tier-up work for a plan of ``n_wrappers`` native kernels."""
        return self.wrapper_s * n_wrappers

    def decide(self, calls: int, spent_s: float, n_wrappers: int) -> Mode:
        """The decision at call number ``calls`` of a plan whose tracing, compiling and
        calls so far took ``spent_s`` seconds."""
        if calls < self.after_calls:
            return Mode.WAIT
        cost = self.estimate(n_wrappers)
        if cost > max(self.fraction * spent_s, self.floor_s):
            return Mode.WAIT
        return Mode.INLINE if cost <= self.inline_below_s else Mode.BACKGROUND

    def next_check(self, calls: int) -> int:
        """After a WAIT at or past ``after_calls``, the call that asks again: doubling
        the interval keeps the bookkeeping to O(log calls)."""
        return max(calls * 2, self.after_calls)


DEFAULT_POLICY = TierUpPolicy()

_lock = forksafe.reset_in_child(threading.Lock())
_pending = 0  # a forked child inherits the count but not the threads: harmless


def pending() -> int:
    """Tier-up jobs started on background threads and not finished yet (for benchmarks
    and tests; nothing in a call path waits for them)."""
    return _pending


def run_guarded(job: Callable[[], None], name: str) -> None:
    """Run ``job`` here; an exception becomes a warning (tier-up is an optimization: the
    calls already work without it, and the one that ran it must not fail for it)."""
    try:
        job()
    except Exception as exc:  # noqa: BLE001 -- the slower path stays in use
        warnings.warn(f"tracegrad: tier-up of {name} failed: {exc!r}", stacklevel=2)


def run_in_background(job: Callable[[], None], name: str) -> threading.Thread:
    """Run ``job`` guarded (see run_guarded) on a new thread. Not a daemon thread: at exit
    the interpreter waits for a tier-up in progress (at most its bounded cost) instead of
    tearing LLVM down under a compile."""
    global _pending

    def run() -> None:
        global _pending
        try:
            run_guarded(job, name)
        finally:
            with _lock:
                _pending -= 1

    with _lock:
        _pending += 1
    thread = threading.Thread(target=run, name=f"tracegrad-tierup-{name}", daemon=False)
    thread.start()
    return thread


# ---- the work: one shared wrapper per distinct argument spec ------------------------------


def wrapper_key(kernel: KernelText) -> str:
    """What a kernel's METH_FASTCALL wrapper depends on: its arguments' specs, whether it
    releases the GIL, its extent count. Kernels with equal keys share one wrapper (it calls
    the kernel whose address its builtin carries), in this process and through the disk
    cache in others."""
    release = not isinstance(kernel.work, int) or kernel.work >= GIL_RELEASE_WORK
    return repr((arg_specs(kernel), release, len(kernel.dims)))


def compile_wrappers(
    kernels: Sequence[tuple[KernelText, int]], keepalive: object, name: str
) -> list[Any]:
    """The METH_FASTCALL builtins calling each ``(kernel, entry address)``: one module per
    distinct wrapper (so equal wrappers of other functions are the same module: a cache
    hit), each builtin carrying its kernel's address. ``keepalive``: the kernels' module;
    ``name``: the function's, for the modules' name hints."""
    modules: dict[str, tuple[engine.CompiledModule, str]] = {}
    natives = []
    for kernel, address in kernels:
        key = wrapper_key(kernel)
        if key not in modules:
            symbol = "tgw." + hashlib.sha256(key.encode()).hexdigest()[:20]
            release = not isinstance(kernel.work, int) or kernel.work >= GIL_RELEASE_WORK
            text = callpath.fastcall_wrapper_ir(
                symbol,
                symbol + ".kernel",  # unused: the kernel is the builtin's
                arg_specs(kernel),
                len(kernel.dims),
                release_gil=release,
                check_overlap=False,  # outputs are fresh np.empty arrays
                entry_from_self=True,
            )
            hint = name + ".wrappers"
            module = engine.compile_module(text, opt_level=1, name_hint=hint, exports=[symbol])
            modules[key] = (module, symbol)
        module, symbol = modules[key]
        natives.append(callpath.make_shared_native_callable(module, symbol, address, keepalive))
    return natives
