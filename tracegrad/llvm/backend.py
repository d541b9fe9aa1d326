"""The LLVM backend: ``LLVMBackend().compile(function)`` returns an executable.

Two kinds: a Function whose dims are all static or bound by its parameters compiles once
into a :class:`~tracegrad.llvm.plan.executable.PlanExecutable` (kernels in one module, run
in order; the plan room); one with derived symbolic dims (a concatenation's length) is a
:class:`SymbolicExecutable`, which specializes a PlanExecutable per input shapes.

>>> import numpy as np
>>> from tracegrad.ir import build as b
>>> from tracegrad.ir.value import param, Function
>>> from tracegrad.ir.types import TensorType
>>> from tracegrad.ir.dtypes import DType
>>> x = param(0, TensorType(DType.FLOAT64, (3,)), "x")
>>> run = LLVMBackend().compile(Function("f", (x,), (b.mul(x, x),)))
>>> run([np.array([1.0, 2.0, 3.0])])[0].tolist()
[1.0, 4.0, 9.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.ir.dim_classes import canonical_dims
from tracegrad.ir.executable import HotPaths, fresh, plain_paths
from tracegrad.ir.interpreter import evaluate
from tracegrad.ir.prims import HIGHER_ORDER
from tracegrad.ir.types import Dim
from tracegrad.ir.value import Function, Value
from tracegrad.llvm.codegen import concretize
from tracegrad.llvm.machine import engine as engine
from tracegrad.llvm.plan.executable import TIER_UP_CALLS as TIER_UP_CALLS
from tracegrad.llvm.plan.executable import PlanExecutable, build_executable
from tracegrad.llvm.plan.tierup import DEFAULT_POLICY, TierUpPolicy

__all__ = ["LLVMBackend", "PlanExecutable", "SymbolicExecutable", "build_executable"]


class LLVMBackend:
    """Compiles Functions to machine code (see the module docstring)."""

    name = "llvm"

    def __init__(
        self, opt_level: int = 3, threads: bool = True, tier_up: TierUpPolicy = DEFAULT_POLICY
    ) -> None:
        self.opt_level = opt_level
        self.threads = threads
        self.tier_up = tier_up

    def compile(
        self, function: Function, *, spent_s: float = 0.0
    ) -> PlanExecutable | SymbolicExecutable:
        """``spent_s``: the caller's cost so far (tracing, optimizing), for the tier-up bound."""
        if all(_concrete(v) for v in function.order) or _param_dims_only(function):
            return PlanExecutable(
                function, self.opt_level, self.threads, spent_s=spent_s, tier_up=self.tier_up
            )
        return SymbolicExecutable(function, self)


def _concrete(v: Value) -> bool:
    return all(isinstance(d, int) for d in v.shape)


def _param_dims_only(function: Function) -> bool:
    """Every symbolic dim is one of a parameter's, so a call binds them all from its
    arguments: the Function compiles once with runtime extents. (Derived dims, such as a
    concatenation's, are re-inferred per concrete shape by SymbolicExecutable.)"""
    bound = {d for p in function.params for d in p.shape if isinstance(d, Dim)}

    def known(v: Value) -> bool:
        return all(isinstance(d, int) or d in bound for d in v.shape)

    for v in function.order:
        if v.op in HIGHER_ORDER:
            # a recording while loop's buffers have an extent only its run knows; they are
            # read by other loops only (checked below), which take extents from the arrays
            continue
        if not known(v) or not all(known(o) for o in v.operands):
            return False
    return _dims_independent(function)


def _dims_independent(function: Function) -> bool:
    """No op assumes two different dims (or a dim and a length) are equal. The IR types
    ``f64[n] + f64[k]`` as ``f64[n]`` and leaves the check to whoever binds shapes; a
    runtime-extent kernel would iterate over n and read the k-long operand past its end.
    Such Functions are specialized per shape instead (concretize re-checks the types).
    tracegrad.function merges these dims before compiling, so its graphs always pass."""
    rename = canonical_dims(function.params, function.outputs)
    return all(rename(d) == d for p in function.params for d in p.shape)


class SymbolicExecutable:
    """A Function with symbolic dims that are not all bound by its parameters (e.g. the
    length of a concatenation): specialized and compiled per concrete input shapes at
    first call (cached). Functions whose dims all come from parameters compile once, with
    runtime extents (PlanExecutable)."""

    def __init__(self, function: Function, backend: LLVMBackend) -> None:
        self.function = function
        self.backend = backend
        self._cache: dict[tuple, PlanExecutable] = {}
        self.hot = plain_paths(self)  # the per-shape plans tier up on their own

    def on_tier_up(self, callback: Callable[[HotPaths], None]) -> None:
        """Never tiers up as a whole: the callback is never called."""

    @property
    def plan(self) -> None:
        return None  # one per input shape: see each specialization's

    @property
    def llvm_ir(self) -> str:
        return "\n".join(e.llvm_ir for e in self._cache.values()) or "; not specialized yet"

    @property
    def asm(self) -> str:
        return "\n".join(e.asm for e in self._cache.values()) or "; not specialized yet"

    def __call__(self, arrays: Sequence[Any]) -> list[np.ndarray]:
        arrays = [
            np.asarray(a, dtype=p.dtype.numpy)
            for a, p in zip(arrays, self.function.params, strict=False)
        ]
        if len(arrays) != len(self.function.params):
            n = len(self.function.params)
            raise TypeError(f"{self.function.name} takes {n} arguments, got {len(arrays)}")
        key = tuple(a.shape for a in arrays)
        exe = self._cache.get(key)
        if exe is None:
            try:
                concrete = concretize(self.function, key)
            except (KeyError, ValueError, TypeError):
                return [fresh(o, arrays) for o in evaluate(self.function, arrays)]
            if not (all(_concrete(v) for v in concrete.order) or _param_dims_only(concrete)):
                # extents only a run knows (a while loop's history, read by other ops)
                return [fresh(o, arrays) for o in evaluate(self.function, arrays)]
            exe = self.backend.compile(concrete)  # type: ignore[assignment]
            self._cache[key] = exe  # type: ignore[assignment]
        return exe(arrays)

    def fast_call(self, *arrays: Any) -> list[np.ndarray]:
        return self(arrays)
