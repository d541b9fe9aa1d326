"""The backend interface: a Backend compiles an optimized Function into an Executable (the
contract in :mod:`tracegrad.ir.executable`) that maps concrete input arrays to fresh output
arrays. ``interpret`` runs the reference interpreter; ``llvm`` (tracegrad.llvm) emits machine
code. This module does not import ``llvm/``: the package registers it (``register_backend``)
when ``tracegrad`` is imported, on the importing thread. Importing it lazily, at the first
compile, would let a ``fork()`` in one thread land while another thread holds the import
lock of ``tracegrad.llvm.backend``, and the child would wait for that lock forever.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from tracegrad.ir.executable import Executable, HotPaths, fresh, plain_paths
from tracegrad.ir.interpreter import evaluate
from tracegrad.ir.value import Function

__all__ = [
    "Backend",
    "Executable",
    "HotPaths",
    "InterpretBackend",
    "fresh",
    "get_backend",
    "register_backend",
]


class Backend(Protocol):
    name: str

    def compile(self, function: Function, *, spent_s: float = 0.0) -> Executable:
        """``spent_s``: what the caller already spent on this function (tracing and
        optimizing it), for the backend's tier-up bound."""
        ...


class _InterpretedFunction:
    def __init__(self, function: Function) -> None:
        self.function = function
        self.hot = plain_paths(self)

    def __call__(self, arrays: Sequence[Any]) -> list[np.ndarray]:
        outs = evaluate(self.function, arrays)
        return [fresh(o, arrays) for o in outs]

    def on_tier_up(self, callback: Callable[[HotPaths], None]) -> None:
        """Never tiers up: the callback is never called."""

    @property
    def plan(self) -> None:
        return None  # the interpreter runs the Function as it is

    @property
    def llvm_ir(self) -> str:
        return "(the interpret backend has no LLVM IR)"

    @property
    def asm(self) -> str:
        return "(the interpret backend has no assembly)"


class InterpretBackend:
    """Runs Functions with the numpy reference interpreter (the oracle)."""

    name = "interpret"

    def compile(self, function: Function, *, spent_s: float = 0.0) -> Executable:
        return _InterpretedFunction(function)


_BACKENDS: dict[str, Backend] = {}


_FACTORIES: dict[str, Callable[[], Backend]] = {}


def register_backend(name: str, factory: Callable[[], Backend]) -> None:
    """Make ``get_backend(name)`` build its backend with ``factory`` (on first use)."""
    _FACTORIES[name] = factory
    _BACKENDS.pop(name, None)


def get_backend(name: str | None = None) -> Backend:
    """The named backend; by default ``$TRACEGRAD_BACKEND`` or ``llvm`` (llvmlite is a
    dependency: there is no fallback to hide a broken install)."""
    name = name or os.environ.get("TRACEGRAD_BACKEND") or "llvm"
    if name not in _BACKENDS:
        if name == "interpret":
            _BACKENDS[name] = InterpretBackend()
        elif name in _FACTORIES:
            _BACKENDS[name] = _FACTORIES[name]()
        else:
            raise ValueError(f"unknown backend {name!r} (choose 'llvm' or 'interpret')")
    return _BACKENDS[name]
