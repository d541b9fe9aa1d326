"""Tier-up is a policy with a bound (issue #13 item 3): the decision from measured costs,
calls that never wait for a tier-up compile, identical results before and after the
switch, and the expensive case skipped."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _lowering_util import function_of  # noqa: E402

import tracegrad  # noqa: E402
from tracegrad.backend import get_backend  # noqa: E402
from tracegrad.ir import build as b  # noqa: E402
from tracegrad.llvm import backend as llvm_backend  # noqa: E402
from tracegrad.llvm.machine import engine  # noqa: E402
from tracegrad.llvm.plan import executable as plan_executable  # noqa: E402
from tracegrad.llvm.plan import runs as plan_runs  # noqa: E402
from tracegrad.llvm.plan.tierup import Mode, TierUpPolicy, wrapper_key  # noqa: E402

STEPS = 20
BACKGROUND = TierUpPolicy(inline_below_s=0.0)  # every allowed tier-up off the calling thread
WAIT_S = 60.0  # a safety net against hanging: nothing here should wait that long


def test_policy_decides_from_costs() -> None:
    p = TierUpPolicy(
        after_calls=3, fraction=0.25, floor_s=0.025, inline_below_s=0.025, wrapper_s=0.010
    )
    assert p.decide(2, 100.0, 1) is Mode.WAIT  # too early, whatever the function cost
    assert p.decide(3, 0.001, 1) is Mode.INLINE  # 10 ms: under the floor
    assert p.decide(3, 0.001, 2) is Mode.INLINE  # 20 ms: still under it
    assert p.decide(3, 0.080, 3) is Mode.WAIT  # 30 ms > max(20 ms, 25 ms)
    assert p.decide(3, 0.120, 3) is Mode.BACKGROUND  # 30 ms <= 30 ms, above inline
    # the 1,000-step unrolled gradient: 167 kernels, 1.3 s to trace and compile
    assert p.decide(3, 1.3, 167) is Mode.WAIT
    assert p.decide(96, 6.6, 167) is Mode.WAIT  # 1.67 s > 1.65 s
    assert p.decide(96, 6.7, 167) is Mode.BACKGROUND  # it has cost 4x the work by then
    assert [p.next_check(c) for c in (3, 6, 12)] == [6, 12, 24]
    assert p.estimate(167) == pytest.approx(1.67)


class HeldCompile:
    """Replaces compile_wrappers: the compile starts, then waits until released."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, kernels: list, keepalive: object, name: str) -> Any:
        self.calls += 1
        self.started.set()
        assert self.release.wait(WAIT_S), "the test never released the compile"
        return self.real(kernels, keepalive, name)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> HeldCompile:
    hold = HeldCompile(plan_executable.compile_wrappers)
    monkeypatch.setattr(plan_executable, "compile_wrappers", hold)
    yield hold
    hold.release.set()


def _tiered_event(exe: Any) -> threading.Event:
    done = threading.Event()
    exe.on_tier_up(lambda hot: done.set())
    return done


def test_calls_never_wait_for_the_tier_up_compile(held: HeldCompile) -> None:
    x = np.linspace(-2.0, 2.0, 33)
    exe = llvm_backend.LLVMBackend(tier_up=BACKGROUND).compile(
        function_of(lambda a: b.add(b.mul(a, 3.0), 1.0), [x])
    )
    done = _tiered_event(exe)
    before = [exe([x])[0] for _ in range(3)]  # the third starts the tier-up
    assert held.started.wait(WAIT_S)
    plain = exe.hot
    for _ in range(20):  # the compile is held: these run the ctypes path meanwhile
        (out,) = exe.fast_call(x)
        before.append(out)
        before.append(exe([x])[0])
    assert exe.hot is plain and not done.is_set() and held.calls == 1
    held.release.set()
    assert done.wait(WAIT_S)
    assert exe.hot is not plain and exe._fast_path() is not None
    after = [exe.fast_call(x)[0] for _ in range(3)] + [exe([x])[0] for _ in range(3)]
    expected = x * 3.0 + 1.0
    for out in before + after:  # identical, bit for bit, before and after the switch
        assert out.tobytes() == expected.tobytes()
    assert held.calls == 1  # exactly one tier-up


def test_jit_switches_to_the_tiered_code_when_it_is_ready(
    held: HeldCompile, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_backend("llvm"), "tier_up", BACKGROUND)
    g = tracegrad.jit(tracegrad.grad(lambda t: np.sum(np.sin(t) * t)), backend="llvm")
    x = np.linspace(-1.0, 1.0, 17)
    expected = np.sin(x) + x * np.cos(x)
    first = [g(x) for _ in range(3)]
    assert held.started.wait(WAIT_S)
    exe = g.lower(x).executable
    done = _tiered_event(exe)
    held_calls = [g(x) for _ in range(20)]  # never blocked by the held compile
    assert not done.is_set()
    held.release.set()
    assert done.wait(WAIT_S)
    after = [g(x) for _ in range(5)]
    assert exe._fast_path() is not None
    for out in first + held_calls + after:
        np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)
        assert out.tobytes() == first[0].tobytes()


def test_an_expensive_tier_up_is_skipped(held: HeldCompile) -> None:
    # a wrapper estimated at 10 s: over the bound however often the plan is called here
    policy = TierUpPolicy(wrapper_s=10.0)
    x = np.linspace(0.1, 2.0, 9)
    exe = llvm_backend.LLVMBackend(tier_up=policy).compile(
        function_of(lambda a: b.mul(b.log(a), a), [x])
    )
    plain = exe.hot
    for _ in range(200):
        (out,) = exe([x])
        np.testing.assert_allclose(out, np.log(x) * x, rtol=1e-15)
    assert held.calls == 0 and exe.hot is plain


