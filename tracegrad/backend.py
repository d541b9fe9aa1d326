"""The backend interface: a Backend compiles an optimized Function into an Executable that
maps concrete input arrays to fresh output arrays. ``interpret`` runs the reference
interpreter; ``llvm`` (tracegrad.llvm) emits machine code.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from tracegrad.ir.interpreter import evaluate
from tracegrad.ir.value import Function


class Executable(Protocol):
    def __call__(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]: ...


class Backend(Protocol):
    name: str

    def compile(self, function: Function) -> Executable: ...


def fresh(out: np.ndarray, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """``out`` itself if it owns writable memory no input shares, else a copy."""
    if out.flags.owndata and out.flags.writeable and not any(out is a for a in inputs):
        return out
    return np.array(out, copy=True)


class _InterpretedFunction:
    def __init__(self, function: Function) -> None:
        self.function = function

    def __call__(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        outs = evaluate(self.function, arrays)
        return [fresh(o, arrays) for o in outs]


class InterpretBackend:
    """Runs Functions with the numpy reference interpreter (the oracle)."""

    name = "interpret"

    def compile(self, function: Function) -> Executable:
        return _InterpretedFunction(function)


_BACKENDS: dict[str, Backend] = {}


def get_backend(name: str | None = None) -> Backend:
    """The named backend; by default ``$TRACEGRAD_BACKEND`` or the best available."""
    name = name or os.environ.get("TRACEGRAD_BACKEND") or _default_name()
    if name not in _BACKENDS:
        if name == "interpret":
            _BACKENDS[name] = InterpretBackend()
        elif name == "llvm":
            from tracegrad.llvm.backend import LLVMBackend  # type: ignore[import-not-found]

            _BACKENDS[name] = LLVMBackend()
        else:
            raise ValueError(f"unknown backend {name!r} (choose 'llvm' or 'interpret')")
    return _BACKENDS[name]


def _default_name() -> str:
    try:
        import tracegrad.llvm.backend  # noqa: F401
    except ImportError:  # llvmlite missing or broken: the interpreter still runs everything
        return "interpret"
    return "llvm"
