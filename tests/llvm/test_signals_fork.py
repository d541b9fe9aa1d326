"""Ctrl-C during a threaded kernel and fork() during a compile (issue #12, items 2 and 4).

Both bugs are races, so each test runs many trials with real signals and forks inside one
subprocess (a "trial server"): the server compiles once, then forks a child per trial,
which costs milliseconds instead of the half second a fresh interpreter would. The server
prints one outcome per trial as JSON; a trial passes with exit code 130 (the child caught
KeyboardInterrupt) or 0 (the forked child compiled and ran), never with a signal or a hang.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or not hasattr(signal, "SIGINT"), reason="needs fork and SIGINT"
)

# Helpers shared by both servers: fork a child, wait for it with a deadline.
_SERVER_COMMON = """
    import json, os, signal, sys, time
    from collections import Counter

    def reap(pid, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return str(os.waitstatus_to_exitcode(status))
            time.sleep(0.002)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return "hang"
"""

# A large elementwise kernel split over 8 threads (more threads than the CPUs of a small
# machine, so the caller often finishes its chunk first and waits for the workers: the
# window of the bug). Outputs are not recycled (TRACEGRAD_OUTPUT_POOL_MB=0), so an output
# freed while a worker still writes into it is unmapped and the write crashes at once.
_INTERRUPT_SERVER = """
    import random
    import numpy as np, tracegrad

    f = tracegrad.jit(lambda x: np.sin(x) * 2.0 + 1.0, backend="llvm")
    x = np.linspace(0.0, 1.0, 1 << 22)
    expected = f(x)

    def child(ready_fd):
        code = 1
        try:
            try:
                f(x)
                os.write(ready_fd, b"r")
                while True:
                    f(x)
            except KeyboardInterrupt:
                code = 130  # the outputs of the interrupted call are freed by now
            time.sleep(0.05)  # a worker still writing into them would crash here
            if not np.array_equal(f(x), expected):  # the pool still works
                code = 3
        finally:
            os._exit(code)

    def trial():
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            child(w)
        os.close(w)
        os.read(r, 1)
        os.close(r)
        time.sleep(random.uniform(0.0, 0.04))
        os.kill(pid, signal.SIGINT)
        return reap(pid, 10.0)

    print(json.dumps([trial() for _ in range(int(sys.argv[1]))]))
"""

# One thread compiles new functions without pause (no disk cache: every one goes through
# LLVM); the main thread forks, and each child compiles and runs a function of its own.
_FORK_SERVER = """
    import itertools, threading
    import numpy as np, tracegrad

    stop = threading.Event()

    def compile_forever():
        for k in itertools.count():
            if stop.is_set():
                return
            g = tracegrad.jit(lambda x, k=float(k): np.exp(x) * k + 1.5, backend="llvm")
            g(np.arange(3.0))

    def child(k):
        code = 1
        try:
            h = tracegrad.jit(lambda x: np.tanh(x) - k, backend="llvm")
            code = 0 if np.allclose(h(np.arange(4.0)), np.tanh(np.arange(4.0)) - k) else 3
        finally:
            os._exit(code)

    def trial(k):
        pid = os.fork()
        if pid == 0:
            child(k)
        return reap(pid, 20.0)

    compiler = threading.Thread(target=compile_forever, daemon=True)
    compiler.start()
    time.sleep(0.3)  # the thread is compiling by now
    outcomes = []
    for k in range(int(sys.argv[1])):
        outcomes.append(trial(k / 8))
        if outcomes[-1] == "hang":
            break  # the old bug: every further trial would hang too, 20 s each
        time.sleep(0.01 * (k % 5))  # fork at varied points of the compile loop
    stop.set()
    print(json.dumps(outcomes))
"""


def _run_server(body: str, trials: int, env: dict[str, str], timeout: float) -> list[str]:
    code = textwrap.dedent(_SERVER_COMMON) + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", code, str(trials)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, PYTHONPATH=str(ROOT), **env),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_ctrl_c_during_a_threaded_kernel_never_crashes(tmp_path: Path) -> None:
    env = {
        "TRACEGRAD_CACHE_DIR": str(tmp_path / "cache"),
        "TRACEGRAD_NUM_THREADS": "8",
        "TRACEGRAD_OUTPUT_POOL_MB": "0",
    }
    outcomes = _run_server(_INTERRUPT_SERVER, 30, env, timeout=120)
    assert len(outcomes) == 30
    assert Counter(outcomes) == {"130": 30}, Counter(outcomes)


def test_fork_while_another_thread_compiles(tmp_path: Path) -> None:
    env = {"TRACEGRAD_CACHE": "0", "TRACEGRAD_CACHE_DIR": str(tmp_path / "cache")}
    outcomes = _run_server(_FORK_SERVER, 12, env, timeout=120)
    assert Counter(outcomes) == {"0": 12}, Counter(outcomes)


# A thread is inside a jitted function's trace (its Python body blocks there, holding the
# specialization's lock) when the main thread forks; the child calls the same function
# with the same signature. Without at-fork handling the child waits for a lock that
# belongs to a thread it does not have.
_FORK_MID_TRACE = """
    import threading
    import numpy as np, tracegrad
    from tracegrad import staging
    from tracegrad.ir import rewrite_engine, value
    from tracegrad.ir.passes import driver
    from tracegrad.tensor import variables
    from tracegrad import _pickling

    inside, release = threading.Event(), threading.Event()

    def body(x):
        if threading.current_thread() is not threading.main_thread():
            inside.set()
            release.wait()
        return np.cos(x) + 1.0

    f = tracegrad.jit(body, backend="llvm")
    module_locks = [value.Value._lock, variables._names_lock, staging._CACHES_LOCK,
                    rewrite_engine._BITS_LOCK, driver._GC_LOCK, _pickling._LOCK]

    def hold_all():
        t = threading.Thread(target=f, args=(np.arange(3.0),), daemon=True)
        t.start()
        inside.wait()  # the thread holds f's lock for this signature now
        for lock in module_locks:  # and, as if other threads were busy, every module lock
            lock.acquire()

    def child():
        code = 1
        try:
            held = [i for i, lock in enumerate(module_locks) if lock.locked()]
            ok = np.allclose(f(np.arange(3.0)), np.cos(np.arange(3.0)) + 1.0)
            g = tracegrad.grad(lambda x: np.sum(np.sin(x)))
            ok = ok and np.allclose(g(np.arange(3.0)), np.cos(np.arange(3.0)))
            code = 0 if ok and not held else 3
        finally:
            os._exit(code)

    hold_all()
    pid = os.fork()
    if pid == 0:
        child()
    outcome = reap(pid, 20.0)
    for lock in module_locks:
        lock.release()
    release.set()
    print(json.dumps([outcome]))
"""


def test_fork_while_another_thread_holds_tracing_and_module_locks(tmp_path: Path) -> None:
    env = {"TRACEGRAD_CACHE_DIR": str(tmp_path / "cache")}
    assert _run_server(_FORK_MID_TRACE, 1, env, timeout=60) == ["0"]


def test_the_backend_is_imported_with_the_package() -> None:
    """A fork while another thread imports a module leaves the child waiting on that
    module's import lock forever (seen: a child hung in get_backend's import of
    tracegrad.llvm.backend while the parent's compiling thread was importing it). So the
    backend is imported by ``import tracegrad``, on the importing thread, never lazily."""
    code = "import sys, tracegrad; print('tracegrad.llvm.backend' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        cwd=ROOT,
    )
    assert done.stdout.strip() == "True", done.stderr[-2000:]