def test_a_cheap_tier_up_runs_on_the_calling_thread(held: HeldCompile) -> None:
    held.release.set()  # not held: the compile just runs
    x = np.linspace(-1.0, 1.0, 5)
    exe = llvm_backend.LLVMBackend().compile(function_of(lambda a: b.mul(a, a), [x]))
    plain = exe.hot
    for _ in range(llvm_backend.TIER_UP_CALLS):
        exe([x])
    assert held.calls == 1 and exe.hot is not plain  # switched by the third call's end
    assert exe.fast_call(x)[0].tobytes() == (x * x).tobytes()


def test_a_plan_that_keeps_running_earns_its_tier_up(held: HeldCompile) -> None:
    held.release.set()
    # one wrapper estimated at 1 s; the function "cost" 3 s so far: 1 s > 25 % of 3 s
    policy = TierUpPolicy(wrapper_s=1.0, floor_s=0.0, inline_below_s=10.0)
    x = np.linspace(-1.0, 1.0, 7)
    exe = llvm_backend.LLVMBackend(tier_up=policy).compile(
        function_of(lambda a: b.add(a, 1.0), [x]), spent_s=3.0
    )
    for _ in range(5):  # calls 3, 4, 5: over the bound; asked again at call 6
        exe([x])
    assert held.calls == 0
    exe.spent_s += 1.0  # as if its calls had taken another second
    exe([x])  # call 6: 1 s <= 25 % of 4 s
    assert held.calls == 1 and exe._fast_path() is not None
    assert exe([x])[0].tobytes() == (x + 1.0).tobytes()


@pytest.mark.parametrize("policy", [TierUpPolicy(), BACKGROUND])
def test_a_failed_tier_up_is_a_warning_and_calls_go_on(
    policy: TierUpPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(kernels: list, keepalive: object, name: str) -> Any:
        raise RuntimeError("no wrappers today")

    monkeypatch.setattr(plan_executable, "compile_wrappers", broken)
    x = np.linspace(-1.0, 1.0, 6)
    exe = llvm_backend.LLVMBackend(tier_up=policy).compile(
        function_of(lambda a: b.mul(a, 2.0), [x])
    )
    plain = exe.hot
    with pytest.warns(UserWarning, match="no wrappers today"):
        for _ in range(3):
            np.testing.assert_array_equal(exe([x])[0], x * 2.0)
        for thread in threading.enumerate():  # the background one, if any, has finished
            if thread.name.startswith("tracegrad-tierup-"):
                thread.join(WAIT_S)
    for _ in range(5):
        np.testing.assert_array_equal(exe([x])[0], x * 2.0)
    assert exe.hot is plain


def test_kernels_with_equal_argument_specs_share_one_wrapper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tier-up compiles one wrapper per distinct argument spec; each builtin calls its own
    kernel (the address it carries), so every kernel still computes its own result."""
    compiled: list[str] = []
    real = engine.compile_module

    def counting(text: str, **kwargs: Any) -> Any:
        compiled.append(kwargs["name_hint"])
        return real(text, **kwargs)

    monkeypatch.setattr(engine, "compile_module", counting)
    # tier up at call 3 whatever this machine's load made the function cost so far: the
    # default bound may defer it past the calls below (it failed so under a loaded suite)
    always = TierUpPolicy(floor_s=1e9, inline_below_s=0.0)
    monkeypatch.setattr(get_backend("llvm"), "tier_up", always)

    def chain(x: Any) -> Any:
        for k in range(STEPS):  # long enough for several kernels
            x = x * x * (0.5 + 0.001 * k) + 0.25 * x
        return np.sum(x)

    g = tracegrad.jit(tracegrad.grad(chain), backend="llvm")
    x = np.linspace(-1.0, 1.0, 7)
    first = g(x)
    exe = g.lower(x).executable
    kernels = [r.kernel for r in exe.runs if isinstance(r, plan_runs.KernelRun)]
    keys = {wrapper_key(k) for k in kernels}
    assert len(kernels) > len(keys)  # some kernels share a wrapper
    done = _tiered_event(exe)
    outs = [g(x) for _ in range(4)]
    assert done.wait(WAIT_S)
    outs += [g(x) for _ in range(3)]
    assert compiled.count(f"{exe.function.name}.wrappers") <= len(keys)
    by_key: dict[str, list[Any]] = {}
    for r in exe.runs:
        if isinstance(r, plan_runs.KernelRun):
            by_key.setdefault(wrapper_key(r.kernel), []).append(r.native)
    shared = [natives for natives in by_key.values() if len(natives) > 1]
    assert shared
    for natives in shared:  # one wrapper's code, each builtin with its own kernel address
        assert len({id(n.__module__.module) for n in natives}) == 1
        assert len({n.__self__ for n in natives}) == len(natives)
    t, d = x.copy(), np.ones_like(x)
    for k in range(STEPS):  # the derivative by the chain rule, in numpy
        d = d * (2.0 * (0.5 + 0.001 * k) * t + 0.25)
        t = t * t * (0.5 + 0.001 * k) + 0.25 * t
    for out in [first, *outs]:
        np.testing.assert_allclose(out, d, rtol=1e-12, atol=1e-15)
        assert out.tobytes() == first.tobytes()
