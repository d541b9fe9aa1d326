"""The executable plan: a Function's kernels compiled into one module, plus numpy steps,
run in order (:class:`PlanExecutable`, what ``LLVMBackend.compile`` returns when every
dim is static or bound by a parameter).

Pipeline: plan kernels (:mod:`tracegrad.llvm.plan.kernels`), emit one LLVM module holding
every kernel (:mod:`tracegrad.llvm.plan.module`), compile it once through the engine
(memory and disk cache), then run the plan: allocate outputs (``np.empty``, or a recycled
buffer for large ones: :mod:`tracegrad.llvm.runtime.pool`) and call the kernels in order
through ctypes, and after tier-up (:mod:`tracegrad.llvm.plan.tierup`) through their
METH_FASTCALL wrappers. Ops without a lowering run their numpy reference implementation
inside the same plan, so the result is never wrong, only slower.

Inputs are converted like the interpreter does (``np.asarray(x, dtype)``); non-contiguous,
negative-stride or byte-swapped inputs are copied to C-contiguous native arrays in the
Python call path before any native code sees them. Outputs are always fresh arrays.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.ir import forksafe
from tracegrad.ir.executable import HotPaths, fresh, plain_paths
from tracegrad.ir.ops import Op
from tracegrad.ir.shapes import binder_of
from tracegrad.ir.types import Dim
from tracegrad.ir.value import Function, Value
from tracegrad.llvm.callpath import wrapper as callpath
from tracegrad.llvm.codegen import KernelText
from tracegrad.llvm.machine import engine
from tracegrad.llvm.plan import entry
from tracegrad.llvm.plan.kernels import (
    InterpretStep,
    KernelGroup,
    LapackStep,
    MatmulStep,
    plan,
)
from tracegrad.llvm.plan.lapack import lapack_run
from tracegrad.llvm.plan.loops import native_loop
from tracegrad.llvm.plan.module import build_module, lower_groups
from tracegrad.llvm.plan.runs import (
    InterpretRun,
    KernelRun,
    MatmulRun,
    OpRun,
    ReshapeRun,
    fast_closure,
    lone_op,
    lone_reshape,
    symbolic_fast_closure,
)
from tracegrad.llvm.plan.tierup import (
    DEFAULT_POLICY,
    Mode,
    TierUpPolicy,
    compile_wrappers,
    run_guarded,
    run_in_background,
    wrapper_key,
)

__all__ = ["LARGE_MODULE_OPS", "TIER_UP_CALLS", "PlanExecutable", "build_executable"]

# Above this many ops in one module (unrolled loops of 10^4+ steps) LLVM's O3 pipeline takes
# seconds; such modules skip the IR pipeline (scalar code, still far faster than numpy per op).
LARGE_MODULE_OPS = 4000
TIER_UP_CALLS = DEFAULT_POLICY.after_calls  # the earliest call that may tier up


class PlanExecutable:
    """Compiled kernels plus numpy steps, run in order; see the module docstring.

    ``llvm_ir`` (optimized) and ``asm`` show what runs; ``source_ir`` is the generated IR;
    ``steps_summary`` lists the steps; ``fallbacks`` says which groups could not be lowered.
    """

    def __init__(
        self,
        function: Function,
        opt_level: int = 3,
        use_threads: bool = True,
        *,
        spent_s: float = 0.0,
        tier_up: TierUpPolicy = DEFAULT_POLICY,
    ) -> None:
        started = time.perf_counter()
        self.function = function
        self.use_threads = use_threads
        self.plan = plan(function)
        kernels, self.fallbacks = lower_groups(self.plan)
        self.module: engine.CompiledModule | None = None
        self.source_ir = "; no native kernels"
        slots = self._assign_slots()
        symbols: dict[int, str] = {}
        if kernels:
            mt = build_module(kernels)
            self.source_ir = mt.text
            size = sum(st.ops for st in self.plan.steps if isinstance(st, KernelGroup))
            self.module = engine.compile_module(
                mt.text,
                opt_level=opt_level if size <= LARGE_MODULE_OPS else 0,
                name_hint=function.name,
                exports=[mt.symbol(k) for k in kernels],
            )
            symbols = {id(k): mt.symbol(k) for k in kernels}
        # ``runs`` and ``hot`` change once, at tier-up, each in one assignment
        self.runs = self._build_runs(kernels, symbols, slots)
        self.hot = plain_paths(self)
        self.tier_up = tier_up
        self._calls = 0
        self._next_check = tier_up.after_calls
        self._tiering = False  # set once, when a tier-up starts (under _tier_lock)
        self._tiered = False  # set once, when the new hot paths are in
        self._tier_lock = forksafe.reset_in_child(threading.Lock())
        self._on_tier_up: list[Callable[[HotPaths], None]] = []
        self.spent_s = spent_s + time.perf_counter() - started  # grows with each call

    # -- tier-up (see tracegrad.llvm.plan.tierup) ----------------------------------------------

    def on_tier_up(self, callback: Callable[[HotPaths], None]) -> None:
        """Call ``callback(new hot paths)`` once they are in (now, if they already are);
        it may run on a background thread."""
        with self._tier_lock:
            if not self._tiered:
                self._on_tier_up.append(callback)
                return
        callback(self.hot)

    def _count_call(self, seconds: float) -> None:
        self._calls += 1
        self.spent_s += seconds
        if self._calls < self._next_check:
            return
        kernels = {wrapper_key(r.kernel) for r in self.runs if isinstance(r, KernelRun)}
        mode = self.tier_up.decide(self._calls, self.spent_s, len(kernels))
        if mode is Mode.WAIT:
            self._next_check = self.tier_up.next_check(self._calls)
            return
        with self._tier_lock:
            if self._tiering:
                return
            self._tiering = True
        if mode is Mode.INLINE:
            run_guarded(self._tier_up, self.function.name)
        else:
            run_in_background(self._tier_up, self.function.name)

    def _tier_up(self) -> None:
        """Compile the fastcall wrappers of the kernels (see tierup.compile_wrappers), then
        switch the runs and the hot paths to them; a call in flight finishes on what it
        read."""
        kernel_runs = [r for r in self.runs if isinstance(r, KernelRun)]
        natives: dict[int, Any] = {}
        if kernel_runs and callpath.layout_selftest():
            assert self.module is not None  # kernels were compiled
            pairs = [(r.kernel, self.module.address(r.symbol)) for r in kernel_runs]
            built = compile_wrappers(pairs, self.module, self.function.name)
            natives = {id(r): n for r, n in zip(kernel_runs, built, strict=True)}
        self.runs = [_with_native(r, natives[id(r)]) if id(r) in natives else r for r in self.runs]
        fast = self._fast_path()
        hot = HotPaths(
            fast_closure(fast, self) if fast is not None else self.hot.fast_call,
            entry.build_entry(self),  # the whole-call entry (tracegrad.jit)
            self._symbolic_fast(),
        )
        with self._tier_lock:
            self.hot = hot
            self._tiered = True
            callbacks, self._on_tier_up = self._on_tier_up, []
        for callback in callbacks:
            callback(hot)

    # -- construction -----------------------------------------------------------------------

    def _assign_slots(self) -> dict[int, int]:
        slots: dict[int, int] = {}
        self.template: list[Any] = []
        self.n_params = len(self.plan.function.params)

        def slot(v: Value) -> int:
            if id(v) not in slots:
                slots[id(v)] = len(self.template)
                self.template.append(v.attr("data").array if v.op is Op.CONST else None)
            return slots[id(v)]

        for p in self.plan.function.params:
            slot(p)
        self._slot = slot
        return slots

    def _new_slot(self) -> int:
        """A slot holding no Value (None at the start of every call)."""
        self.template.append(None)
        return len(self.template) - 1

    def _build_runs(self, kernels: list[KernelText], symbols: dict, slots: dict) -> list:
        runs: list[Any] = []
        lu_slots: dict[int, int] = {}  # a matrix's shared LU factorization (plan.lapack)
        by_roots = {tuple(id(r) for r in k.outputs): k for k in kernels}
        for step in self.plan.steps:
            if isinstance(step, KernelGroup):
                kt = by_roots[tuple(id(r) for r in step.roots)]
                for v in kt.inputs + kt.outputs:
                    self._slot(v)
                runs.append(KernelRun(kt, symbols[id(kt)], self.module, slots))  # type: ignore[arg-type]
            elif isinstance(step, InterpretStep):
                for v in step.function.params + step.function.outputs:
                    self._slot(v)
                lone = lone_reshape(step.function)
                native = None if lone else native_loop(step.function, slots)
                if native is not None:
                    runs.append(native)
                elif lone:
                    runs.append(ReshapeRun(step.function, slots))
                else:
                    direct = lone_op(step.function)
                    runs.append((OpRun if direct else InterpretRun)(step.function, slots))
            elif isinstance(step, MatmulStep):
                operands = [
                    o.operands[0] if perm is not None else o
                    for o, perm in zip(step.value.operands, step.views, strict=True)
                ]
                for v in (*operands, step.value):
                    self._slot(v)
                runs.append(MatmulRun(step.value, slots, step.views))
            elif isinstance(step, LapackStep):
                for v in (step.matrix, *step.value.operands[1:], step.value):
                    self._slot(v)
                runs.append(lapack_run(step, slots, lu_slots, self._new_slot))
        self.out_slots = [self._slot(o) for o in self.plan.function.outputs]
        return runs

    def _symbolic_fast(self) -> Any:
        """For ``tracegrad.function``: the one-kernel runtime-extent plan's direct call."""
        if len(self.runs) != 1 or not isinstance(self.runs[0], KernelRun):
            return None
        run = self.runs[0]
        if not run.symbolic or run.native is None or run.empty_check:
            return None
        # every parameter read (so the wrapper checks every shape), in any order
        if sorted(run.in_slots) != list(range(self.n_params)) or run.out_slots != self.out_slots:
            return None
        if len(set(self.out_slots)) != len(self.out_slots):
            return None
        return symbolic_fast_closure(run, self.plan.function.params)

    def _fast_path(self) -> Any:
        """Single kernel reading exactly the params and writing exactly the outputs."""
        if len(self.runs) != 1 or not isinstance(self.runs[0], KernelRun):
            return None
        run = self.runs[0]
        if run.symbolic:
            return None  # the fast closures allocate outputs of one fixed shape
        if run.in_slots != list(range(self.n_params)) or run.out_slots != self.out_slots:
            return None
        if run.native is None or run.threaded or len(set(self.out_slots)) != len(self.out_slots):
            return None
        return run

    # -- calling ------------------------------------------------------------------------------

    @property
    def llvm_ir(self) -> str:
        return self.module.llvm_ir if self.module else self.source_ir

    @property
    def asm(self) -> str:
        return self.module.asm if self.module else "; no native kernels"

    def fast_call(self, *arrays: Any) -> list[np.ndarray]:
        """Same as ``self(arrays)``; after tier-up a closure that calls the native wrapper
        directly (``self.hot.fast_call``, see ``fast_closure``)."""
        return self.hot.fast_call(*arrays)

    def __call__(self, arrays: Sequence[Any]) -> list[np.ndarray]:
        if self._tiering:
            return self._call(arrays)
        started = time.perf_counter()
        outs = self._call(arrays)
        self._count_call(time.perf_counter() - started)
        return outs

    def _call(self, arrays: Sequence[Any]) -> list[np.ndarray]:
        params = self.plan.function.params
        if len(arrays) != len(params):
            raise TypeError(
                f"{self.function.name} takes {len(params)} arguments, got {len(arrays)}"
            )
        env = list(self.template)
        dims: dict[Dim, int] = {}
        for i, (p, a) in enumerate(zip(params, arrays, strict=True)):
            env[i] = _converted(p, a)
        if any(env[i].shape != p.shape for i, p in enumerate(params)):
            dims = binder_of(self.plan.function).bind([env[i].shape for i in range(len(params))])
        runs = self.runs  # read once: tier-up may swap the list during this call
        if any(isinstance(r, InterpretRun) for r in runs):
            with np.errstate(all="ignore"):
                self._run_all(runs, env, dims)
        else:
            self._run_all(runs, env, dims)
        return self._outputs(runs, env, arrays)

    def _run_all(self, runs: list, env: list, dims: dict) -> None:
        for r in runs:
            r.run(env, self.use_threads, dims)

    def _outputs(self, runs: list, env: list, inputs: Sequence[Any]) -> list[np.ndarray]:
        produced = {id(env[s]) for r in runs if isinstance(r, KernelRun) for s in r.out_slots}
        result: list[np.ndarray] = []
        seen: set[int] = set()
        for s in self.out_slots:
            out = env[s]
            if id(out) in seen or id(out) not in produced:
                out = np.array(out, copy=True) if id(out) in seen else fresh(out, inputs)
            seen.add(id(out))
            result.append(out)
        return result


def _converted(p: Value, a: Any) -> np.ndarray:
    """Convert like the interpreter and make the array C-contiguous (a copy for strided,
    negative-stride or misaligned inputs); shapes are checked after, all at once."""
    array = np.asarray(a, dtype=p.dtype.numpy)
    if not (array.flags.c_contiguous and array.flags.aligned) or type(array) is not np.ndarray:
        array = np.array(array, order="C", copy=True, subok=False)
    return array


def _with_native(run: KernelRun, native: Any) -> KernelRun:
    """A copy of ``run`` calling ``native`` (the original may be in use by a call)."""
    new = copy.copy(run)
    new.native = native
    return new


def build_executable(
    function: Function, opt_level: int = 3, use_threads: bool = True
) -> PlanExecutable:
    """Plan, lower and compile ``function`` (all shapes concrete)."""
    return PlanExecutable(function, opt_level, use_threads)
